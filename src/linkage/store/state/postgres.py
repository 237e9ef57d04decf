"""Service state in PostgreSQL, shared by every server that names it in ``LINKAGE_STATE_URL``.

psycopg 3 with a small connection pool. Outside a transaction each statement runs on
its own pooled connection in autocommit and its rows are read at once; inside
``transaction()`` this thread's statements share one connection until it commits.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import psycopg
from psycopg_pool import ConnectionPool

from linkage.errors import LinkageError
from linkage.store.state.base import POSTGRES, Result, Row, ServiceState, configured_url
from linkage.store.state.schema import prepare

__all__ = ["PostgresState", "connect_pool"]

_SCHEMA_LOCK = 0x6C6B5354     # pg_advisory_xact_lock key: schema changes, one server at a time


def _rows(cursor):
    names = [c.name for c in cursor.description or ()]
    return lambda values: Row(values, names)


def connect_pool(url: str, max_size: int = 8) -> ConnectionPool:
    """A pool of autocommit connections whose rows read by position or name."""
    pool = ConnectionPool(url, min_size=1, max_size=max_size, open=False, name="linkage",
                          kwargs={"autocommit": True, "row_factory": _rows})
    try:
        pool.open(wait=True, timeout=15)
    except Exception as exc:
        pool.close()
        raise LinkageError(f"cannot reach the PostgreSQL database in the settings: {type(exc).__name__}") from None
    return pool


class PostgresState(ServiceState):
    dialect = POSTGRES

    def __init__(self, home: Path | None = None, url: str | None = None, pool: ConnectionPool | None = None,
                 schema: bool = True) -> None:
        self.url = url = url or configured_url()
        self.pool = pool or connect_pool(url)
        self._local = threading.local()
        if schema:
            prepare(self)

    def _run(self, con: psycopg.Connection, sql: str, params: Sequence) -> Result:
        if params:
            cur = con.execute(self.dialect.sql(sql), tuple(params))
        else:
            cur = con.execute(sql)         # no parameters: sent as written, % and all
        rows = cur.fetchall() if cur.description else []
        return Result(rows, cur.rowcount)

    def execute(self, sql: str, params: Sequence = ()) -> Result:
        con = getattr(self._local, "con", None)
        if con is not None:
            return self._run(con, sql, params)
        with self.pool.connection() as con:
            return self._run(con, sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        with self.transaction():
            self._local.con.cursor().executemany(self.dialect.sql(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "con", None) is not None:      # nested: part of the one already open
            yield
            return
        with self.pool.connection() as con:
            self._local.con = con
            try:
                with con.transaction():
                    yield
            finally:
                self._local.con = None

    def _lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))

    def close(self) -> None:
        self.pool.close()
