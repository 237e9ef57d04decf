"""Benchmark: everything a full link does after Splink's predict, on a copy of a linked store.

    python benchmarks/bench_after_predict.py --store /tmp/s17/base250/synth-135000-42-easy/ours \
        --work /tmp/after-predict --fresh

The copy is linked again with its saved model and Splink's predict replaced by the pairs the
store holds, so the twin guard's pairs, clustering, the second pass, identity, the review queue
and the save run on real input without training or scoring. ``--fresh`` drops the link's results
first (the tables made again empty), so the save is a first run's, as in a new data directory.
Prints each stage's wall time and peak memory, and digests of the result (the partition into
children, the queue, the pairs, the record hashes) to compare two versions of the code.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stageprof import print_profile, profile  # noqa: E402

RESULTS = ("identity", "linked_records", "link_edges", "child_ids", "identity_history", "review_queue",
           "term_frequencies", "runs")


def _digest(rows) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True, help="a linked data directory (not written to)")
    ap.add_argument("--work", type=Path, required=True, help="where the copy is made (replaced)")
    ap.add_argument("--fresh", action="store_true", help="drop the link's results first: a first run's save")
    args = ap.parse_args()
    prof = profile()
    from linkage.link import run_link
    from linkage.link.engine import LinkEngine
    from linkage.store import Store

    home = args.work / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(args.store, home)
    store = Store(home)
    edges = store.df("SELECT record_key_l AS unique_id_l, record_key_r AS unique_id_r, match_probability, "
                     "match_weight, guarded FROM store.link_edges ORDER BY 1, 2")
    if args.fresh:       # dropped, and made again empty by the store's DDL on opening
        for table in RESULTS:
            store.execute(f"DROP TABLE store.{table}")
        store.close()
        store = Store(home)

    def stored(self, lower: float):
        self._tf()
        return edges.copy()

    LinkEngine.predict_full = prof.wrap(stored, "scoring: predict (the stored pairs)")
    t0 = time.perf_counter()
    result = run_link(store, full=True, step=lambda s, d: print(f"{time.perf_counter() - t0:8.1f} {s}: {d}",
                                                                flush=True))
    total = time.perf_counter() - t0
    children = defaultdict(list)
    for key, child in store.rows("SELECT record_key, child_id FROM store.identity"):
        children[child].append(key)
    partition = sorted(sorted(keys) for keys in children.values())
    print(f"\nrun_link {total:.1f} s; {result.records} records, {result.children} children, "
          f"{result.review_pairs} queued")
    print("digests: partition", _digest(partition), "queue", _digest(store.rows(
        "SELECT record_key_l, record_key_r, reason, cluster_size, match_probability FROM store.review_queue "
        "ORDER BY 1, 2")), "pairs", _digest(store.rows(
            "SELECT record_key_l, record_key_r, match_probability, guarded FROM store.link_edges ORDER BY 1, 2")),
          "hashes", _digest(store.rows("SELECT record_key, content_sha, guard_sha FROM store.linked_records "
                                       "ORDER BY 1")))
    print_profile("after predict", prof.report())
    store.close()


if __name__ == "__main__":
    main()
