"""One child in two with no one else in view: linked without a reviewer.

The second pass (``evidence.decide``) links a candidate with a new surname and a move only when
two pieces of cluster evidence (middle name, former surname, historic address) agree, and queues
the rest that are unlikely to be a coincidence. At 250,000 realistic records that queue's largest
share was one child each: a child whose family name changed and who moved, held under the old
name by one source and the new one by another, with nothing else recorded twice. What makes the
pair one child is not a piece of evidence the two records share but the *absence of anyone else*
it could be: the expected namesakes (``evidence.coincidences``: the children with the forename's
sound code born that year that hold none of the other side's sources, over the days of a year)
are so few that a stranger on that forename and birthday is less likely than one in
``1 / LINK_COINCIDENCE``, and neither child has any other candidate.

So a candidate is linked here when all of these hold:

* the forename is one name (the same, or a nickname or other form of it), or the forename and the
  surname are swapped in one record (``guards.swapped_sql``) on one exact birthday (at 1M realistic
  126 such candidates met the other conditions, all one child; 54 more one slip apart are left queued);
* unless swapped, either the surnames and the postcodes both differ, the date of birth is exact
  and the expected namesakes (``coincidences``, after ``complement.partner_cohorts``) are at most
  ``LINK_COINCIDENCE`` (their sum over the linked pairs, the strangers the rule is expected to
  join, is what ``link_unique`` returns), a first middle name the two records share counted at its
  own share of the population's middle names (``namesakes``), not at the flat ``EVIDENCE_U``; or the two share the family name or the home (the
  evidence a stranger lacks), and the date of birth is exact or the middle name agrees;
* the two children hold no source in common (a source holds a child once: two children of one
  source are two children) and neither has a co-twin in its own extract, nor any record in a pair
  the twin guard or a reviewer keeps apart (with any child);
* each child has exactly one candidate of any kind in the pass (a second candidate, however
  weak, is a choice a reviewer makes); except for a pair with a new surname and a move that shares
  its first middle name (``_by_middle``): there only a second candidate as close (one forename, one
  birthday) is a choice, and a co-twin in view is no bar (the twin has another forename). At a
  million records most children meet some weaker candidate (a birthday one slip off, a forename
  only alike), so the plain rule grows stricter with the population: at 1M realistic (seed 42)
  this linked 294 more pairs of children, 343 true record pairs, none false, where they had been
  left to a reviewer (session 25, ``docs/benchmarks.md``).

The estimate grows with the population (a forename's cohort does): at a million records fewer
pairs clear the line than at 250,000, so the rule links fewer rather than more strangers as the
population grows. A flat share for the middle name made that fall hardest on the pairs it should
spare: at 1M realistic (seed 42, session 24's run) 354 record pairs with one forename, one
birthday, one first middle name, a new surname and a move were all one child, and most were left
to a reviewer because a common forename's cohort times a flat ``EVIDENCE_U`` of 0.01 passed the
line; a middle name is shared by two strangers about one time in 180 on average (the sum of its
squared shares, ``linkage synth``), far less for most names, more for the commonest (Olivia,
3%). Every other candidate is queued as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from linkage.link.complement import flagged, sources_of
from linkage.link.evidence import ClusterPass, _evidence, coincidences

__all__ = ["LINK_COINCIDENCE", "link_unique"]

# Most children expected by chance to share the forename and the birthday for a pair with no
# other candidate to be linked without a reviewer (a tenth of the queue's ``COINCIDENCE``; at 250k
# realistic, seed 42, all 131 pairs at or under it were one child, 2 of the 27 just above were not:
# docs/benchmarks.md).
LINK_COINCIDENCE = 0.003


def namesakes(row: dict) -> float:
    """``coincidences`` for a candidate, with a first middle name the two records share counted at
    its own share of the population's middle names (``middle_share``) rather than ``EVIDENCE_U``: a
    stranger shares a rare middle name far less often than a common one."""
    evidence = _evidence(row)
    share = row.get("middle_share")
    if share is None or pd.isna(share) or "middle name" not in evidence:
        return coincidences({**row, "evidence": evidence})
    return coincidences({**row, "evidence": [e for e in evidence if e != "middle name"]}) * float(share)


def _by_middle(row: dict) -> bool:
    """A new surname and a move, one forename, one birthday, one first middle name, and few enough
    namesakes with that middle name (``namesakes``) to link."""
    share = row.get("middle_share")
    return (flagged(row["moved"]) and flagged(row["one_name"]) and flagged(row["dob_exact"])
            and not flagged(row.get("swapped"))
            and share is not None and not pd.isna(share) and namesakes(row) <= LINK_COINCIDENCE)


def link_unique(rows: pd.DataFrame, found: ClusterPass, cluster_of: dict[str, str],
                apart: Iterable[tuple[str, str]]) -> float:
    """Move from ``found.queue`` to ``found.links`` the candidates of ``rows`` (``evidence.candidates_sql``
    after ``complement.partner_cohorts``) that the module docstring's rule links; a swap on one birthday
    is linked even where ``decide`` found it too common a forename to queue after a move. Returns the
    expected number of strangers among the pairs linked (the sum of their ``coincidences``)."""
    if rows.empty:
        return 0.0
    recs = rows.to_dict("records")
    kept_apart = {cluster_of[k] for pair in apart for k in pair if k in cluster_of}
    degree = Counter(c for kids in {frozenset((r["ca"], r["cb"])) for r in recs} for c in kids)
    exact = Counter(c for kids in {frozenset((r["ca"], r["cb"])) for r in recs
                                   if flagged(r["one_name"]) and flagged(r["dob_exact"])} for c in kids)
    linked = {frozenset((cluster_of[a], cluster_of[b])) for a, b in found.links}
    joined = {c for kids in linked for c in kids}
    best: dict[frozenset, tuple[float, dict]] = {}
    for r in recs:
        kids = frozenset((r["ca"], r["cb"]))
        if kids & kept_apart or kids & joined:
            continue
        if _by_middle(r):
            # One forename, one birthday, one rare first middle name: only another candidate as
            # close (one forename, one birthday) is a choice; a twin in view has another forename.
            if exact[r["ca"]] == 1 and exact[r["cb"]] == 1:
                best[kids] = (namesakes(r), r)
            continue
        if flagged(r["cotwin"]) or degree[r["ca"]] != 1 or degree[r["cb"]] != 1:
            continue
        if flagged(r.get("swapped")):
            if not flagged(r["dob_exact"]):
                continue
            rate = 0.0      # a forename and a surname, each the other's, on one birthday
        elif not flagged(r["one_name"]):
            continue
        elif flagged(r["moved"]):
            rate = namesakes(r)
            if not flagged(r["dob_exact"]) or rate > LINK_COINCIDENCE:
                continue
        elif flagged(r["dob_exact"]) or flagged(r["middle"]):
            rate = 0.0      # the family or the home is shared: not a namesake by chance
        else:
            continue
        if kids not in best or rate < best[kids][0]:
            best[kids] = (rate, r)
    if not best:
        return 0.0
    held = sources_of(cluster_of, {c for kids in best for c in kids})
    chosen = {kids: (rate, r) for kids, (rate, r) in best.items()
              if held[r["ca"]].isdisjoint(held[r["cb"]])}
    found.queue[:] = [q for q in found.queue if frozenset((cluster_of[q[0]], cluster_of[q[1]])) not in chosen]
    found.links.extend(sorted((r["l"], r["r"]) for _, r in chosen.values()))
    return sum(rate for rate, _ in chosen.values())
