"""Benchmark the AP outcomes report on a synthetic population.

    python benchmarks/bench_outcomes.py --children 20000

Synthesises children with AP trajectories and NCCIS activity, ingests them, and gives each
record its true child (truth.csv) instead of running the linkage model: the report's cost
does not depend on how the identities were found, and linking is benchmarked by
bench_link.py. Then times the three steps of `linkage outcomes report`: the measures SQL
(placements and comparison units), aggregation with disclosure control, and writing HTML,
PDF and CSV. The target is under 60 s for the 1,000,000-child population.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from linkage.connectors import ingest_file
from linkage.outcomes.build import outcomes_from, read_frames
from linkage.outcomes.measures import Options
from linkage.outcomes.nccis import load_nccis
from linkage.outcomes.report import write_report
from linkage.reference import KINDS, load_reference, sample_path
from linkage.store import Store
from linkage.synth import synthesise


def build(work: Path, children: int, seed: int) -> tuple[Store, date]:
    extracts = work / "extracts"
    manifest = synthesise(children, seed, extracts, ap_trajectories=True)
    when = date.fromisoformat(manifest["extract_date"])
    store = Store(work / "data", key="b" * 64)
    for kind in KINDS:
        load_reference(store, kind, sample_path(kind))
    for source in ("education", "social_care", "health"):
        ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
    load_nccis(store, extracts / "nccis.csv")
    with open(extracts / "truth.csv", newline="", encoding="utf-8") as fh:
        rows = [{"record_key": f"{r['source']}:{r['source_record_id']}", "child_id": f"C{int(r['person']):08d}",
                 "run_id": 1} for r in csv.DictReader(fh)]
    store.insert_df("store.identity", pd.DataFrame(rows))
    return store, when


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--children", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        store, when = build(work, args.children, args.seed)
        t1 = time.perf_counter()
        placements, units = read_frames(store.connection, Options(when))
        t2 = time.perf_counter()
        result = outcomes_from(placements, units, as_at=when, by="setting")
        t3 = time.perf_counter()
        write_report(result, work / "report")
        t4 = time.perf_counter()
        store.close()
    print(f"children {args.children:,}: placements {len(placements):,}, comparison units {len(units):,}")
    print(f"  build store (synth + ingest, not timed as the report): {t1 - t0:7.1f} s")
    print(f"  measures SQL:                                          {t2 - t1:7.2f} s")
    print(f"  aggregate + disclosure control:                        {t3 - t2:7.2f} s")
    print(f"  HTML + PDF + CSV:                                      {t4 - t3:7.2f} s")
    print(f"  report total:                                          {t4 - t1:7.2f} s")


if __name__ == "__main__":
    main()
