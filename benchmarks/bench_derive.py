"""Benchmark: ingest + validation of three extracts, then the first derive of the input cache.

    python benchmarks/bench_derive.py --extracts /tmp/s17/base250/synth-135000-42-easy/extracts-m1 \
        --work /tmp/s18derive/bd250

The two stages of a first full link that come before Splink (issue 11): each source's
ingest (``ingest_file``) and the link's features stage (``LinkEngine._build_input`` with
the persistent input cache: name keys, derived rows, co-twin pairs, hashes), each with
wall time and the process's CPU time (all threads: DuckDB's too). On two shared cores the
CPU time is the steadier figure; print ``uptime`` beside either.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date
from pathlib import Path

SOURCES = ("education", "social_care", "health")


class _Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extracts", type=Path, required=True, help="a directory of linkage synth's extracts")
    ap.add_argument("--work", type=Path, required=True, help="a store is made here (emptied first)")
    args = ap.parse_args()

    from linkage.connectors import ingest_file
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link.engine import LinkEngine
    from linkage.store import Store

    when = date.fromisoformat(json.loads((args.extracts / "manifest.json").read_text())["extract_date"])
    shutil.rmtree(args.work, ignore_errors=True)
    store = Store(args.work)
    total = [0.0, 0.0]
    for source in SOURCES:
        with _Clock() as c:
            r = ingest_file(store, source, args.extracts / f"{source}.csv", extract_date=when)
        total = [total[0] + c.wall, total[1] + c.cpu]
        print(f"ingest {source:12} wall {c.wall:6.1f} s  cpu {c.cpu:6.1f} s  "
              f"({r.rows_read} rows, {r.accepted} accepted, {r.quarantined} quarantined)", flush=True)
    print(f"ingest + validation  wall {total[0]:6.1f} s  cpu {total[1]:6.1f} s", flush=True)

    class Features(LinkEngine):     # only the features stage of a run (the engine's first step)
        def __init__(self, store: Store) -> None:
            self.store, self.con = store, store.connection
            self._build_input(CURRENT_RECORDS_SQL, cache=True)

    with _Clock() as c:
        e = Features(store)
    pairs = store.scalar("SELECT count(*) FROM memory.cotwin_pairs")
    print(f"features (first input-cache derive) wall {c.wall:6.1f} s  cpu {c.cpu:6.1f} s  "
          f"({e.derived} rows derived, {pairs} co-twin pairs)", flush=True)
    store.close()


if __name__ == "__main__":
    main()
