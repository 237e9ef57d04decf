"""Do two linked data directories hold the same linkage? A before/after check for a speed change.

    python benchmarks/same_link.py BEFORE_HOME AFTER_HOME

Compares, read-only, what a run decides: the clusters (which records share a child; the child
identifiers themselves are random, so the partition is compared, not the ids), the scored pairs
(with probability, weight and the twin guard's flag) and the open review queue (each pair with
its reason, probability and weight). Prints what differs, a few examples each, and exits 1 if
anything does. Probabilities and weights are compared to a relative ``TOLERANCE``: two trainings
of one model on one population differ in about the 12th digit (the order in which DuckDB's threads
add), whatever the code.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

# Relative difference allowed in a probability or weight (see above).
TOLERANCE = 1e-9


def _partition(store) -> set[frozenset]:
    groups: dict[str, set[str]] = {}
    for key, child in store.rows("SELECT record_key, child_id FROM store.identity WHERE record_key IN "
                                 "(SELECT record_key FROM store.linked_records)"):
        groups.setdefault(child, set()).add(key)
    return {frozenset(g) for g in groups.values()}


def _pairs(store) -> dict[tuple, tuple]:
    """(left, right, guarded) -> (probability, weight)."""
    return {(min(l, r), max(l, r), bool(g)): (p, w)
            for l, r, p, w, g in store.rows("SELECT record_key_l, record_key_r, match_probability, match_weight, "
                                            "guarded FROM store.link_edges")}


def _queue(store) -> dict[tuple, tuple]:
    """(left, right, reason) -> (probability, weight)."""
    return {(min(l, r), max(l, r), why): (p, w)
            for l, r, why, p, w in store.rows("SELECT record_key_l, record_key_r, reason, match_probability, "
                                              "match_weight FROM store.review_queue WHERE status = 'open'")}


def snapshot(home: Path) -> dict:
    from linkage.store import Store

    store = Store(home, read_only=True)
    try:
        return {"clusters": _partition(store), "pairs": _pairs(store), "queue": _queue(store)}
    finally:
        store.close()


def _near(a: tuple, b: tuple) -> bool:
    return all(x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE))
               for x, y in zip(a, b))


def compare(before: dict, after: dict, show: int = 5) -> bool:
    same = True
    for what in before:
        old, new = before[what], after[what]
        gone, added = set(old) - set(new), set(new) - set(old)
        moved = sorted(k for k in set(old) & set(new) if isinstance(old, dict) and not _near(old[k], new[k]))
        print(f"{what}: {len(old)} before, {len(new)} after, {len(gone)} only before, {len(added)} only after"
              + (f", {len(moved)} with another score" if isinstance(old, dict) else ""))
        for label, items in (("only before", gone), ("only after", added)):
            for item in sorted(items, key=lambda x: sorted(x) if isinstance(x, frozenset) else x)[:show]:
                print(f"  {label}: {sorted(item) if isinstance(item, frozenset) else item}")
        for k in moved[:show]:
            print(f"  another score: {k} {old[k]} -> {new[k]}")
        same = same and not gone and not added and not moved
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
