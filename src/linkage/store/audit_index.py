"""The SQL behind the audit log's index (``audit/index.sqlite``): one row per entry with the
columns a DPO filters on, a child -> entry table, and where in the log each entry starts.

It is derived data: deleting it costs one rebuild. It holds no more than the log does
(identifiers and decisions, never names), and is kept beside it, mode 0600. A damaged file
is set aside (``set_aside``: renamed, kept as evidence) and a new one made in its place.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from linkage.store.audit_counts import AuditCounts, Dialect, window_sql

__all__ = ["AuditIndexDB", "IndexRow", "damage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), next_offset INTEGER NOT NULL,
  last_offset INTEGER NOT NULL, last_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, line_offset INTEGER NOT NULL, at REAL,
  client_id TEXT, agency TEXT, purpose TEXT, action TEXT, decision TEXT, break_glass INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS entries_client ON entries(client_id);
CREATE INDEX IF NOT EXISTS entries_agency ON entries(agency);
CREATE INDEX IF NOT EXISTS entries_at ON entries(at);
CREATE INDEX IF NOT EXISTS entries_decision ON entries(decision);
CREATE INDEX IF NOT EXISTS entries_at_counted ON entries(at, decision, agency, purpose, action, client_id);
CREATE INDEX IF NOT EXISTS entries_action_at ON entries(action, at);
CREATE INDEX IF NOT EXISTS entries_action_decision ON entries(action, decision);
CREATE INDEX IF NOT EXISTS entries_action_decision_at ON entries(action, decision, at);
CREATE TABLE IF NOT EXISTS entry_children (child_id TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS entry_children_child ON entry_children(child_id, seq);
CREATE INDEX IF NOT EXISTS entry_children_seq ON entry_children(seq);
CREATE TABLE IF NOT EXISTS rebuilds (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
"""

_COLUMNS = ("seq", "line_offset", "at", "client_id", "agency", "purpose", "action", "decision", "break_glass")

# (seq, line offset, epoch seconds, client, agency, purpose, action, decision, break glass, children)
IndexRow = tuple[int, int, float | None, str, str, str | None, str, str, bool, list[str]]

_FILTERS = {"client_id": "e.client_id = ?", "agency": "e.agency = ?", "purpose": "e.purpose = ?", "action": "e.action = ?",
            "decision": "e.decision = ?", "break_glass": "e.break_glass = ?", "since": "e.at >= ?",
            "until": "e.at <= ?"}


class _WrongShape(sqlite3.DatabaseError):
    """A SQLite file at the index's path whose tables are not the index's."""


