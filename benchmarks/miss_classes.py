"""Every missed true pair of a bench_link run by injected class: linked, queued or lost; and the
queue by reason, against the truth. Reads only the work directory's JSON and CSV files (no store),
so it runs in seconds on a 1M run and never writes into it.

    python benchmarks/miss_classes.py /tmp/x/synth-135000-42-realistic [--json out.json]

A missed pair counts as *queued* when a queued pair joins its two children (the reviewer who
accepts it joins them). Pairs are record pairs, as bench_link's recall counts them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def reason_of(why: str) -> str:
    """A queue reason without its per-pair evidence (the part in brackets)."""
    return why.split(" (")[0]


def summarise(work: Path) -> dict:
    from missed_pairs import _classes

    from linkage.link import load_truth

    truth = load_truth(work / "extracts" / "truth.csv")
    pred = json.loads((work / "ours_pred.json").read_text())
    queue = json.loads((work / "ours_queue.json").read_text())
    classes = _classes(work)
    joined = {frozenset((pred.get(a), pred.get(b))) for a, b, *_ in queue}
    by_person: dict[str, list[str]] = defaultdict(list)
    by_child: dict[str, list[str]] = defaultdict(list)
    for k, p in truth.items():
        if k in pred:
            by_person[p].append(k)
    for k, c in pred.items():
        by_child[c].append(k)
    tp = fn = 0
    total, missed, queued = Counter(), Counter(), Counter()
    for keys in by_person.values():
        for a, b in combinations(sorted(keys), 2):
            cls = ",".join(sorted(classes.get(a, set()) | classes.get(b, set()))) or "(none)"
            total[cls] += 1
            if pred[a] == pred[b]:
                tp += 1
                continue
            fn += 1
            missed[cls] += 1
            queued[cls] += frozenset((pred[a], pred[b])) in joined
    predicted = sum(len(v) * (len(v) - 1) // 2 for v in by_child.values())
    fp = predicted - tp
    precision = tp / predicted if predicted else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    reasons, true = Counter(), Counter()
    for a, b, *why in queue:
        r = reason_of(why[0]) if why else "(none)"
        reasons[r] += 1
        true[r] += truth.get(a) is not None and truth.get(a) == truth.get(b)
    return {"records": len(pred), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall), "false_pairs": fp, "missed": fn,
            "unqueued": fn - sum(queued.values()), "queue": len(queue), "queue_true": sum(true.values()),
            "queue_records": len({k for a, b, *_ in queue for k in (a, b)}),
            "by_class": {c: {"true": total[c], "missed": missed[c], "queued": queued[c]}
                         for c in sorted(total, key=lambda c: -missed[c])},
            "by_reason": {r: {"queued": n, "true": true[r]} for r, n in reasons.most_common()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("--json", type=Path, help="write the summary here")
    args = ap.parse_args()
    s = summarise(args.work)
    print(f"{s['records']} records: P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f}; "
          f"{s['false_pairs']} false pairs; {s['missed']} missed, {s['unqueued']} of them unqueued; "
          f"queue {s['queue']} pairs (touching {s['queue_records'] / s['records']:.2%} of records, "
          f"{s['queue_true'] / max(s['queue'], 1):.1%} true)")
    print("\nmissed true pairs by class (true / missed / queued / unqueued):")
    for c, v in s["by_class"].items():
        if v["missed"]:
            print(f"  {v['true']:8} {v['missed']:6} {v['queued']:6} {v['missed'] - v['queued']:6}  {c}")
    print("\nqueue by reason (queued / true):")
    for r, v in s["by_reason"].items():
        print(f"  {v['queued']:6} {v['true']:6}  {r}")
    if args.json:
        args.json.write_text(json.dumps(s, indent=1))


if __name__ == "__main__":
    main()
