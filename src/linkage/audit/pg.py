"""The audit log in PostgreSQL: one hash chain for every server that names the database.

Each row holds the same v2 line the file log would (``line``: canonical JSON with seq,
prev, entry, hash, MAC), so the chain, MACs, checkpoints, proofs, the witness and
``linkage audit verify`` are ``ChainedLog``'s, unchanged. An append takes a transaction-
scoped advisory lock and reads the head when it seals. An append inserts the row after
the head this process last saw, in one autocommitted statement; ``seq`` is the primary
key, so if another server took that number the insert does nothing, and the append reads
the head again and retries. Either way appends from every server form one chain,
serialised by the database, and an entry is committed (durable) before ``append`` returns. The DPO's search index is
the table itself: the columns a DPO filters on are written with each row.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psycopg

from linkage.audit.index import _clean, _epoch, _row
from linkage.audit.log import GENESIS, ChainedLog, _load, _well_formed, checkpoint_valid
from linkage.audit.signer import Signer
from linkage.errors import LinkageError
from linkage.store.audit_counts import AuditCounts, Dialect
from linkage.store.audit_index import _FILTERS
from linkage.store.state.postgres import PostgresState

__all__ = ["PostgresAuditLog"]

_RETRIES = 50       # appends that lost the head to another server, in a row, before giving up


class _Raced(Exception):
    """Another server wrote this seq first: read the head again."""

_LOCK = 0x6C6B4155      # pg_advisory_xact_lock key: the audit head, one appender at a time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (
  seq INTEGER PRIMARY KEY, line TEXT NOT NULL, at REAL, client_id TEXT, agency TEXT, purpose TEXT,
  action TEXT, decision TEXT, break_glass INTEGER NOT NULL, children TEXT[] NOT NULL);
CREATE INDEX IF NOT EXISTS audit_entries_client ON audit_entries (client_id);
CREATE INDEX IF NOT EXISTS audit_entries_agency ON audit_entries (agency);
CREATE INDEX IF NOT EXISTS audit_entries_at ON audit_entries (at);
CREATE INDEX IF NOT EXISTS audit_entries_decision ON audit_entries (decision);
CREATE INDEX IF NOT EXISTS audit_entries_children ON audit_entries USING gin (children);
CREATE INDEX IF NOT EXISTS audit_entries_at_counted ON audit_entries (at, decision, agency, purpose, action, client_id);
CREATE INDEX IF NOT EXISTS audit_entries_action_at ON audit_entries (action, at);
CREATE TABLE IF NOT EXISTS audit_checkpoints (n INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
"""

_PG_COUNTS = Dialect("audit_entries", "(SELECT seq, unnest(children) AS child_id FROM audit_entries)",
                     "CAST(floor({}) AS BIGINT)")


def _text(value):
    """Text PostgreSQL can store: no NUL character (JSON may carry one)."""
    value = _clean(value)
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


_COLUMNS = "at, client_id, agency, purpose, action, decision, break_glass, children"


def _columns(rec) -> tuple | None:
    """What the search columns of the row holding ``rec`` must say (None: not an entry)."""
    row = _row(0, rec) if isinstance(rec, dict) else None
    if row is None:
        return None
    return (row[2], *(_text(v) for v in row[3:8]), int(row[8]), [_text(c) for c in row[9]])


