"""The audit log in PostgreSQL: one hash chain for every server that names the database.

Each row holds the same v2 line the file log would (``line``: canonical JSON with seq,
prev, entry, hash, MAC), so the chain, MACs, checkpoints, proofs, the witness and
``linkage audit verify`` are ``ChainedLog``'s, unchanged. The DPO's search index is the
table itself: the columns a DPO filters on are written with each row.

Group commit. The appends of one process queue; one of them at a time leads: it takes every
entry waiting, chains them in order on the head it last saw, and writes them in one statement
(``linkage_audit_append``: one round trip, one transaction, one commit), which takes the
chain's transaction-scoped advisory lock (every server's appends and seals take it, so the
chain has one writer at a time across servers), checks that the head is still the one the
batch was chained on, and inserts the batch; if another server moved the head it writes
nothing and returns the new head, and the batch is chained again on it. Each waiting append
returns once that commit has returned: an entry is durable before its request is answered,
and one commit (one WAL flush) carries every request that arrived while the last was in flight.

Failures neither lose nor fork the chain. A batch is one transaction: a server killed
mid-batch leaves none of it, and no request of it was answered. ``seq`` is the primary key,
so a row written without the lock (an older server) makes the insert fail whole, and the
batch is chained again. When the connection fails (PostgreSQL restarting) the batch is
retried for up to ``_RETRY_SECONDS``; if its commit may have happened before the connection
died, the retry first looks for its own first line at its seq, and if it is there the batch is
done (not written twice). Checkpoints are signed and written under a lock of their own, so
appends go on meanwhile.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psycopg

from linkage.audit.group import GroupCommit, Pending
from linkage.audit.index import _clean, _epoch, _row
from linkage.audit.log import GENESIS, ChainedLog, _load, _well_formed, checkpoint_valid
from linkage.audit.signer import Signer
from linkage.errors import LinkageError, StoreError
from linkage.store.audit_counts import AuditCounts, Dialect
from linkage.store.audit_index import _FILTERS
from linkage.store.state.postgres import PostgresState

__all__ = ["PostgresAuditLog"]

_RETRY_SECONDS = 20.0  # how long a batch is retried (PostgreSQL restarting) before its appends fail
_BATCH = 1000           # entries one statement writes at most (a bounded statement, a bounded wait)

_LOCK = 0x6C6B4155      # pg_advisory_xact_lock key: the audit head, one appender at a time
_CP_LOCK = 0x6C6B4143   # and the checkpoints: one sealer at a time, checkpoints never go back

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
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"     # seq, line, then _COLUMNS

# A batch in one statement, so one round trip (and one commit): under the chain's lock, if the head
# is still the row the batch was chained on, insert the batch; if not, insert nothing and say
# what the head is now. plpgsql runs each statement with a fresh snapshot (read committed), so
# the head it reads is the one after every append that held the lock before it.
_APPEND_FN = f"""
CREATE OR REPLACE FUNCTION linkage_audit_append(after INTEGER, batch JSON)
  RETURNS TABLE (moved BOOLEAN, head INTEGER, head_line TEXT) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({_LOCK});
  SELECT e.seq, e.line INTO head, head_line FROM audit_entries e ORDER BY e.seq DESC LIMIT 1;
  IF COALESCE(head, 0) <> after THEN
    moved := TRUE;
    RETURN NEXT;
    RETURN;
  END IF;
  INSERT INTO audit_entries
    SELECT (r->>0)::INTEGER, r->>1, (r->>2)::DOUBLE PRECISION, r->>3, r->>4, r->>5, r->>6, r->>7, (r->>8)::INTEGER,
           ARRAY(SELECT json_array_elements_text(r->9))
    FROM json_array_elements(batch) AS r;
  moved := FALSE;
  head := NULL;
  head_line := NULL;
  RETURN NEXT;
