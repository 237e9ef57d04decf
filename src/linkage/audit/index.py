"""An index of the audit log, so a DPO's search reads a few lines rather than the whole log.

Before each query it reads only the log's new tail (from the byte where it stopped),
so several server processes, the CLI and a restarted server all see every entry.
If the log no longer holds the last indexed line where it was (rewritten, truncated,
replaced), or the index is missing, it is rebuilt from the start. The log stays the
record: results are read back from the log lines themselves. A damaged index file (not a
database, a corrupt page) is set aside, kept, and rebuilt; what was found waits in ``damaged``
for the log to record as a security event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from linkage import boundedjson
from linkage.audit.lines import raw_lines, read_lines
from linkage.store.audit_counts import AuditCounts
from linkage.store.audit_index import AuditIndexDB, IndexRow, damage

__all__ = ["AuditIndex"]

log = logging.getLogger(__name__)


def _epoch(text) -> float | None:
    try:
        t = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def _clean(value):
    """Text SQLite can store: a lone surrogate (valid in JSON, not in UTF-8) becomes U+FFFD."""
    if not isinstance(value, str):
        return None if isinstance(value, (dict, list)) else value
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _row(offset: int, rec: dict) -> IndexRow | None:
    e = rec.get("entry")
    if not isinstance(e, dict) or not isinstance(rec.get("seq"), int):
        return None
    kids = e.get("children") or []
    return (rec["seq"], offset, _epoch(e.get("time")), *(_clean(e.get(k)) for k in (
            "client_id", "agency", "purpose", "action", "decision")), bool(e.get("break_glass")),
            [_clean(k) for k in kids if isinstance(k, str)] if isinstance(kids, list) else [])


class AuditIndex:
    def __init__(self, log_path: Path, index_path: Path | None = None) -> None:
        self.log_path = Path(log_path)
        self.db = AuditIndexDB(index_path or self.log_path.with_name("index.sqlite"))
        self.damaged: list[dict] = []       # set aside by this process, not yet recorded in the log
        self._safely(self.db.prepare)

    def _safely(self, work):
        """``work()``; if the index file turns out damaged, it is set aside and ``work()`` runs again
        on a new one (rebuilt from the log by the sync inside). Anything else is raised."""
        self.db.follow()
        failed = self.db.inode
        try:
            return work()
        except Exception as exc:
            why = damage(exc)
            if why is None:
                raise
            failed = self.db.inode if self.db.inode is not None else failed
        kept = self.db.set_aside(failed)
        if kept is not None:
            log.error("the audit search index %s was damaged (%s): kept as %s and rebuilt from the log",
                      self.db.path, why, kept)
            self.damaged.append({"reason": f"the search index was damaged ({why}): kept as {kept}, rebuilt "
                                           "from the log", "kept_as": kept})
        return work()

    def _still_there(self, last_offset: int, last_hash: str) -> bool:
        for _, raw in read_lines(self.log_path, last_offset):
            try:
                return boundedjson.loads(raw).get("hash") == last_hash
            except ValueError:
                return False
        return False

    def _sync(self) -> int:
        """Index the log's new tail; rebuild if the log is not the one indexed. Returns rows added."""
        with self.db.writing():
            nxt, last_off, last_hash = self.db.position()
            size = self.log_path.stat().st_size if self.log_path.exists() else 0
            if nxt and (nxt > size or (last_hash and not self._still_there(last_off, last_hash))):
                self.db.clear()
                nxt, last_off, last_hash = 0, 0, ""
            if nxt == size:
                return 0
            rows: list[IndexRow] = []
            for off, raw in raw_lines(self.log_path, nxt):
                try:
                    rec = boundedjson.loads(raw)
                except ValueError:
                    rec = None
                row = _row(off, rec) if isinstance(rec, dict) else None
                if row is not None:
                    rows.append(row)
                    last_off, last_hash = off, str(rec.get("hash", ""))
                nxt = off + len(raw) + 1
            self.db.add(rows, nxt, last_off, last_hash)
            return len(rows)

    def _check(self) -> list[tuple[int, str]]:
        """Where the index disagrees with the log, as (first seq, what): a row deleted, changed
        or added in ``index.sqlite`` hides an access from the DPO's searches and subject access
        reports (or invents one) while the log itself verifies. The index is then rebuilt.
        Both are read in seq order side by side, so a log of millions of entries is checked in
        constant memory; a log whose seqs are out of order (one the chain check condemns) is
        compared as a whole instead."""
        self._sync()
        upto = self.db.position()[0]      # what was indexed; lines written since are not compared
        wrong = self._compare_in_order(upto)
        if wrong is None:
            wrong = self._compare_whole(upto)
        if not wrong:
            return []
        with self.db.writing():
            self.db.clear()
        self._sync()
        return [(wrong[0], f"the search index (audit/index.sqlite) disagrees with the log on {len(wrong)} "
                           "entries: searches and subject access reports would have hidden or invented "
                           "accesses; rebuilt from the log")]

    def _expected(self, upto: int) -> Iterator[tuple[int, tuple]]:
        """(seq, the index's columns for it) of each log line before ``upto``, in log order."""
        for off, raw in raw_lines(self.log_path, 0):
            if off >= upto:
                return
            try:
                rec = boundedjson.loads(raw)
            except ValueError:
                continue
            row = _row(off, rec) if isinstance(rec, dict) else None
            if row is not None:
                yield row[0], (*row[1:9], sorted(row[9]))

    def _compare_in_order(self, upto: int) -> list[int] | None:
        """The seqs where log and index differ, merging both in seq order; None if the log's seqs
        do not rise line by line."""
        # Children rows of an entry the index lacks count only where the log has that entry, and
        # then the entry is missing from the index anyway (as the whole comparison finds).
        wrong: list[int] = []
        held = ((seq, row) for seq, row in self.db.rows_by_seq() if row[0] < upto)
        have = next(held, None)
        last = None
        for seq, row in self._expected(upto):
            if last is not None and seq <= last:
                return None
            last = seq
            while have is not None and have[0] < seq:       # indexed, not in the log
                wrong.append(have[0])
                have = next(held, None)
            if have is not None and have[0] == seq:
                if have[1] != row:
                    wrong.append(seq)
                have = next(held, None)
            else:
                wrong.append(seq)                           # in the log, not indexed
        while have is not None:
            wrong.append(have[0])
            have = next(held, None)
        return sorted(set(wrong))

    def _compare_whole(self, upto: int) -> list[int]:
        held = {seq: row for seq, row in self.db.every_row().items() if row is None or row[0] < upto}
        expected = dict(self._expected(upto))
        return sorted(seq for seq in expected.keys() | held.keys() if expected.get(seq) != held.get(seq))

    def _read(self, offsets: list[int]) -> list[dict]:
        out = []
        with open(self.log_path, "rb") as fh:
            for off in offsets:
                fh.seek(off)
                try:
                    rec = boundedjson.loads(fh.readline())
                except ValueError:      # edited since it was indexed: `audit verify` says where
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("entry"), dict):
                    out.append(rec)
        return out

    def _search(self, *, limit: int = 100, offset: int = 0, child_id: str | None = None,
               skip_action_prefix: str | None = None, since: datetime | None = None,
               until: datetime | None = None, newest: bool = False, **filters) -> tuple[int, list[dict]]:
        """(how many entries match, that page of log records), oldest first; ``newest``: the
        newest ``limit`` records, newest first, and no count (-1): a page that reads few rows."""
        self._sync()
        filters = {k: _clean(v) for k, v in filters.items()}
        total, offsets = self.db.search(limit, offset, _clean(child_id), skip_action_prefix, newest,
                                        since=_epoch(since.isoformat()) if since else None,
                                        until=_epoch(until.isoformat()) if until else None, **filters)
        return total, self._read(offsets)

    def _facts(self, since: datetime | None = None, until: datetime | None = None) -> list[IndexRow]:
        """Index rows of every entry between two times, oldest first: for counting and patterns."""
        self._sync()
        return self.db.facts(_epoch(since.isoformat()) if since else None,
                             _epoch(until.isoformat()) if until else None)

    def _aggregates(self) -> AuditCounts:
        """The SQL counts over the index (brought up to date first)."""
        self._sync()
        return self.db.counts

    def _records(self, seqs: list[int]) -> list[dict]:
        """The log records of these entries (as indexed)."""
        self._sync()
        return self._read(self.db.offsets_of(seqs))

    def _offset_of(self, seq: int) -> int:
        """Where entry ``seq`` starts in the log (0 if unknown: read from the start)."""
        self._sync()
        return self.db.offset_of(seq) or 0

    def close(self) -> None:
        """Close every connection to the index file (each thread's): with the log."""
        self.db.close()

    # The public calls: each survives a damaged index file (set aside and rebuilt, once).
    def sync(self) -> int:
        """Index the log's new tail; rebuild if the log is not the one indexed. Returns rows added."""
        return self._safely(self._sync)

    def check(self) -> list[tuple[int, str]]:
        return self._safely(self._check)

    def search(self, **kw) -> tuple[int, list[dict]]:
        return self._safely(lambda: self._search(**kw))

    def facts(self, since: datetime | None = None, until: datetime | None = None) -> list[IndexRow]:
        return self._safely(lambda: self._facts(since, until))

    def aggregates(self) -> AuditCounts:
        return self._safely(self._aggregates)

    def records(self, seqs: list[int]) -> list[dict]:
        return self._safely(lambda: self._records(seqs))

    def offset_of(self, seq: int) -> int:
        return self._safely(lambda: self._offset_of(seq))
