"""The audit index answers exactly as re-reading the log would, and follows the log wherever it goes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from linkage.audit import AuditLog

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def fill(log: AuditLog, n: int, seed: int = 3, append=None) -> None:
    rng = random.Random(seed)
    for i in range(n):
        (append or log.append)({"request_id": f"r{seed}-{i}", "client_id": f"c{rng.randrange(5)}",
                    "agency": rng.choice(["Oak", "Elm", "Ash"]), "purpose": rng.choice(["care", "cme", None]),
                    "action": rng.choice(["view", "lookup", "audit.search"]),
                    "children": rng.sample(["C-1", "C-2", "C-3", "C-4"], rng.randrange(3)),
                    "decision": rng.choice(["allow", "deny"]), "break_glass": rng.random() < 0.1,
                    "time": (START + timedelta(minutes=i)).isoformat()})


def brute(log: AuditLog, child_id=None, since=None, skip_audit=False, **want) -> list[int]:
    out = []
    for rec in log.entries():
        e = rec["entry"]
        if child_id and child_id not in e.get("children", []):
            continue
        if since and datetime.fromisoformat(e["time"]) < since:
            continue
        if skip_audit and e["action"].startswith("audit."):
            continue
        if all((bool(e.get(k)) if k == "break_glass" else e.get(k)) == v for k, v in want.items()):
            out.append(rec["seq"])
    return out


QUERIES = [{}, {"agency": "Oak"}, {"client_id": "c2", "decision": "deny"}, {"purpose": "care"},
           {"break_glass": True}, {"child_id": "C-3"}, {"child_id": "C-1", "agency": "Elm"},
           {"since": START + timedelta(minutes=150)}, {"child_id": "C-2", "skip_audit": True}]


def search(log, q, limit=10_000):
    q = dict(q)
    skip = "audit." if q.pop("skip_audit", False) else None
    total, recs = log.index.search(limit=limit, skip_action_prefix=skip, **q)
    return total, [r["seq"] for r in recs]


def test_index_answers_as_the_whole_log_would(tmp_path):
    log = AuditLog(tmp_path, checkpoint_every=50)
    fill(log, 300)
    for q in QUERIES:
        expected = brute(log, **q)
        assert search(log, q) == (len(expected), expected), q
    total, page = search(log, {"agency": "Oak"}, limit=7)
    assert page == brute(log, agency="Oak")[:7] and total == len(brute(log, agency="Oak"))


def test_index_follows_other_writers_restarts_and_rewrites(tmp_path):
    log = AuditLog(tmp_path)
    fill(log, 40)
    assert search(log, {})[0] == 40
    other = AuditLog(tmp_path)                       # another worker process appending to the same log
    fill(other, 25, seed=4)
    assert search(log, {})[0] == 65
    (tmp_path / "audit" / "index.sqlite").unlink()   # missing: rebuilt
    assert search(AuditLog(tmp_path), {"agency": "Ash"})[1] == brute(log, agency="Ash")
    lines = log.path.read_bytes().split(b"\n")
    log.path.write_bytes(b"\n".join(lines[:30]) + b"\n")    # a different log now: rebuilt, not trusted
    fresh = AuditLog(tmp_path)
    assert search(fresh, {}) == (30, list(range(1, 31)))


def test_the_newest_entries_are_read_newest_first_from_an_index_that_holds_them(tmp_path):
    """``newest``: the last entries matching, newest first, uncounted; a rare action among many
    allowed entries is found through the (action, decision) index, not by walking every allowed
    entry back from the end (the DPO's witness line did that: 0.3 s at 250,000 entries)."""
    log = AuditLog(tmp_path)
    fill(log, 120)
    total, _ = log.index.search(limit=1000, action="view", decision="allow")
    newest = log.index.search(limit=3, newest=True, action="view", decision="allow")
    assert newest[0] == -1 and [r["seq"] for r in newest[1]] == sorted(
        (r["seq"] for r in log.index.search(limit=1000, action="view", decision="allow")[1]), reverse=True)[:3]
    assert total > 3
    plan = log.index.db._con().execute(
        "EXPLAIN QUERY PLAN SELECT DISTINCT e.seq FROM entries e WHERE e.action = ? AND e.decision = ? "
        "ORDER BY e.seq DESC LIMIT 1", ["audit.proof", "allow"]).fetchall()
    assert "entries_action_decision" in str(plan)
    log.close()


def _written() -> int:
    """Bytes this process has passed to write calls so far (any file), from ``/proc/self/io``."""
    for line in open("/proc/self/io").read().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def test_indexing_an_entry_writes_little_more_than_its_own_row(tmp_path):
    """Each server indexes the log's new entries every few seconds. Inserted with INSERT OR REPLACE,
    each entry made SQLite journal every page it touched (the row and its index entries) to a
    temporary file, about 40 KB and 20 writes an entry; a row and its index entries are a few
    hundred bytes. Searches still answer as the log does, a re-indexed seq included."""
    import pytest
    from pathlib import Path

    if not Path("/proc/self/io").exists():
        pytest.skip("needs Linux /proc/self/io")
    from linkage.audit.index import AuditIndex

    log = AuditLog(tmp_path, checkpoint_every=10**6)
    with log._locked():                 # the service's own lines, written at once: one fsync, not 3,000
        fill(log, 3000, append=log._append_locked)
    fresh = AuditIndex(log.path, tmp_path / "fresh.sqlite")
    start = _written()
    assert fresh.sync() == 3000
    per_entry = (_written() - start) / 3000
    assert per_entry < 4096, f"{per_entry:.0f} bytes written to index one entry"
    for q in QUERIES:
        expected = brute(log, **q)
        total, recs = fresh.search(limit=10_000, skip_action_prefix="audit." if q.get("skip_audit") else None,
                                   **{k: v for k, v in q.items() if k != "skip_audit"})
        assert (total, [r["seq"] for r in recs]) == (len(expected), expected), q
    row = fresh.db.every_row()[7]
    fresh.db.add([(7, 123, 1.0, "cX", "Oak", None, "view", "deny", True, [])], *fresh.db.position())
    assert fresh.db.every_row()[7][:8] == (123, 1.0, "cX", "Oak", None, "view", "deny", True) != row[:8]
    log.close()
