"""Labels-based precision and recall: an empty denominator is "not known", never a perfect score."""

from linkage.link.quality import decision_quality
from linkage.link.review import Decision


def _decision(i: int, decision: str, probability: float) -> Decision:
    return Decision(i, f"p{i}", f"a{i}", f"b{i}", None, None, decision, "pair", None, probability, None,
                    "reviewer", "", "cli", None, "2026-11-26T00:00:00+00:00")


def test_no_linked_pair_leaves_precision_unknown():
    q = decision_quality([_decision(1, "not_match", 0.2), _decision(2, "not_match", 0.4)], 0.9)
    assert (q.tp, q.fp, q.fn, q.tn) == (0, 0, 0, 2)
    assert q.precision is None and q.recall is None and q.f1 is None


def test_no_decided_match_leaves_recall_unknown_but_precision_counts():
    q = decision_quality([_decision(1, "not_match", 0.95), _decision(2, "not_match", 0.1)], 0.9)
    assert q.precision == 0.0 and q.recall is None and q.f1 is None


def test_defined_measures_are_computed():
    q = decision_quality([_decision(1, "match", 0.95), _decision(2, "match", 0.5),
                          _decision(3, "not_match", 0.97), _decision(4, "not_match", 0.1)], 0.9)
    assert (q.precision, q.recall) == (0.5, 0.5) and q.f1 == 0.5
