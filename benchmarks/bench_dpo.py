"""How long the DPO's access, security and pattern pages take to read a window of the audit log.

    PYTHONPATH=src python benchmarks/bench_dpo.py --entries 50000 --home /tmp/dpo_bench

Writes ``entries`` synthetic entries spread over 30 days into a file log (fsync'd each, as the
service does: slow), then times ``AuditIndex.facts`` over the 30 days and ``find_patterns``
on them (the Python reference), the SQL search ``find_patterns_sql``, and the access page's
counts: counted from nothing, then kept and brought up to date after ``--more`` entries are
appended and the window moves on a minute. Run it again on the same home to time the reads alone.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from linkage.audit import AuditLog
from linkage.service.patterns import Rules, find_patterns, find_patterns_sql

END = datetime(2026, 11, 25, tzinfo=timezone.utc)


def fill(log: AuditLog, n: int) -> None:
    rng = random.Random(1)
    for i in range(n):
        log.append({"request_id": "r", "client_id": f"user:{rng.randrange(300)}", "agency": f"Org {rng.randrange(40)}",
                    "purpose": rng.choice(["admission", "cme", "safeguarding", "care"]),
                    "action": rng.choice(["view", "lookup", "list_cme"]), "children": [f"C-{rng.randrange(100000)}"],
                    "decision": "allow" if rng.random() < .9 else "deny",
                    "time": (END - timedelta(seconds=30 * 86400 * (n - i) / n)).isoformat()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=50_000)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--more", type=int, default=10)
    args = ap.parse_args()
    log = AuditLog(args.home, checkpoint_every=10_000)
    if log.head() < args.entries:
        t0 = time.perf_counter()
        fill(log, args.entries - log.head())
        print(f"wrote the log in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    log.index.sync()
    print(f"index sync {time.perf_counter() - t0:.2f} s")
    for _ in range(2):
        t0 = time.perf_counter()
        facts = log.index.facts(END - timedelta(days=30), END)
        t1 = time.perf_counter()
        find_patterns(facts, Rules(), END.timestamp())
        t2 = time.perf_counter()
        find_patterns_sql(log.index.aggregates(), Rules(), (END - timedelta(days=30)).timestamp(), END.timestamp())
        t3 = time.perf_counter()
        print(f"{len(facts)} entries: facts {1000 * (t1 - t0):.0f} ms, patterns in Python {1000 * (t2 - t1):.0f} ms, "
              f"in SQL {1000 * (t3 - t2):.0f} ms; load {os.getloadavg()[0]:.1f}")
    since, until = (END - timedelta(days=30)).timestamp(), END.timestamp()
    for step in ("counted from nothing", f"kept, {args.more} appended, a minute on"):
        if step.startswith("kept"):
            fill(log, args.more)
            since, until = since + 60, until + 60
        t0 = time.perf_counter()
        agg = log.index.aggregates()
        agg.counts(["agency", "purpose", "decision"], since, until)
        agg.counts(["quarter", "allowed"], since, until)
        print(f"access counts, {step}: {1000 * (time.perf_counter() - t0):.1f} ms; load {os.getloadavg()[0]:.1f}")
    log.close()


if __name__ == "__main__":
    main()
