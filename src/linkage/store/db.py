"""The DuckDB adapter: encrypted at rest, one transaction per run.

DuckDB writes encrypted files only with httpfs loaded (it brings OpenSSL);
the extension comes from the ``duckdb-ext-httpfs`` wheel, never the network.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from linkage.files import private_dir
from linkage.errors import StoreError
from linkage.store.keys import load_or_create_key
from linkage.store.schema import DB, all_ddl

__all__ = ["Store", "open_store", "httpfs_extension_path"]

DB_FILE = "linkage.duckdb"


def httpfs_extension_path() -> str:
    spec = importlib.util.find_spec("duckdb_ext")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        found = glob.glob(os.path.join(root, "extensions", f"v{duckdb.__version__}", "*",
                                       "httpfs.duckdb_extension"))
        if found:
            return found[0]
    raise StoreError(
        f"the httpfs extension for DuckDB {duckdb.__version__} is not installed; "
        "install the duckdb-ext-httpfs package that matches it"
    )


class Store:
    """Owns the connection. Splink borrows ``connection`` for its in-memory work."""

    def __init__(self, home: Path, key: str | None = None, memory_limit: str = "4GB",
                 threads: int | None = None, read_only: bool = False) -> None:
        self.home = Path(home)
        private_dir(self.home)  # keys, audit log and service state live here
        key = key or os.environ.get("LINKAGE_DB_KEY") or load_or_create_key(self.home, "db.key")
        tmp = self._temp_directory()
        self._detached = False
        self.connection = duckdb.connect(":memory:")
        con = self.connection
        con.execute(f"LOAD '{httpfs_extension_path()}'")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = '{tmp.as_posix()}'")
        con.execute("SET temp_file_encryption = true")
        con.execute("SET preserve_insertion_order = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        path = (self.home / DB_FILE).as_posix()
        mode = ", READ_ONLY" if read_only else ""
        try:
            con.execute(f"ATTACH '{path}' AS {DB} (ENCRYPTION_KEY '{key}'{mode})")
        except duckdb.Error as exc:
            text = str(exc)
            if "lock" in text.lower():
                hint = "another linkage process (a server, or a link run) is using this data directory"
            elif "key" in text.lower() or "encrypt" in text.lower() or "magic" in text.lower():
                hint = "the database key does not match (check LINKAGE_DB_KEY or keys/db.key)"
            else:
                hint = "see the error above"
            raise StoreError(f"cannot open {path}: {hint}. ({text.splitlines()[0]})") from None
        if not read_only:
            # DuckDB creates its files by the umask; its WAL, recreated after each checkpoint,
            # relies on the process umask (files.py) and on the 0700 data directory.
            for own in (self.home / DB_FILE, self.home / f"{DB_FILE}.wal"):
                if own.exists():
                    os.chmod(own, 0o600)
            for ddl in all_ddl():
                con.execute(ddl)

    def _temp_directory(self) -> Path:
        """This process's own spill directory, with any left by dead processes removed.

        DuckDB refuses to start with encrypted spilling while old spill files exist, so a
        server killed mid-spill (out of memory, SIGKILL) would otherwise never start again.
        Processes sharing the data directory (server workers) each get their own.
        """
        root = private_dir(self.home / "tmp")
        for entry in root.iterdir():
            if entry.is_dir() and entry.name.isdigit() and (int(entry.name) == os.getpid()
                                                            or not _alive(int(entry.name))):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file() and entry.name.startswith("duckdb_temp_"):
                entry.unlink(missing_ok=True)   # left by a version without per-process directories
        own = root / str(os.getpid())
        own.mkdir(mode=0o700)
        self._tmp = own
        return own

    @property
    def path(self) -> Path:
        return self.home / DB_FILE

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.connection.execute(sql, params) if params else self.connection.execute(sql)

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.execute(sql, params).df()

    def insert_df(self, table: str, frame: pd.DataFrame) -> int:
        """Append a frame by column name; the frame's columns must exist in the table."""
        if frame.empty:
            return 0
        name = f"_ins_{id(frame)}"
        self.connection.register(name, frame)
        try:
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            self.connection.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
        finally:
            self.connection.unregister(name)
        return len(frame)

    def next_id(self, table: str, column: str) -> int:
        return int(self.scalar(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All or nothing: a run killed half-way leaves the previous state intact."""
        self.connection.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        else:
            self.connection.execute("COMMIT")

    def checkpoint(self) -> None:
        self.connection.execute(f"CHECKPOINT {DB}")

    def detach(self) -> None:
        """Let go of the database file (and its lock), keeping the in-memory tables."""
        self.connection.execute(f"DETACH {DB}")
        self._detached = True

    def close(self) -> None:
        try:
            if not self._detached:
                self.checkpoint()
        except duckdb.Error:
            pass
        self.connection.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_store(home: Path, **kwargs: Any) -> Store:
    return Store(home, **kwargs)
