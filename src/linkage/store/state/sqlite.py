"""The embedded default: service state in ``service.sqlite`` in the data directory.

WAL mode lets ``linkage clients add`` and the running server share it; one
connection per thread; a transaction is ``BEGIN IMMEDIATE`` so writers queue.

Writers in one process queue on a lock of their own before ``BEGIN IMMEDIATE``: SQLite's
busy handler waits by sleeping (1, 2, 5, 10 ms and more), so two request threads
contending for the write lock would otherwise cost the loser milliseconds. Other
processes still meet SQLite's own lock and its timeout.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from linkage.errors import StoreError
from linkage.files import private_dir, private_file
from linkage.store.state.base import SQLITE, ServiceState, configured_url
from linkage.store.state.schema import prepare

__all__ = ["SQLiteState"]


class SQLiteState(ServiceState):
    dialect = SQLITE

    def __init__(self, home: Path, url: str | None = None) -> None:
        url = url or configured_url()
        if url and url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
        else:
            path = private_dir(Path(home)) / "service.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 before SQLite first opens it: its -wal and -shm files take the database's mode.
        # Never open and close a file descriptor on a database this process may already have
        # open: closing any descriptor drops every POSIX lock the process holds on the file, and
        # its open connections then read an old snapshot while others checkpoint past them.
        if path.exists():
            os.chmod(path, 0o600)
        else:
            private_file(path)
        self._local = threading.local()
        self._writer = threading.Lock()     # one writing thread at a time in this process
        self.path = path
        try:
            prepare(self)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(_unusable(path, exc)) from None

    def connection(self) -> sqlite3.Connection:
        """One connection per thread; WAL so readers never block the writer."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    def execute(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        return self.connection().execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        self.connection().executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        con = self.connection()
        if con.in_transaction:          # nested: part of the one already open
            yield
            return
        with self._writer:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> str:
    """One line for a service state SQLite cannot open (at start: a server, or any command)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        return (f"the service state {path} is damaged ({text}): restore it from your last backup (it holds "
                "clients, consents, pseudonyms and review decisions; none is made anew over it)")
    if "locked" in text or "busy" in text:
        return f"the service state {path} is locked by another process ({text}): wait for it, or stop it"
    return f"cannot use the service state {path}: {text}"
