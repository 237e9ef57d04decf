"""Pairwise precision, recall and F1 against a truth file, and twins wrongly merged."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

__all__ = ["ClassScore", "Scores", "load_classes", "load_truth", "missed_in_queue", "score_by_class",
           "score_clusters"]


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    twins_merged: int
    twin_pairs: int

    def as_row(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "twins_merged": f"{self.twins_merged}/{self.twin_pairs}"}


def load_truth(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {f"{r['source']}:{r['source_record_id']}": r["person"] for r in csv.DictReader(fh)}


def _pairs(sizes) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def score_clusters(predicted: dict[str, str], truth: dict[str, str],
                   twins: list[tuple[str, str]] | None = None) -> Scores:
    keys = [k for k in predicted if k in truth]
    pred_sizes = Counter(predicted[k] for k in keys)
    true_sizes = Counter(truth[k] for k in keys)
    both = Counter((predicted[k], truth[k]) for k in keys)
    tp, pp, tt = _pairs(both.values()), _pairs(pred_sizes.values()), _pairs(true_sizes.values())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    merged = 0
    if twins:
        clusters_of: dict[str, set[str]] = defaultdict(set)
        for k in keys:
            clusters_of[truth[k]].add(predicted[k])
        merged = sum(1 for a, b in twins if clusters_of.get(a, set()) & clusters_of.get(b, set()))
    return Scores(precision, recall, f1, tt, pp, tp, merged, len(twins or []))


def load_twins(path: Path) -> list[tuple[str, str]]:
    if not Path(path).exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return [(r["person_a"], r["person_b"]) for r in csv.DictReader(fh)]


def missed_in_queue(predicted: dict[str, str], truth: dict[str, str],
                    queue: list[tuple[str, str]]) -> tuple[int, int]:
    """(true pairs left in two children, how many of them a queued pair would join).

    A reviewer's "match" on a queued pair joins its two children, so a missed pair counts as
    queued when some queued pair joins the same two children.
    """
    joined = {frozenset((predicted.get(a), predicted.get(b))) for a, b in queue}
    people: dict[str, Counter] = defaultdict(Counter)
    for key, person in truth.items():
        if key in predicted:
            people[person][predicted[key]] += 1
    missed = queued = 0
    for children in people.values():
        for (ca, na), (cb, nb) in combinations(sorted(children.items()), 2):
            missed += na * nb
            queued += na * nb if frozenset((ca, cb)) in joined else 0
    return missed, queued


@dataclass
class ClassScore:
    """Links made for the records of one error class, counted from each such record's side."""

    name: str
    records: int
    true_links: int         # the record's true partners
    found: int              # of them, put in the record's child
    predicted: int          # the record's partners in its child

    @property
    def recall(self) -> float:
        return self.found / self.true_links if self.true_links else 1.0

    @property
    def precision(self) -> float:
        return self.found / self.predicted if self.predicted else 1.0


def load_classes(path: Path) -> dict[str, str]:
    """``source,source_record_id,class`` (other columns ignored): the error class of each record."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return {f"{r['source']}:{r['source_record_id']}": r["class"] for r in csv.DictReader(fh)}


def score_by_class(predicted: dict[str, str], truth: dict[str, str], classes: dict[str, str]) -> list[ClassScore]:
    """Recall and precision of each class's records' links, worst recall first."""
    keys = [k for k in predicted if k in truth]
    pred_sizes = Counter(predicted[k] for k in keys)
    true_sizes = Counter(truth[k] for k in keys)
    both = Counter((predicted[k], truth[k]) for k in keys)
    out: dict[str, ClassScore] = {}
    for k in keys:
        name = classes.get(k, "unclassed")
        c = out.setdefault(name, ClassScore(name, 0, 0, 0, 0))
        c.records += 1
        c.true_links += true_sizes[truth[k]] - 1
        c.found += both[(predicted[k], truth[k])] - 1
        c.predicted += pred_sizes[predicted[k]] - 1
    return sorted(out.values(), key=lambda c: (c.recall, c.name))
