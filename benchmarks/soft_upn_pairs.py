"""The clustering's soft UPN pairs (``secondid.second_upn_sql``: two UPNs forgiven as one pupil's)
on a linked home, without and with the days on roll, and how many of those refused are one child.

Read-only, over the home's input cache (no link is run)::

    python benchmarks/soft_upn_pairs.py HOME TRUTH_CSV
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.link.guards import cotwins_from_pairs_sql
from linkage.link.inputcache import CACHE, PAIRS
from linkage.link.secondid import second_upn_sql
from linkage.store import Store


def main(home: Path, truth_csv: Path) -> None:
    with open(truth_csv, encoding="utf-8") as f:
        truth = {f"{r['source']}:{r['source_record_id']}": r["person"] for r in csv.DictReader(f)}
    store = Store(home, read_only=True)
    try:
        store.execute(f"CREATE TABLE memory.soft_rows AS SELECT * EXCLUDE (content_sha, raw_sha) FROM {CACHE}")
        store.execute(f"CREATE TABLE memory.soft_cotwins AS {cotwins_from_pairs_sql(PAIRS)}")
        store.execute(f"""CREATE TABLE memory.soft_roll AS
SELECT i.upn, list_sort(list_distinct(flatten(list(o.on_roll_since)))) AS on_roll_since
FROM (SELECT record_key AS unique_id, on_roll_since FROM ({LINK_RECORDS_SQL}) WHERE on_roll_since IS NOT NULL) o
JOIN memory.soft_rows i USING (unique_id) WHERE i.upn IS NOT NULL GROUP BY i.upn""")
        before = set(store.rows(second_upn_sql("memory.soft_rows", "memory.soft_cotwins")))
        after = set(store.rows(second_upn_sql("memory.soft_rows", "memory.soft_cotwins", "memory.soft_roll")))
    finally:
        store.close()
    refused = sorted(before - after)
    one = [p for p in refused if truth.get(p[0]) is not None and truth.get(p[0]) == truth.get(p[1])]
    print(f"soft UPN pairs {len(before)} -> {len(after)}; refused {len(refused)}, of them one child {len(one)}")
    for a, b in refused:
        print(f"  {a} ({truth.get(a)})  {b} ({truth.get(b)})")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
