"""Precision and recall estimated from reviewers' decisions, with Splink's
``linker.evaluation.accuracy_analysis_from_labels_table``.

The labels are the latest decision on each pair whose records are still current: "match" scores 1,
"not a match" (and "split this record out") 0; "unsure" is left out. They come from the review
queue, so they sample the hard, borderline pairs: the figures say how well the model does where it
is least sure, not across all pairs, and they move as more decisions come in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.errors import LinkageError
from linkage.link.engine import TF_COLUMNS, LinkEngine
from linkage.link.review import Decision, ReviewDecisions
from linkage.store import Store
from linkage.store.schema import t

__all__ = ["Quality", "decision_quality", "label_quality"]


@dataclass(frozen=True)
class Quality:
    labels: int
    positives: int
    negatives: int
    threshold: float
    precision: float | None     # None when the model linked none of the labelled pairs (0/0)
    recall: float | None        # None when no labelled pair is a match
    f1: float | None
    tp: int
    fp: int
    fn: int
    tn: int


def _measures(labels: int, positives: int, tp: int, fp: int, fn: int, tn: int, threshold: float) -> Quality:
    # An empty denominator is "not known", not perfect: 0/0 reported as 1.0 would tell a data
    # manager with no decided matches that the model misses nothing.
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall) if precision + recall else 0.0) \
        if precision is not None and recall is not None else None
    return Quality(labels, positives, labels - positives, threshold, precision, recall, f1, tp, fp, fn, tn)


def decision_quality(decisions: list[Decision], threshold: float) -> Quality | None:
    """Precision and recall at ``threshold`` from the latest decision on each pair, scored as the
    model scored the pair when the reviewer saw it (the probability kept with the decision).

    Needs no store, so a server running detached can answer it live. Pairs without a score
    ("split this record out") and "unsure" are left out; None when nothing is labelled.
    ``label_quality`` re-scores the labels with the current model instead (``linkage quality``).
    """
    labelled = [d for d in decisions if d.decision in ("match", "not_match") and d.match_probability is not None]
    if not labelled:
        return None
    tp = sum(d.decision == "match" and d.match_probability >= threshold for d in labelled)
    fn = sum(d.decision == "match" and d.match_probability < threshold for d in labelled)
    fp = sum(d.decision == "not_match" and d.match_probability >= threshold for d in labelled)
    return _measures(len(labelled), tp + fn, tp, fp, fn, len(labelled) - tp - fn - fp, threshold)


def label_quality(store: Store, decisions: ReviewDecisions, threshold: float) -> Quality:
    model = store.rows(f"SELECT settings_json FROM {t('model')} ORDER BY created_at DESC LIMIT 1")
    if not model:
        raise LinkageError("no model yet: run `linkage link` first")
    # A split's "kept as one child" is an affirmation of pairs nobody queued, not a sampled label.
    latest = [d for d in decisions.latest().values() if d.decision == "not_match"
              or (d.decision == "match" and d.kind != "split")]
    if not latest:
        raise LinkageError("no review decisions yet: decide some pairs with `linkage review decide`")
    settings = json.loads(model[0][0])
    settings["retain_matching_columns"] = True      # Splink needs them to score the labelled pairs
    engine = LinkEngine(store, LINK_RECORDS_SQL)
    engine.linker(json.dumps(settings))
    for col in TF_COLUMNS:
        engine.linker().table_management.compute_tf_table(col)
    labels = engine.labels_table([(d.record_key_l, d.record_key_r) for d in latest],
                                 [1.0 if d.decision == "match" else 0.0 for d in latest])
    used = engine.con.execute(f"SELECT count(*), sum(clerical_match_score) FROM {labels.physical_name}").fetchone()
    if not used[0]:
        raise LinkageError("no decided pair has both records still current")
    table = engine.linker().evaluation.accuracy_analysis_from_labels_table(
        labels, threshold_match_probability=threshold, match_weight_round_to_nearest=0.01,
        output_type="table").as_pandas_dataframe().sort_values("truth_threshold")
    # Each row classifies as matches the labelled pairs whose weight is at least its truth_threshold (a
    # labelled pair's weight): the pairs linked at the threshold are those of the first row at or above it.
    weight = math.log2(threshold / (1 - threshold))
    above = table[table["truth_threshold"] >= weight - 1e-9]
    positives, total = int(used[1] or 0), int(used[0])
    if above.empty:
        tp, fp, fn, tn = 0, 0, positives, total - positives
    else:
        tp, fp, fn, tn = (int(above.iloc[0][k]) for k in ("tp", "fp", "fn", "tn"))
    return _measures(total, positives, tp, fp, fn, tn, threshold)
