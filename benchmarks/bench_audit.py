"""Benchmark a DPO's audit search: re-reading the whole log (as before) against the index.

    python benchmarks/bench_audit.py --entries 50000

Writes a synthetic log of N entries (chained and MAC'd exactly as the service writes them,
without an fsync per line), then times: the old search (parse every line, filter in
Python), building the index from nothing, an indexed search and subject access, and
the incremental catch-up after 10 more entries.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from linkage.audit import AuditLog
from linkage.audit.log import GENESIS, VERSION, _hash, _mac, canonical_json


def build(home: Path, n: int, seed: int = 1) -> AuditLog:
    log = AuditLog(home)
    rng = random.Random(seed)
    agencies = [f"Agency {i}" for i in range(40)]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    prev, lines = GENESIS, []
    for seq in range(1, n + 1):
        entry = {"request_id": f"{seq:032x}", "client_id": f"client-{rng.randrange(200)}",
                 "agency": rng.choice(agencies), "agency_type": "school", "role": "admissions",
                 "purpose": rng.choice(["admission", "safeguarding", "care", "cme"]), "action": "view",
                 "children": [f"C-{rng.randrange(20000):08d}"], "fields": ["education.enrolment"],
                 "lawful_basis": ["public task"], "decision": rng.choice(["allow"] * 9 + ["deny"]),
                 "policy_version": "v1", "time": (start + timedelta(seconds=seq * 60)).isoformat()}
        digest = _hash(prev, entry)
        lines.append(canonical_json({"v": VERSION, "seq": seq, "prev": prev, "entry": entry, "hash": digest,
                                     "mac": _mac(log.signer.mac_key, seq, digest)}, True))
        prev = digest
    log.close()
    log.path.write_text("\n".join(lines) + "\n")
    return AuditLog(home)


def old_search(log: AuditLog, agency: str, decision: str) -> int:
    """What service/audit.py did before the index: every line parsed on every call."""
    hits = 0
    for rec in log.entries():
        e = rec["entry"]
        datetime.fromisoformat(e["time"])
        if e["agency"] == agency and e["decision"] == decision:
            hits += 1
    return hits


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=50_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = build(Path(tmp), args.entries)
        print(f"log: {args.entries} entries, {log.path.stat().st_size / 1e6:.1f} MB")
        t_old, n_old = timed(lambda: old_search(log, "Agency 3", "deny"), 3)
        log.index                       # imports and opens it: not part of the build
        t = time.perf_counter()
        log.index.sync()
        t_build = time.perf_counter() - t
        t_new, (n_new, _) = timed(lambda: log.index.search(agency="Agency 3", decision="deny", limit=100))
        assert n_new == n_old, (n_new, n_old)
        child = log.entries()[-1]["entry"]["children"][0]
        t_subject, _ = timed(lambda: log.index.search(child_id=child, limit=1_000_000))
        for i in range(10):
            log.append({"request_id": f"new{i}", "client_id": "c", "action": "view", "decision": "allow"})
        t = time.perf_counter()
        log.index.search(agency="Agency 3", decision="deny")
        t_catch = time.perf_counter() - t
        print(f"search (agency + decision, {n_old} hits): whole log {t_old * 1000:.0f} ms; "
              f"index {t_new * 1000:.1f} ms")
        print(f"subject access: index {t_subject * 1000:.1f} ms")
        print(f"index built from nothing in {t_build * 1000:.0f} ms; caught up 10 new entries + search in "
              f"{t_catch * 1000:.1f} ms")
        log.close()


if __name__ == "__main__":
    main()
