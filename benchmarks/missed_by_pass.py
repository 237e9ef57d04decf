"""The second pass alone, with the code on the path, over the children a bench_link run left
before it: what it links and queues (by reason, against the truth) and which of that run's
unqueued missed true pairs it would reach, by class. A rule of the pass can be judged in
seconds on a saved 250k run instead of a whole link run (the first pass is taken as saved:
``ours_pred.json`` is the run's final children, so pairs the saved pass linked are not asked
again). Reads the work directory only (in-memory tables).

    python benchmarks/missed_by_pass.py /tmp/x/synth-135000-42-realistic [--out pass.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from missed_pairs import _classes, missed_not_queued

    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link.engine import LinkEngine
    from linkage.store import Store

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--out", type=Path, help="write the pass's links and queue here (JSON)")
    args = ap.parse_args()
    missed, pred, truth = missed_not_queued(args.work)
    classes = _classes(args.work)
    store = Store(args.work / "ours")
    try:
        engine = LinkEngine(store, CURRENT_RECORDS_SQL)
        ids = engine.identifiers()
        started = time.perf_counter()
        found = engine.cluster_pass({k: pred.get(k, k) for k in ids}, ids, [])
        print(f"second pass {time.perf_counter() - started:.1f} s")
    finally:
        store.close()

    def same(a: str, b: str) -> bool:
        return truth.get(a) is not None and truth.get(a) == truth.get(b)

    print(f"links {len(found.links)} ({sum(same(a, b) for a, b in found.links)} true)")
    queued, true = Counter(), Counter()
    for a, b, why in found.queue:
        reason = why.split(" (")[0]
        queued[reason] += 1
        true[reason] += same(a, b)
    for reason, n in queued.most_common():
        print(f"  {n:6} {true[reason]:6} true  {reason}")
    print(f"queue {len(found.queue)} ({sum(true.values())} true)")
    reached = {frozenset((pred[a], pred[b])) for a, b, *_ in (*found.queue, *found.links)}
    left = [(a, b) for a, b in missed if frozenset((pred[a], pred[b])) not in reached]

    def cls(a: str, b: str) -> str:
        return ",".join(sorted(classes.get(a, set()) | classes.get(b, set()))) or "(none)"

    before, after = Counter(cls(a, b) for a, b in missed), Counter(cls(a, b) for a, b in left)
    print(f"missed true pairs not queued: {len(missed)} in the run, {len(left)} after this pass")
    for c, n in before.most_common():
        print(f"  {n:6} -> {after.get(c, 0):6}  {c}")
    if args.out:
        args.out.write_text(json.dumps({"links": found.links, "queue": found.queue}))


if __name__ == "__main__":
    main()
