"""Benchmark the AP outcomes report on a synthetic population.

    python benchmarks/bench_outcomes.py --children 540000      # about 1,000,000 records
    python benchmarks/bench_outcomes.py --children 20000

Synthesises children with AP trajectories and NCCIS activity, ingests them, and gives each
record its true child (truth.csv) instead of running the linkage model: the report's cost
does not depend on how the identities were found, and linking is benchmarked by
bench_link.py. The store is built once and kept under ``--work`` (bench-out/ by default,
``outcomes-<children>-<seed>/``), so later runs reuse it.

Then it times ``linkage outcomes report`` end to end as a user runs it (a fresh process:
open the store, the measures SQL, aggregation with disclosure control, HTML, PDF and CSV),
and, in this process, the steps on their own: the release (every breakdown and cohort protected
together, docs/outcomes.md) with its figures, hidden figures and moves, then one breakdown's tables. The target is under 60 s for the
1,000,000-record population.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

from linkage.connectors import ingest_file
from linkage.outcomes.build import outcomes_from, read_frames
from linkage.outcomes.release import Release
from linkage.outcomes.measures import Options
from linkage.outcomes.nccis import load_nccis
from linkage.outcomes.report import write_report
from linkage.reference import KINDS, load_reference, sample_path
from linkage.store import Store
from linkage.synth import synthesise

READY = "ready.txt"     # written last: the extract date, once the store is complete


def build(home: Path, children: int, seed: int) -> date:
    """The store for ``children``, reused when a complete one is already at ``home``."""
    if (home / READY).exists():
        return date.fromisoformat((home / READY).read_text().strip())
    shutil.rmtree(home, ignore_errors=True)
    extracts = home / "extracts"
    manifest = synthesise(children, seed, extracts, ap_trajectories=True)
    when = date.fromisoformat(manifest["extract_date"])
    store = Store(home / "data")
    for kind in KINDS:
        load_reference(store, kind, sample_path(kind))
    for source in ("education", "social_care", "health"):
        ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
    load_nccis(store, extracts / "nccis.csv")
    with open(extracts / "truth.csv", newline="", encoding="utf-8") as fh:
        rows = [{"record_key": f"{r['source']}:{r['source_record_id']}", "child_id": f"C{int(r['person']):08d}",
                 "run_id": 1} for r in csv.DictReader(fh)]
    store.insert_df("store.identity", pd.DataFrame(rows))
    store.close()
    (home / READY).write_text(when.isoformat())
    return when


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--children", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", type=Path, default=Path("bench-out"))
    ap.add_argument("--by", default="setting")
    args = ap.parse_args()
    home = args.work / f"outcomes-{args.children}-{args.seed}"
    t0 = time.perf_counter()
    when = build(home, args.children, args.seed)
    built = time.perf_counter() - t0

    out = home / "report"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "linkage.cli", "outcomes", "report", "--out", str(out), "--by", args.by,
           "--as-at", when.isoformat(), "--data-dir", str(home / "data")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "COLUMNS": "200"})
    end_to_end = time.perf_counter() - t1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds the report used (all its threads): what it costs whatever else the machine runs.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load = os.getloadavg()[0]

    store = Store(home / "data")
    try:
        records = int(store.connection.execute("SELECT count(*) FROM store.identity").fetchone()[0])
        t2, c2 = time.perf_counter(), time.process_time()
        placements, units = read_frames(store.connection, Options(when))
        t3, c3 = time.perf_counter(), time.process_time()
    finally:
        store.close()
    release = Release(placements)
    t3r, c3r = time.perf_counter(), time.process_time()
    result = outcomes_from(placements, units, as_at=when, by=args.by, release=release)
    t4, c4 = time.perf_counter(), time.process_time()
    write_report(result, home / "report-steps")
    t5, c5 = time.perf_counter(), time.process_time()
    print(f"children {args.children:,} ({records:,} records): placements {len(placements):,}, "
          f"comparison units {len(units):,}")
    print(f"  build store (synth + ingest, or reuse; not the report): {built:7.1f} s")
    print(f"  `linkage outcomes report` end to end (fresh process):   {end_to_end:7.2f} s wall, "
          f"{cpu:.2f} s CPU (load average {load:.1f} at the end)")
    print("  the steps on their own, in this process (wall, CPU):")
    print(f"    measures SQL:                                          {t3 - t2:7.2f} s {c3 - c2:7.2f} s")
    print(f"    disclosure control (one release, all breakdowns):      {t3r - t3:7.2f} s {c3r - c3:7.2f} s")
    print(f"      figures {len(release.values):,}, hidden {len(release.hidden):,}, moves {len(release.moves):,}, "
          f"uncertified {release.uncertified}, headline {result.placements}")
    print(f"    tables for --by {args.by} and the comparison:            {t4 - t3r:7.2f} s {c4 - c3r:7.2f} s")
    print(f"    HTML + PDF + CSV:                                      {t5 - t4:7.2f} s {c5 - c4:7.2f} s")


if __name__ == "__main__":
    main()