class _TableIndex:
    """The DPO's search, straight from the entries table (nothing to sync).

    The search filters on the row's columns but shows the row's ``line``: someone who can write
    to the database (and drops or disables the append-only trigger) could move an access to
    another child, or out of every child's reach, in the columns alone while the chain of lines
    still verifies. ``check`` compares them."""

    def __init__(self, state: PostgresState, stream: Callable[[str, tuple], Iterator[tuple]]) -> None:
        self.state = state
        self._stream = stream
        self.counts = AuditCounts(_PG_COUNTS, lambda sql, params: self.state.execute(sql, params).fetchall())

    def sync(self) -> int:
        return 0

    def check(self) -> list[tuple[int, str]]:
        """Where a row's search columns disagree with its own line, as (first seq, what); those
        columns are then rewritten from the line (never the line itself), as the file backend
        rebuilds its index file."""
        wrong: dict[int, tuple] = {}
        for seq, line, *held in self._stream(f"SELECT seq, line, {_COLUMNS} FROM audit_entries WHERE seq > ? "
                                             "ORDER BY seq", (0,)):
            want = _columns(_load(line))
            if want is None:    # not an entry at all: the chain check reports the line
                continue
            got = (*held[:7], list(held[7] or []))
            if (got[:7], sorted(got[7])) != (want[:7], sorted(want[7])):
                wrong[seq] = want
        if not wrong:
            return []
        try:
            with self.state.transaction():      # DDL is transactional: the trigger is off for this repair only
                self.state.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only")
                for seq, want in wrong.items():
                    self.state.execute(f"UPDATE audit_entries SET ({_COLUMNS}) = (?, ?, ?, ?, ?, ?, ?, ?) "
                                       "WHERE seq = ?", (*want, seq))
                self.state.execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only")
            repaired = "rewritten from the lines"
        except psycopg.Error as exc:    # e.g. the service's role does not own the table: say so, repair by hand
            repaired = f"not rewritten ({str(exc).splitlines()[0]})"
        return [(min(wrong), f"the search columns of audit_entries disagree with their own log lines on "
                             f"{len(wrong)} entries: searches and subject access reports would have hidden or "
                             f"invented accesses; {repaired}")]

    def records(self, seqs: list[int]) -> list[dict]:
        """The log records of these entries."""
        out = []
        for seq in seqs:
            row = self.state.execute("SELECT line FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
            rec = _load(row[0]) if row else None
            if isinstance(rec, dict) and isinstance(rec.get("entry"), dict):
                out.append(rec)
        return out

    def aggregates(self) -> AuditCounts:
        return self.counts

    def offset_of(self, seq: int) -> int:
        return 0

    def search(self, *, limit: int = 100, offset: int = 0, child_id: str | None = None,
               skip_action_prefix: str | None = None, since=None, until=None, newest: bool = False,
               **filters) -> tuple[int, list[dict]]:
        """(how many entries match, that page of log records), oldest first; ``newest``: the
        newest ``limit`` records, newest first, and no count (-1)."""
        where, params = [], []
        if child_id is not None:
            where.append("? = ANY(e.children)")
            params.append(_text(child_id))
        if skip_action_prefix:
            where.append("e.action NOT LIKE ?")
            params.append(skip_action_prefix.replace("%", "") + "%")
        filters.update(since=_epoch(since.isoformat()) if since else None,
                       until=_epoch(until.isoformat()) if until else None)
        for name, value in filters.items():
            if value is not None:
                where.append(_FILTERS[name])
                params.append(int(value) if isinstance(value, bool) else _text(value))
        clause = " WHERE " + " AND ".join(where) if where else ""
        total = -1 if newest else self.state.scalar(f"SELECT count(*) FROM audit_entries e{clause}", params)
        rows = self.state.execute(f"SELECT e.line FROM audit_entries e{clause} ORDER BY e.seq"
                                  f"{' DESC' if newest else ''} LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()
        recs = [_load(r[0]) for r in rows]
        return total, [r for r in recs if isinstance(r.get("entry"), dict)]


    def facts(self, since=None, until=None) -> list[tuple]:
        """As ``AuditIndex.facts``: index rows between two times, oldest first."""
        where, params = ["at IS NOT NULL"], []
        for op, value in ((">=", since), ("<=", until)):
            if value is not None:
                where.append(f"at {op} ?")
                params.append(_epoch(value.isoformat()))
        rows = self.state.execute("SELECT seq, at, client_id, agency, purpose, action, decision, break_glass, "
                                  f"children FROM audit_entries WHERE {' AND '.join(where)} ORDER BY seq",
                                  params).fetchall()
        return [(r[0], 0, *r[1:7], bool(r[7]), list(r[8] or [])) for r in rows]


class PostgresAuditLog(ChainedLog):
    def __init__(self, home: Path, checkpoint_every: int = 10, signer: Signer | None = None,
                 checkpoint_seconds: float | None = None, *, url: str) -> None:
        self.url = url
        super().__init__(home, checkpoint_every, signer, checkpoint_seconds)

    def _open_storage(self) -> None:
        self.state = PostgresState(url=self.url, schema=False)
        self.state.create(_SCHEMA)
        self.state.append_only("audit_entries")
        self.state.append_only("audit_checkpoints")
        self._tx = threading.local()

    @property
    def _open(self) -> bool:
        return not self.state.pool.closed

    def _close_storage(self) -> None:
        self.state.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, self.state.transaction():
            self.state.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK,))
            self._seq, self._last = self._tail()
            yield

    @contextmanager
    def _append_lock(self) -> Iterator[None]:
        """One thread of this process at a time, and no transaction: one round trip an entry
        while this process holds the head (a single server), three when another took it."""
        with self._lock:
            yield

    def _append_locked(self, entry: dict) -> dict:
        for _ in range(_RETRIES):
            try:
                return super()._append_locked(entry)
            except _Raced:
                self._seq, self._last = self._tail()
        raise LinkageError(f"the audit log's head moved {_RETRIES} times in a row: entry not written")

    def _tail(self) -> tuple[int, str]:
        """The last row's seq; the hash of the last well-formed line (junk is chained past, as in the file)."""
        rows = self.state.execute("SELECT seq, line FROM audit_entries ORDER BY seq DESC LIMIT 1").fetchall()
        if not rows:
            return 0, GENESIS
        if rec := _well_formed(rows[0][1]):       # every append: one row read, not a hundred
            return rows[0][0], rec["hash"]
        rows = self.state.execute("SELECT seq, line FROM audit_entries ORDER BY seq DESC LIMIT 100").fetchall()
        last = next((rec["hash"] for _, line in rows if (rec := _well_formed(line))), GENESIS)
        return rows[0][0], last

    def _write(self, seq: int, line: str, rec: dict) -> None:
        row = _row(0, rec)
        done = self.state.execute("INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                  "ON CONFLICT (seq) DO NOTHING",
                                  (seq, line, row[2], *(_text(v) for v in row[3:8]), int(row[8]),
                                   [_text(c) for c in row[9]]))
        if done.rowcount != 1:
            raise _Raced

    def _rows(self, sql: str, params: tuple) -> Iterator[tuple]:
        """Each row, fetched in pages (a log may be longer than memory)."""
        with self.state.pool.connection() as con, con.transaction(), con.cursor(name="audit_lines") as cur:
            cur.itersize = 5000
            cur.execute(self.state.dialect.sql(sql), params)
            yield from cur

    def _stream(self, sql: str, params: tuple) -> Iterator[str]:
        """The first column of each row, fetched in pages."""
        return (row[0] for row in self._rows(sql, params))

    def _lines(self, after: int = 0, offset: int | None = None) -> Iterator[str]:
        return self._stream("SELECT line FROM audit_entries WHERE seq > ? ORDER BY seq", (after,))

    def _from_sealed(self, after: int, sealed_hash: str) -> tuple[list[str], int] | None:
        lines = [r[0] for r in self.state.execute("SELECT line FROM audit_entries WHERE seq >= ? ORDER BY seq",
                                                  (after,))]
        first = _well_formed(lines[0]) if lines else None
        if not first or first["seq"] != after or first["hash"] != sealed_hash:
            return None
        return lines, 1

    def _write_checkpoint(self, line: str) -> None:
        self.state.execute("INSERT INTO audit_checkpoints (line) VALUES (?)", (line,))

    def _checkpoint_lines(self) -> Iterator[str]:
        return self._stream("SELECT line FROM audit_checkpoints WHERE n > ? ORDER BY n", (0,))

    def last_checkpoint(self) -> dict | None:
        for raw in self._stream("SELECT line FROM audit_checkpoints WHERE n > ? ORDER BY n DESC", (0,)):
            cp = _load(raw)
            if checkpoint_valid(cp, self.public_key):
                return cp
        return None

    @property
    def index(self) -> _TableIndex:
        return self._one_index(lambda: _TableIndex(self.state, self._rows))

    def import_file(self, source: ChainedLog) -> int:
        """Take over a file log's lines and checkpoints as they are, so its chain, checkpoints and
        witness go on here. Only into an empty log, and only a log that verifies."""
        problems = source.verify()
        if problems:
            raise LinkageError(f"the audit log does not verify ({problems[0]}): not moving it")
        if source.public_key_pem() != self.public_key_pem():
            raise LinkageError("the audit log was signed with another key than this service's")
        with self._locked():
            if self._seq:
                raise LinkageError("the PostgreSQL audit log is not empty: migrate into an empty database")
            n = 0
            for raw in source._lines():
                rec = _load(raw)
                self._write(rec["seq"], raw, rec)
                n += 1
            for raw in source._checkpoint_lines():
                self._write_checkpoint(raw)
        self._sealed = (self.last_checkpoint() or {}).get("seq", 0)
        return n