def damage(exc: BaseException) -> str | None:
    """Why ``exc`` means the index file itself is damaged (not a database, a corrupt page, tables of
    another shape), in a few words; None for anything else (a lock held, a full disk: not the file's fault)."""
    if isinstance(exc, _WrongShape):
        return str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) in (
            sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return str(exc)
    return None


class _Connection(sqlite3.Connection):
    """A connection the index can hold weakly (a plain one cannot be), with a guard its thread holds
    while it queries: closing it from another thread under a query crashed the server (SIGSEGV at
    shutdown, a start-up thread still counting). ``close`` closes only what no query holds; one that
    is held is ``retired`` and closed by its own thread as its query ends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.guard = threading.RLock()
        self.depth = 0          # queries of its thread under way (``writing`` holds one round the others)
        self.retired = False


def _shut(con: _Connection) -> None:
    """Close ``con`` if no query holds it; else its thread closes it when the query ends (``retired``)."""
    con.retired = True
    if con.guard.acquire(blocking=False):
        try:
            if con.depth == 0:
                con.close()
        finally:
            con.guard.release()


class AuditIndexDB:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._opened: weakref.WeakSet = weakref.WeakSet()   # every thread's connection still open
        self._opened_lock = threading.Lock()
        self._generation = 0            # moved on when the file is set aside: each thread connects again
        self.inode: int | None = None   # the file this object's connections open
        self.counts = AuditCounts(Dialect("entries", "entry_children"),
                                  self._fetchall, self.rebuilds)

    def prepare(self) -> None:
        """Make the tables (a new file, mode 0600); raises what ``damage`` names for a damaged file."""
        new = not self.path.exists()
        with self._using() as con:
            self._prepare(con, new)

    def _prepare(self, con: sqlite3.Connection, new: bool) -> None:
        try:
            con.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:     # a table of the same name, other columns (not a lock held)
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_ERROR:
                raise
            raise _WrongShape(f"its tables are not the index's: {exc}") from exc
        if new:
            os.chmod(self.path, 0o600)
        have = tuple(r[1] for r in con.execute("PRAGMA table_info(entries)"))
        if have != _COLUMNS:
            raise _WrongShape(f"its entries table has the columns {', '.join(have)}")

    def _con(self) -> sqlite3.Connection:
        held = getattr(self._local, "con", None)
        if held is not None and (held[0] == self._generation or held[1].depth):
            return held[1]      # (a query under way goes on on its own connection: ``writing``'s transaction)
        if held is not None:
            _shut(held[1])
        # Not checked to its thread: ``close`` may close any thread's, under its guard (``_shut``).
        with self._not_mid_set_aside():
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None, factory=_Connection,
                                  check_same_thread=False)
        with con.guard:         # a ``close`` meanwhile waits for the pragma, then retires it
            with self._opened_lock:     # in ``close``'s list with the generation it moves on from, or not
                self._opened.add(con)
                generation = self._generation
            try:
                con.execute("PRAGMA journal_mode=WAL")
            finally:    # the file opened (made by the line above if there was none), damaged or not
                self._local.con = (generation, con)
                self.inode = self._inode()
        return con

    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _not_mid_set_aside(self) -> Iterator[None]:
        """Wait while another process sets the file aside. Between its rename and its new file's
        tables, a connect here would make an empty file at the path and read tables not yet made
        ("no such table" in a second server worker's sealing thread)."""
        if getattr(self._local, "setting_aside", False):    # this thread holds the lock: its own new file
            yield
            return
        with open(self._lock_path(), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_SH)
            yield

    @contextmanager
    def _using(self) -> Iterator[_Connection]:
        """This thread's connection, held against ``close`` from another thread until the query ends;
        closed here, as it ends, if ``close`` came meanwhile."""
        while True:
            con = self._con()
            con.guard.acquire()
            if not con.retired or con.depth:    # open (an outer query of this thread keeps it open)
                break
            con.close()         # retired by ``close`` (closed then, or now: no query holds it): a new one
            con.guard.release()
            self._local.con = None
        con.depth += 1
        try:
            yield con
        finally:
            con.depth -= 1
            con.guard.release()
        if con.retired:         # ``close`` came while it was held: closed now that no query holds it
            _shut(con)

    def _fetchall(self, sql: str, params) -> list:
        with self._using() as con:
            return con.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection of every thread (a pooled request thread's lives as long as the pool):
        their file descriptors stay open otherwise until the garbage collector finds this object. One
        under a query is closed by its thread as the query ends. Used again after, it connects again."""
        with self._opened_lock:
            opened, self._opened = list(self._opened), weakref.WeakSet()
            self._generation += 1
        for con in opened:
            _shut(con)

    def _inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def follow(self) -> None:
        """Connect again if the file at the path is no longer the one opened (another process set a
        damaged one aside): its rows would go on into a file no one reads."""
        if self.inode is not None and self._inode() != self.inode:
            self._generation += 1

    def set_aside(self, failed: int | None) -> str | None:
        """The file at the path, if it is still ``failed`` (the inode found damaged), renamed with its
        WAL as ``index.sqlite.damaged-<time>`` (never deleted: evidence of what was done to it), and a
        new empty index made; one process at a time (``index.sqlite.lock``), so of several servers
        finding it damaged one sets it aside and the others open the new one. Returns the name kept,
        or None when another process had set it aside already."""
        kept = None
        with open(self._lock_path(), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            self._local.setting_aside = True
            try:
                if failed is not None and self._inode() == failed:
                    kept = f"{self.path.name}.damaged-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')}"
                    for suffix in ("", "-wal", "-shm"):     # a WAL left behind would be replayed into the new file
                        if Path(f"{self.path}{suffix}").exists():
                            os.rename(f"{self.path}{suffix}", self.path.with_name(kept + suffix))
                self._generation += 1
                self.prepare()
            finally:
                self._local.setting_aside = False
        return kept

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One writer at a time across processes: the position is read and moved inside."""
        with self._using() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def position(self) -> tuple[int, int, str]:
        """(next byte to read, start of the last indexed line, its hash)."""
        with self._using() as con:
            row = con.execute("SELECT next_offset, last_offset, last_hash FROM position").fetchone()
        return tuple(row) if row else (0, 0, "")

    def rebuilds(self) -> int:
        """How many times the index was emptied to be built again (what cached counts rest on)."""
        with self._using() as con:
            row = con.execute("SELECT n FROM rebuilds").fetchone()
        return row[0] if row else 0

    def clear(self) -> None:
        with self._using() as con:
            for table in ("entries", "entry_children", "position"):
                con.execute(f"DELETE FROM {table}")
            con.execute("INSERT INTO rebuilds VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1")

    def add(self, rows: list[IndexRow], next_offset: int, last_offset: int, last_hash: str) -> None:
        # An upsert, not INSERT OR REPLACE: a REPLACE may delete rows, so SQLite keeps a statement
        # journal of every page each insert touches (the row and its 9 index entries), which spills
        # to a temporary file past 64 KB: about 40 KB and 20 writes an entry, half the sync's CPU.
        # (A seq indexed again, a line rewritten with the same seq, still takes the new columns.)
        with self._using() as con:
            con.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO UPDATE SET "
                            + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:]),
                            [r[:8] + (int(r[8]),) for r in rows])
            con.executemany("INSERT INTO entry_children VALUES (?, ?)", [(c, r[0]) for r in rows for c in r[9]])
            con.execute("INSERT OR REPLACE INTO position VALUES (1, ?, ?, ?)", (next_offset, last_offset, last_hash))

    def search(self, limit: int, offset: int, child_id: str | None = None, skip_action_prefix: str | None = None,
               newest: bool = False, **filters) -> tuple[int, list[int]]:
        """(how many match, the line offsets of the page), oldest first; ``newest``: the newest
        ``limit`` from ``offset``, newest first, not counted (-1)."""
        where, params, source = [], [], "entries e"
        if child_id is not None:
            source = "entry_children c JOIN entries e ON e.seq = c.seq"
            where.append("c.child_id = ?")
            params.append(child_id)
        if skip_action_prefix:
            where.append("e.action NOT LIKE ?")
            params.append(skip_action_prefix.replace("%", "") + "%")
        for name, value in filters.items():
            if value is not None:
                where.append(_FILTERS[name])
                params.append(int(value) if isinstance(value, bool) else value)
        clause = " WHERE " + " AND ".join(where) if where else ""
        with self._using() as con:
            total = -1 if newest else con.execute(f"SELECT count(DISTINCT e.seq) FROM {source}{clause}",
                                                  params).fetchone()[0]
            page = con.execute(f"SELECT DISTINCT e.seq, e.line_offset FROM {source}{clause} ORDER BY e.seq"
                               f"{' DESC' if newest else ''} LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
        return total, [off for _, off in page]

    def facts(self, since: float | None, until: float | None) -> list[IndexRow]:
        """Every entry between two times (epoch seconds), oldest first, as index rows with no
        line offset (0): the columns a DPO counts and looks for patterns in, and the children."""
        where, params = window_sql(since, until)
        rows = self._fetchall("SELECT e.seq, e.at, e.client_id, e.agency, e.purpose, e.action, e.decision, "
                              "e.break_glass, (SELECT group_concat(c.child_id, ' ') FROM entry_children c "
                              f"WHERE c.seq = e.seq) FROM entries e WHERE {' AND '.join(where)} ORDER BY e.seq",
                              params)
        return [(r[0], 0, *r[1:7], bool(r[7]), r[8].split(" ") if r[8] else []) for r in rows]

    def offsets_of(self, seqs: list[int]) -> list[int]:
        with self._using() as con:
            return [r[0] for r in (con.execute("SELECT line_offset FROM entries WHERE seq = ?", (s,)).fetchone()
                                   for s in seqs) if r]

    def offset_of(self, seq: int) -> int | None:
        with self._using() as con:
            row = con.execute("SELECT line_offset FROM entries WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def every_row(self) -> dict[int, tuple]:
        """Every indexed entry by seq: its columns, and its children sorted (to compare with the log)."""
        return {seq: row for seq, row in self.rows_by_seq()} | {seq: None for seq in self.orphan_children()}

    def rows_by_seq(self, batch: int = 2000) -> Iterator[tuple[int, tuple]]:
        """(seq, columns and sorted children) of every indexed entry, in seq order, read a batch at
        a time: checking a log of millions of entries holds one batch, not the whole index."""
        after = -2**63
        while True:
            with self._using() as con:
                page = con.execute(
                    "SELECT e.seq, e.line_offset, e.at, e.client_id, e.agency, e.purpose, e.action, e.decision, "
                    "e.break_glass, (SELECT json_group_array(c.child_id) FROM entry_children c WHERE c.seq = e.seq) "
                    "FROM entries e WHERE e.seq > ? ORDER BY e.seq LIMIT ?", (after, batch)).fetchall()
            for r in page:
                yield r[0], (*r[1:8], bool(r[8]), sorted(json.loads(r[9])))
            if len(page) < batch:
                return
            after = page[-1][0]

    def orphan_children(self) -> list[int]:
        """Entries the children table names but the entries table does not hold."""
        return [r[0] for r in self._fetchall(
            "SELECT DISTINCT seq FROM entry_children WHERE seq NOT IN (SELECT seq FROM entries) ORDER BY seq", ())]

    def count(self) -> int:
        with self._using() as con:
            return con.execute("SELECT count(*) FROM entries").fetchone()[0]
