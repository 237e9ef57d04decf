"""Linkage quality per error class on `linkage synth` data of a given difficulty.

    python benchmarks/bench_classes.py --children 5000 --difficulty realistic

Prints precision, recall, F1, twins merged, the review queue (size, share of records,
share of queued pairs that are true matches, share of missed true pairs that are queued, i.e. whose
two children a queued pair joins),
and for each class of injected error (truth_classes.csv) the true pairs touching a record
of that class and how many were missed (not in one cluster) or queued.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date
from itertools import combinations
from pathlib import Path

def run(children: int, seed: int, level: str, work: Path) -> dict:
    from linkage.link import load_truth, load_twins, run_link, score_clusters
    from linkage.store import Store
    from linkage.synth import ingest_extracts, synthesise

    ext = work / "extracts"
    manifest = synthesise(children, seed, ext, level=level)
    when = date.fromisoformat(manifest["extract_date"])
    t0 = time.perf_counter()
    store = Store(work / "data")
    ingest_extracts(store, ext, when)            # with the second files (early help, AP roll)
    result = run_link(store)
    elapsed = time.perf_counter() - t0
    pred = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
    queue = store.rows("SELECT record_key_l, record_key_r, reason FROM store.review_queue")
    store.close()
    truth = load_truth(ext / "truth.csv")
    scores = score_clusters(pred, truth, load_twins(ext / "twins.csv"))
    report = class_report(pred, queue, truth, ext / "truth_classes.csv", result.records)
    return {"difficulty": level, "children": children, "records": result.records, "seconds": round(elapsed, 1),
            **scores.as_row(), **report}


def class_report(pred: dict[str, str], queue: list[tuple[str, str, str]], truth: dict[str, str],
                 classes_csv: Path, records: int) -> dict:
    """The review queue's shape and, per injected error class (``truth_classes.csv``), the true pairs
    touching a record of that class, how many were missed (not in one cluster) and how many of those
    were queued. ``queue``: (record_key_l, record_key_r, reason) rows."""
    classes: dict[str, set[str]] = defaultdict(set)
    if classes_csv.exists():
        with open(classes_csv, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                classes[f"{r['source']}:{r['source_record_id']}"].add(r["class"])
    by_person: dict[str, list[str]] = defaultdict(list)
    for k, p in truth.items():
        if k in pred:
            by_person[p].append(k)
    # A missed pair counts as queued when a queued pair joins the same two children: a reviewer's
    # "match" on it brings the missed pair together too.
    queued = {frozenset((pred.get(a), pred.get(b))) for a, b, _ in queue}
    true_queued = sum(1 for a, b, _ in queue if truth.get(a) == truth.get(b))
    per_class: dict[str, Counter] = defaultdict(Counter)
    missed_total = missed_queued = 0
    for keys in by_person.values():
        for a, b in combinations(sorted(keys), 2):
            missed = pred[a] != pred[b]
            q = frozenset((pred[a], pred[b])) in queued
            missed_total += missed
            missed_queued += missed and q
            for k in (classes.get(a, set()) | classes.get(b, set())) or {"(none)"}:
                per_class[k]["pairs"] += 1
                per_class[k]["missed"] += missed
                per_class[k]["missed_queued"] += missed and q
    reasons = Counter(r for _, _, r in queue)
    in_queue = {k for a, b, _ in queue for k in (a, b)}
    return {"queue": len(queue), "queue_share_of_records": round(len(queue) / records, 4),
            "queue_records_share": round(len(in_queue) / records, 4),
            "queue_true_share": round(true_queued / len(queue), 3) if queue else None,
            "missed_pairs": missed_total, "missed_pairs_queued": missed_queued,
            "queue_reasons": dict(reasons), "per_class": {k: dict(v) for k, v in sorted(per_class.items())}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--difficulty", default="realistic")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = run(args.children, args.seed, args.difficulty, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    per_class = out.pop("per_class")
    print(json.dumps(out))
    print(f"{'class':22} {'pairs':>7} {'missed':>7} {'queued':>7}")
    for k, v in per_class.items():
        print(f"{k:22} {v.get('pairs', 0):7d} {v.get('missed', 0):7d} {v.get('missed_queued', 0):7d}")


if __name__ == "__main__":
    main()
