"""One interface to the service state, whatever database holds it.

Repositories write one SQL text: ``?`` placeholders, ``INSERT ... ON CONFLICT``,
``RETURNING``, portable DDL with ``INTEGER``/``REAL``/``TEXT`` columns. The few bits
that differ between SQLite and PostgreSQL are pure functions of a :class:`Dialect`
(placeholders, column types, identity keys, append-only triggers, listing columns),
so no repository branches on the backend.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

__all__ = ["POSTGRES", "SQLITE", "Dialect", "Result", "Row", "ServiceState", "configured_url", "is_postgres_url"]


class Row(tuple):
    """A result row read by position (``a, b = row``) or by column name (``row["a"]``, ``dict(row)``)."""

    _names: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], names: Sequence[str]) -> "Row":
        row = super().__new__(cls, values)
        row._names = tuple(names)
        return row

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            try:
                key = self._names.index(key)
            except ValueError:
                raise IndexError(f"no column {key}") from None
        return super().__getitem__(key)

    def keys(self) -> tuple[str, ...]:
        return self._names


class Result:
    """The rows of one statement, read eagerly so its connection can go back to the pool."""

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> Iterator:
        return iter(self.fetchall())


def _outside_literals(sql: str, fn) -> str:
    """Apply ``fn`` to the parts of ``sql`` outside single-quoted literals."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str            # what ``?`` becomes
    real: str                   # an 8-byte float column (PostgreSQL's REAL is 4 bytes)
    integer: str                # a 64-bit integer column
    identity: str               # an auto-numbered primary key column

    def sql(self, text: str) -> str:
        """A statement written with ``?`` placeholders, in this dialect."""
        if self.placeholder == "?":
            return text
        return _outside_literals(text.replace("%", "%%"), lambda p: p.replace("?", self.placeholder))

    def ddl(self, text: str) -> str:
        """Portable DDL (``INTEGER PRIMARY KEY AUTOINCREMENT``, ``INTEGER``, ``REAL``) in this dialect."""
        def swap(part: str) -> str:
            part = re.sub(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", "\x00", part)
            part = re.sub(r"\bINTEGER\b", self.integer, part)
            part = re.sub(r"\bREAL\b", self.real, part)
            return part.replace("\x00", self.identity)
        return _outside_literals(text, swap)

    def append_only(self, table: str) -> list[str]:
        """Statements that make ``table`` refuse every UPDATE and DELETE, naming it in the error."""
        message = f"{table} rows are append-only"
        if self.name == "sqlite":
            return [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END" for op in ("UPDATE", "DELETE")]
        return ["CREATE OR REPLACE FUNCTION linkage_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END $$",
                f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION linkage_append_only()"]

    def columns_sql(self, table: str) -> tuple[str, tuple]:
        """A query whose first column is each column name of ``table``."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(f"not a table name: {table!r}")
        if self.name == "sqlite":
            return f"SELECT name FROM pragma_table_info('{table}')", ()
        return ("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ?", (table,))

    def copy_insert(self, table: str, cols: Sequence[str]) -> str:
        """An INSERT that keeps the rows' own numbers, even in an identity column."""
        override = " OVERRIDING SYSTEM VALUE" if self.name == "postgresql" else ""
        return f"INSERT INTO {table} ({', '.join(cols)}){override} VALUES ({', '.join('?' * len(cols))})"

    def after_copy(self, table: str, cols: Sequence[str]) -> list[tuple[str, tuple]]:
        """Statements that move an identity column's counter past copied numbers."""
        if self.name != "postgresql":
            return []       # SQLite's AUTOINCREMENT follows the largest key by itself
        return [("SELECT setval(pg_get_serial_sequence(?, ?), max_id) FROM "
                 f"(SELECT max({c}) AS max_id FROM {table}) m WHERE max_id IS NOT NULL", (table, c))
                for c in cols if (table, c) in _IDENTITY]

    def rename_table(self, old: str, new: str) -> str:
        return f"ALTER TABLE {old} RENAME TO {new}"


_IDENTITY = {("review_decisions", "decision_id")}

SQLITE = Dialect("sqlite", "?", "REAL", "INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT")
POSTGRES = Dialect("postgresql", "%s", "DOUBLE PRECISION", "BIGINT",
                   "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0] in {"postgresql", "postgres"}


def configured_url() -> str | None:
    from linkage.config import get_settings

    return get_settings().state_url


class ServiceState(ABC):
    """The service's state database. ``ServiceState(home)`` opens the one the settings name:
    ``LINKAGE_STATE_URL`` (a ``postgresql://`` URL), else ``service.sqlite`` in ``home``."""

    dialect: Dialect

    def __new__(cls, home: Path | None = None, url: str | None = None, **kwargs):
        if cls is ServiceState:
            if is_postgres_url(url or configured_url()):
                from linkage.store.state.postgres import PostgresState as backend
            else:
                from linkage.store.state.sqlite import SQLiteState as backend
            return backend.__new__(backend, home, url, **kwargs)
        return super().__new__(cls)

    @abstractmethod
    def execute(self, sql: str, params: Sequence = ()) -> Any:
        """Run one statement (``?`` placeholders); the result has ``fetchone``, ``fetchall``,
        iteration and ``rowcount``; rows read by position or column name."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All statements this thread runs inside happen together or not at all; a writer's
        transaction excludes other writers (SQLite: ``BEGIN IMMEDIATE``)."""

    @abstractmethod
    def close(self) -> None: ...

    def scalar(self, sql: str, params: Sequence = ()) -> Any:
        rows = self.execute(sql, params).fetchall()     # all: a RETURNING statement runs to its end
        return rows[0][0] if rows else None

    def reachable(self) -> None:
        """Raise unless the database answers a query (a server's readiness check)."""
        self.scalar("SELECT 1")

    def columns(self, table: str) -> set[str]:
        """The column names of ``table``, empty when it does not exist."""
        sql, params = self.dialect.columns_sql(table)
        return {r[0] for r in self.execute(sql, params)}

    def create(self, ddl: str) -> None:
        """Create tables and indexes from portable DDL (``;``-separated, idempotent)."""
        with self.transaction():
            self._lock_schema()
            for statement in _statements(self.dialect.ddl(ddl)):
                self.execute(statement)

    def append_only(self, table: str) -> None:
        with self.transaction():
            self._lock_schema()
            for statement in self.dialect.append_only(table):
                self.execute(statement)

    def where(self) -> str:
        """The database named for the user (never a password)."""
        return "the PostgreSQL database in LINKAGE_STATE_URL" if self.dialect.name == "postgresql" else str(self.path)

    def _lock_schema(self) -> None:
        """Serialise schema changes between servers starting at once (PostgreSQL)."""


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