END $$
"""
# The batch goes as one JSON array of rows: text arrays would escape every quote of every line
# in Python, the costliest part of an append.
_APPEND = "SELECT * FROM linkage_audit_append(?, ?::json)"


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
    _SEALS_APART = True     # signing and writing a checkpoint holds the checkpoints' lock, not the chain's

    def __init__(self, home: Path, checkpoint_every: int = 10, signer: Signer | None = None,
                 checkpoint_seconds: float | None = None, *, url: str) -> None:
        self.url = url
        super().__init__(home, checkpoint_every, signer, checkpoint_seconds)

    def _open_storage(self) -> None:
        self.state = PostgresState(url=self.url, schema=False)
        self.state.create(_SCHEMA)
        self.state.append_only("audit_entries")
        self.state.append_only("audit_checkpoints")
        with self.state.transaction():
            self.state._lock_schema()
            self.state.execute(_APPEND_FN)
        self._batch: list[tuple] | None = None      # the batch being chained, under ``_lock``
        self._group = GroupCommit(self._write_batches)
        self._cp_lock = threading.Lock()
        self._largest = 1      # entries in the largest batch this process wrote
        # The newest seq this process knows the chain held (committed by it, or read): never one a
        # batch only tried to write (a connection lost at its commit leaves ``_seq`` ahead of it).
        self._held = 0
        self._had: int | None = None    # ``_held`` when the head was found behind it: a cut to record

    @property
    def _open(self) -> bool:
        return not self.state.pool.closed

    def _close_storage(self) -> None:
        self.state.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self.state.pool.closed:
                raise LinkageError("the audit log is closed: entry not written")
            with self.state.transaction():
                self.state.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK,))
                self._seq, self._last = self._tail()
                self._found(self._seq)
                yield

    @contextmanager
    def _checkpoint_locked(self) -> Iterator[None]:
        """One checkpoint writer at a time across servers (inside ``_locked`` too, when sealing there)."""
        with self._cp_lock, self.state.transaction():
            self.state.execute("SELECT pg_advisory_xact_lock(?)", (_CP_LOCK,))
            yield

    def _backlog(self) -> int:
        """As the file log's, but a batch written at once is one step: a seal between two batches
        is on time, however many entries the batch held."""
        return self.BACKLOG * max(self.checkpoint_every, self._largest)

    def _append_one(self, entry: dict) -> dict:
        return self._group.submit(entry)

    @contextmanager
    def _head(self, hold: bool) -> Iterator[None]:
        """Where a batch is chained: on the head this process last saw (``linkage_audit_append``
        checks it), or, once another server moved it, on the head read under the chain's lock,
        held until the batch commits, so a busy chain cannot turn a batch away twice."""
        if hold:
            with self._locked():
                yield
            return
        with self._lock:
            if self.state.pool.closed:
                raise LinkageError("the audit log is closed: entry not written")
            yield

    def _write_batches(self, take: Callable[[], list[Pending]]) -> None:
        """Write every entry ``take`` gives, a batch a transaction (see the module's docstring)."""
        todo: list[Pending] = []
        unsure: tuple[int, str, list[Pending]] | None = None    # (first seq, its line, batch): committed?
        size, deadline, pause, hold = _BATCH, time.monotonic() + _RETRY_SECONDS, 0.05, False
        while True:
            batch: list[Pending] = []
            try:
                with self._head(hold):
                    if unsure is not None:          # the connection died at its commit: look, never guess
                        first, line, maybe = unsure
                        row = self.state.execute("SELECT line FROM audit_entries WHERE seq = ?", (first,)).fetchone()
                        unsure = None
                        if row is not None and row[0] == line:
                            for p in maybe:
                                p.done(p.result)
                        else:
                            todo = maybe + todo
                    todo += take()
                    batch, todo = todo[:size], todo[size:]
                    if not batch:
                        return
                    self._batch = []
                    if self._had is not None:
                        self._cut_back(self._had)       # a row of this batch: written with it, or again
                    for p in batch:
                        p.result = ChainedLog._append_locked(self, p.item)
                    rows, self._batch = self._batch, None
                    unsure = (rows[0][0], rows[0][1], batch)
                    moved, seq, line = self.state.execute(_APPEND, (rows[0][0] - 1, json.dumps(rows))).fetchone()
                    if moved:       # another server wrote since: chain the batch again, holding the lock
                        unsure, todo, hold = None, batch + todo, True
                        rec = _well_formed(line) if line is not None else None
                        self._found(seq or 0)
                        self._seq, self._last = (seq, rec["hash"]) if rec else self._tail()
                        continue
                self._had = None        # the cut, if one was found, is in the batch just written
                self._held = max(self._held, self._seq)
                unsure, hold, deadline = None, False, time.monotonic() + _RETRY_SECONDS
                self._largest = max(self._largest, len(batch))
                for p in batch:
                    p.done(p.result)
            except (psycopg.OperationalError, psycopg.errors.UniqueViolation) as exc:
                if isinstance(exc, psycopg.errors.UniqueViolation):     # a row written without the lock
                    todo, unsure = batch + todo, None
                elif time.monotonic() > deadline or self._stop.is_set():
                    raise LinkageError(f"the audit log's database is unreachable ({type(exc).__name__}): "
                                       "entry not written") from None
                else:
                    if unsure is None:
                        todo = batch + todo
                    time.sleep(pause)
                    pause = min(pause * 2, 1.0)
            except psycopg.Error as exc:
                if not batch:                       # not a batch's insert: every entry taken fails
                    raise LinkageError(f"the audit log's database failed ({type(exc).__name__}): entry not "
                                       "written") from None
                unsure = None
                if len(batch) > 1:                  # one entry the database refuses: write them one by one
                    todo, size = batch + todo, 1
                    continue
                batch[0].failed(LinkageError(f"the audit log refused the entry ({type(exc).__name__}): not written"))
            finally:
                self._batch = None
            if not todo and unsure is None:
                return

    def _found(self, head: int) -> None:
        """The chain's head as just read: behind what this process knew it held, rows were deleted
        under it, and the next batch records it (``_cut_back``)."""
        if head < self._held:
            self._had = max(self._had or 0, self._held)
        self._held = head

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

    def _newest(self) -> dict | None:
        for (line,) in self.state.execute("SELECT line FROM audit_entries ORDER BY seq DESC LIMIT 100").fetchall():
            if rec := _well_formed(line):
                return rec
        return None

    @property
    def where(self) -> str:
        return "in PostgreSQL"

    def _write(self, seq: int, line: str, rec: dict) -> None:
        """Inside ``_locked``: the row joins the batch being written, or (a seal's or an import's
        line) is inserted now."""
        row = (seq, line, *_columns(rec))
        if self._batch is not None:
            self._batch.append(row)
        else:
            self.state.execute(f"INSERT INTO audit_entries VALUES {_ROW}", row)

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
        newest = self.state.execute("SELECT line FROM audit_checkpoints ORDER BY n DESC LIMIT 1").fetchone()
        if newest is None:
            return None
        if checkpoint_valid(cp := _load(newest[0]), self.public_key):     # each seal: one row read
            return cp
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


def holds_keyed_entries(url: str) -> bool:
    """Whether the PostgreSQL audit log at ``url`` holds lines MACed under a key (version 2): then
    a server without that key must not make one (``signer._default_key``)."""
    try:
        state = PostgresState(url=url, schema=False)
        try:
            row = state.execute("SELECT line FROM audit_entries ORDER BY seq DESC LIMIT 1").fetchone()
        finally:
            state.close()
    except psycopg.errors.UndefinedTable:
        return False
    except psycopg.Error as exc:
        raise StoreError(f"the PostgreSQL audit log cannot be read to check the audit key: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    rec = _well_formed(row[0]) if row else None
    return bool(row) and (rec is None or "v" in rec)
