"""Benchmark: ingest + validation of three extracts, then the first derive of the input cache.

    python benchmarks/bench_derive.py --extracts /tmp/s17/base250/synth-135000-42-easy/extracts-m1 \
        --work /tmp/s18derive/bd250

The two stages of a first full link that come before Splink (issue 11): each source's
ingest (``ingest_file``) and the link's features stage (``LinkEngine._build_input`` with
the persistent input cache: name keys, derived rows, co-twin pairs, hashes), each with
wall time and the process's CPU time (all threads: DuckDB's too). On two shared cores the
CPU time is the steadier figure; print ``uptime`` beside either.

``--statements N``: the features stage's N costliest statements on the store's connection, each
with its wall and CPU time (the process's: once the cache's write has started beside the run, its
thread's CPU is counted in the statements after), to see which query a change should aim at
without a whole link under the heavy lock.

The records derived are those a link reads (``LINK_RECORDS_SQL``, with their registers and days
on roll): with ``CURRENT_RECORDS_SQL``, read here before, the derive failed (no ``register``).
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


class _Timed:
    """A DuckDB connection whose ``execute`` keeps each statement's wall and CPU time in ``log``."""

    def __init__(self, con, log: list) -> None:
        self._con, self._log = con, log

    def execute(self, sql: str, *params):
        with _Clock() as c:
            result = self._con.execute(sql, *params)
        self._log.append((c.wall, c.cpu, " ".join(sql.split())))
        return result

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extracts", type=Path, required=True, help="a directory of linkage synth's extracts")
    ap.add_argument("--work", type=Path, required=True, help="a store is made here (emptied first)")
    ap.add_argument("--statements", type=int, default=0, help="print the features stage's N costliest statements")
    args = ap.parse_args()

    from linkage.connectors import ingest_file
    from linkage.connectors.ingest import LINK_RECORDS_SQL
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
            self.store, self.con, self._cache = store, store.connection, None
            self._build_input(LINK_RECORDS_SQL, cache=True)

    log: list = []
    raw = store.connection
    if args.statements:
        store.connection = _Timed(raw, log)
    try:
        with _Clock() as c:
            e = Features(store)
    finally:
        store.connection = raw
    pairs = store.scalar("SELECT count(*) FROM memory.cotwin_pairs")
    print(f"features (first input-cache derive) wall {c.wall:6.1f} s  cpu {c.cpu:6.1f} s  "
          f"({e.derived} rows derived, {pairs} co-twin pairs)", flush=True)
    for wall, cpu, sql in sorted(log, key=lambda row: -row[1])[:args.statements]:
        print(f"  {wall:6.2f} s  cpu {cpu:6.2f} s  {sql[:110]}")
    with _Clock() as c:
        e.settle()
    print(f"input cache write, waited for  wall {c.wall:6.1f} s  cpu {c.cpu:6.1f} s", flush=True)
    store.close()


if __name__ == "__main__":
    main()
