"""Strong links the first pass dropped as the weaker of two children: asked, not lost.

``cluster.outclassed_links`` drops a record's link to one child when the record fits another child
by ``AMBIGUITY_GAP`` more and the two hold different UPNs or NHS numbers: the GP's William Li at
18.6 bits to his own school record and 5.0 to another William Li's, under another UPN. Such a
link is never clustered, so it is neither refused nor uncertain, and nothing queued it (issue 11:
"every missed true pair must be in the review queue"). Most of them are strangers, but not all: a
school issues a second UPN (census error 1520) and social care keeps the first. Qabil Lordan's
school record under his new UPN agrees with his GP record in every field (27.3 bits), and the GP
record's child holds his old UPN through social care (46.3 bits): the first record was dropped
and queued nowhere.

A dropped link is asked when it is strong on its own (``AMBIGUITY_GAP`` bits: sixteen times
likelier one child than not), its two records end in two children that no source holds both of
(one roll holding both is the twin guard's evidence of two children), and they hold no two NHS
numbers of their own (a GP does not issue a second one: two numbers are two children,
docs/benchmarks.md "Identifiers"). The queue's usual filters then apply (``review.undecided``,
with the reason asked as the pair's own identifiers; ``crossed``). On ``linkage synth`` realistic,
135,000 children (seed 42), 5 pairs are queued that were not, all one child; on the independent
generator's 100,000 children, 1, a pair of twins; without the source condition 12 there, none one
child (docs/benchmarks.md, "Session 32: vanish").
"""

from __future__ import annotations

import pandas as pd

from linkage.link.cluster import AMBIGUITY_GAP
from linkage.link.evidence import sources_of

__all__ = ["OUTCLASSED_REASON", "asked_outclassed"]

OUTCLASSED_REASON = ("not linked: one record fits a child holding another UPN or NHS number better "
                     "(possibly two UPNs for one pupil)")


def asked_outclassed(edges: pd.DataFrame, outclassed: set[frozenset], cluster_of: dict[str, str],
                     identifiers: dict[str, dict[str, str | None]]) -> pd.Series:
    """True for the pairs of ``edges`` (unique_id_l, unique_id_r, match_weight) among ``outclassed``
    that are strong on their own, in two children that no source holds both of, and hold no two
    NHS numbers of their own."""
    found = pd.Series(False, index=edges.index, dtype=bool)
    if not outclassed:
        return found
    keys = {k for p in outclassed for k in p}
    near = edges["unique_id_l"].isin(keys) & edges["unique_id_r"].isin(keys) & (edges["match_weight"] >= AMBIGUITY_GAP)

    held = sources_of(cluster_of, {cluster_of[k] for k in keys if k in cluster_of})

    def asked(a: str, b: str) -> bool:
        ca, cb = cluster_of.get(a), cluster_of.get(b)
        if frozenset((a, b)) not in outclassed or ca is None or cb is None or ca == cb or held[ca] & held[cb]:
            return False
        na, nb = (identifiers.get(a) or {}).get("nhs"), (identifiers.get(b) or {}).get("nhs")
        return not (na and nb and na != nb)

    found[near] = [asked(a, b) for a, b in zip(edges.loc[near, "unique_id_l"], edges.loc[near, "unique_id_r"])]
    return found
