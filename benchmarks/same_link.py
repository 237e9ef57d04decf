"""Do two linked data directories hold the same linkage? A before/after check for a speed change.

    python benchmarks/same_link.py BEFORE_HOME AFTER_HOME

Compares, read-only, what a run decides: the clusters (which records share a child; the child
identifiers themselves are random, so the partition is compared, not the ids), the scored pairs
(with probability, weight and the twin guard's flag) and the open review queue (each pair with
its reason, probability and weight). Prints what differs, a few examples each, and exits 1 if
anything does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _partition(store) -> set[frozenset]:
    groups: dict[str, set[str]] = {}
    for key, child in store.rows("SELECT record_key, child_id FROM store.identity WHERE record_key IN "
                                 "(SELECT record_key FROM store.linked_records)"):
        groups.setdefault(child, set()).add(key)
    return {frozenset(g) for g in groups.values()}


def _pairs(store) -> set[tuple]:
    return {(min(l, r), max(l, r), round(p, 12), None if w is None else round(w, 9), bool(g))
            for l, r, p, w, g in store.rows("SELECT record_key_l, record_key_r, match_probability, match_weight, "
                                            "guarded FROM store.link_edges")}


def _queue(store) -> set[tuple]:
    return {(min(l, r), max(l, r), why, None if p is None else round(p, 12), None if w is None else round(w, 9))
            for l, r, why, p, w in store.rows("SELECT record_key_l, record_key_r, reason, match_probability, "
                                              "match_weight FROM store.review_queue WHERE status = 'open'")}


def snapshot(home: Path) -> dict[str, set]:
    from linkage.store import Store

    store = Store(home, read_only=True)
    try:
        return {"clusters": _partition(store), "pairs": _pairs(store), "queue": _queue(store)}
    finally:
        store.close()


def compare(before: dict[str, set], after: dict[str, set], show: int = 5) -> bool:
    same = True
    for what in before:
        gone, new = before[what] - after[what], after[what] - before[what]
        print(f"{what}: {len(before[what])} before, {len(after[what])} after, "
              f"{len(gone)} only before, {len(new)} only after")
        for label, items in (("only before", gone), ("only after", new)):
            for item in sorted(items, key=lambda x: sorted(x) if isinstance(x, frozenset) else x)[:show]:
                print(f"  {label}: {sorted(item) if isinstance(item, frozenset) else item}")
        same = same and not gone and not new
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args()
    same = compare(snapshot(args.before), snapshot(args.after))
    print("identical" if same else "DIFFERENT")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
