"""Crossed pairs of two namesakes: the review queue's pairs that join one child's record to the other's.

Two children who share a forename, a surname, a date of birth and a sex (namesakes, or twins given
one name) are often each held by the same two sources: the school holds both under two UPNs, the GP
both under two NHS numbers, each child's two records at its own home. The twin guard keeps all four
apart (a co-twin in each extract fits as well by name), and every pair between them is queued: each
child's own two records, and the two *crossed* pairs (one child's school record with the other's GP
record), and the GP's two records of two NHS numbers. Only the first two can be one child.

A queued pair is crossed when each of its records fits a record *other* than its partner better, by
``AMBIGUITY_GAP`` in match weight (16 times likelier), and those better partners say the pair is two
children by their identifiers (``cluster``'s test: two values of one kind):

* records of two sources (school ``a``, GP ``b'``): ``a`` fits the GP's ``b`` better, and ``b`` and
  ``b'`` hold two NHS numbers; ``b'`` fits the school's ``a'`` better, and ``a'`` and ``a`` hold two
  UPNs. Both sources hold two children, and each record has its own;
* records of one source holding two values of its identifier (the GP's ``b``, ``b'``): each fits a
  record of another source better (``a``, ``a'``), and those two hold two values of theirs.

On the independent generator's 100,000 children (seed 73, session 28) 145 of the queue's 1,058 pairs
had this shape (92 of them twin-guarded strangers at two homes, 34 "uncertain" pairs of the GP's two
NHS numbers, the rest strangers or twins queued for other reasons), none of them one child; over
the queue of 1,000,000 ``linkage synth`` realistic records 136 of 7,129, none one child
(docs/benchmarks.md). A child held twice by one source under two identifiers (a second UPN, a
second GP registration) has no second child in the other source for its records to fit better, so
its pairs stay queued.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd

from linkage.link.cluster import AMBIGUITY_GAP, two_by_identifiers

__all__ = ["crossed"]


def _source(key: str) -> str:
    return key.split(":", 1)[0]


def crossed(band: pd.DataFrame, edges: pd.DataFrame, cluster_of: dict[str, str],
            identifiers: dict[str, dict[str, str | None]], lower: float = 0.2,
            gap: float = AMBIGUITY_GAP) -> pd.Series:
    """True for the band pairs (unique_id_l, unique_id_r, match_weight) that are crossed (see the
    module docstring); ``edges`` are the run's scored pairs, read only where they touch the band.
    A pair the model did not score (a second-pass pair) is taken at the weight of ``lower``, the
    least probability an edge is kept at: at most that, if its records were compared at all."""
    floor = math.log2(lower / (1 - lower))
    if band.empty:
        return pd.Series(False, index=band.index, dtype=bool)
    keys = set(band["unique_id_l"]) | set(band["unique_id_r"])
    near = edges[edges["unique_id_l"].isin(keys) | edges["unique_id_r"].isin(keys)]
    partners: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for a, b, w in zip(near["unique_id_l"], near["unique_id_r"], near["match_weight"]):
        if pd.notna(w):
            partners[a].append((w, b))
            partners[b].append((w, a))

    def two(x: str, y: str) -> bool:
        return two_by_identifiers(identifiers.get(x), identifiers.get(y), False)

    def better(x: str, other: str, w: float, same_source: bool) -> list[str]:
        """Records fitting ``x`` by ``gap`` more than ``other`` does, not in ``other``'s child, of
        ``other``'s source (``same_source``) or of a source other than ``x``'s."""
        theirs = cluster_of.get(other)
        return [z for wz, z in partners.get(x, ()) if wz >= w + gap and z != other and cluster_of.get(z) != theirs
                and (_source(z) == _source(other) if same_source else _source(z) != _source(x))]

    def is_crossed(left: str, right: str, w: float) -> bool:
        if cluster_of.get(left) is None or cluster_of.get(left) == cluster_of.get(right):
            return False
        w = floor if pd.isna(w) else w
        if _source(left) != _source(right):
            return (any(two(z, right) for z in better(left, right, w, True))
                    and any(two(y, left) for y in better(right, left, w, True)))
        if not two(left, right):
            return False
        zs, ys = better(left, right, w, False), better(right, left, w, False)
        return any(z != y and cluster_of.get(z) != cluster_of.get(y) and two(z, y) for z in zs for y in ys)

    return pd.Series([is_crossed(a, b, w) for a, b, w in zip(band["unique_id_l"], band["unique_id_r"],
                                                             band["match_weight"])], index=band.index, dtype=bool)
