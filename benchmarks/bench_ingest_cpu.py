"""CPU seconds of the Python halves of ingest and identity, steady under load.

    python benchmarks/bench_ingest_cpu.py --extracts /tmp/s17/base250/synth-135000-42-easy/extracts-m1
    python benchmarks/bench_ingest_cpu.py --extracts DIR --assign 1000000

Eight engineers share two cores, so wall times say little; CPU seconds (user + system, every
thread) of the lowest of ``--repeat`` runs move much less. For each CSV extract: opening it and
``read_columnar`` (reading, validating distinct values, building Arrow tables; no store). With
``--assign N``: ``assign_ids`` on a first run of N records in N/2 clusters (no previous ids).
Run it from two trees (old and new) to compare them.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from pathlib import Path


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def read_cpu(extracts: Path, repeat: int) -> dict[str, float]:
    from linkage.connectors.columnar import read_columnar
    from linkage.connectors.ingest import _connector
    from linkage.connectors.mapping import default_mapping_path, load_mapping
    from linkage.connectors.readers import open_extract

    when = date.fromisoformat(json.loads((extracts / "manifest.json").read_text())["extract_date"])
    best = {}
    for source in ("education", "social_care", "health"):
        mapping = load_mapping(default_mapping_path(source))
        times = []
        for _ in range(repeat):
            t0 = _cpu()
            extract = open_extract(extracts / f"{source}.csv", mapping.encoding, mapping.delimiter, None,
                                   set(mapping.all_columns()))
            read_columnar(extract, _connector(source), mapping, when)
            times.append(_cpu() - t0)
        best[source] = min(times)
    return best


def assign_cpu(n: int, repeat: int) -> float:
    from linkage.identity import assign_ids

    clusters = {f"health:P{i:09d}": f"c{i // 2:08d}" for i in range(n)}
    times = []
    for _ in range(repeat):
        t0 = _cpu()
        assign_ids(clusters, {}, {})
        times.append(_cpu() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extracts", type=Path, required=True, help="a directory of linkage synth extracts")
    ap.add_argument("--assign", type=int, default=0, help="also time assign_ids on this many records")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for source, s in read_cpu(args.extracts, args.repeat).items():
        print(f"read_columnar {source:12} {s:6.2f} CPU s (min of {args.repeat})")
    if args.assign:
        print(f"assign_ids {args.assign:,} records {assign_cpu(args.assign, args.repeat):6.2f} CPU s (min of {args.repeat})")


if __name__ == "__main__":
    main()
