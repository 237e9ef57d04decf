"""How many namesakes are strangers, read from the population: birthdays one slip apart as decoys.

The expected namesakes rule (``evidence.coincidences``) queues a candidate pair with a new
surname and a move when few children are expected by chance to share its forename and birthday
(``COINCIDENCE``). Whether a pair just above that line is worth a reviewer's time depends on how
many children in *this* population are split in two (a school that missed a change of name, a GP
list that missed a move): in one population most such pairs are one child, in another none are.
The data says which, without any truth:

Strangers who share a forename code are spread evenly over the dates of birth: for every
stranger pair born on the same day there are about ``SLIP_DATES`` (20) born one slip apart (a
transposition, one character within the month), and each candidate's rate (children expected by
chance per day: ``coincidences`` over 1 or ``SLIP_DATES``) is the same for both. One child split
in two keeps its date of birth far more often than not. So among the candidates with a rate in a
window above ``COINCIDENCE``, the pairs born one slip apart, divided by ``SLIP_DATES``, estimate
how many of those born the same day are strangers (target and decoy, as in proteomics' false
discovery rate). The exact-date candidates are queued, never linked, up to the rate where the
estimate gains most (``window``): each widening kept adds pairs estimated at least ``FLOOR`` one
child, and at least ``LEAST_EXACT`` are in it, so that a count, not a single pair, is read.

True pairs among the decoys (a date of birth typed with a slip) only make the estimate of
strangers larger: the rule errs towards queueing less. Only candidates with the forename as one
name, and no co-twin in view, are counted on either side.

A candidate with a **co-twin in view** (a sibling of that birthday in either record's own extract)
is not counted, and until session 25 was not queued either: yet with a new surname and a move the
co-twin is not the candidate (it keeps the family's surname and home). Such a pair is queued inside
the same window when nothing else could be the other half (``twin_in_view``): the forename written
the same, no source holding both children (a source holds a child once), and neither child met by
a second candidate born that day. At 1,000,000 realistic records (seed 42) the window then queued
97 more pairs of children, 62 one child; without these three conditions, 248 of which 100 one child.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from linkage.link.complement import settled, sources_of
from linkage.link.evidence import COINCIDENCE, SLIP_DATES, ClusterPass, _evidence, coincidences

__all__ = ["DECOY_REASON", "FLOOR", "LEAST_EXACT", "decoy_pairs", "twin_in_view", "window"]

DECOY_REASON = ("possible change of surname and address: same forename and birthday, in a population where "
                "such pairs are mostly one child ({evidence})")
# Share of the queued exact-date candidates estimated to be one child, at least (the queue's own target).
FLOOR = 0.5
# Fewest exact-date candidates the estimate is read over.
LEAST_EXACT = 10


def _rates(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of children: its best record pair's rate (children expected by chance per day)."""
    recs = rows.to_dict("records")
    rate = [coincidences({**r, "evidence": _evidence(r)}) / (1 if r["dob_exact"] else SLIP_DATES) for r in recs]
    out = rows.assign(rate=rate, kids=[frozenset((r["ca"], r["cb"])) for r in recs])
    return out.sort_values(["rate", "l", "r"]).drop_duplicates("kids")


def window(exact: list[float], decoys: list[float]) -> float:
    """The rate up to which queueing the exact-date candidates (``exact``: their rates, above
    ``COINCIDENCE``) gains most, given the one-slip candidates' rates (``decoys``): each pair
    estimated one child counts ``1 - FLOOR``, each estimated strangers ``FLOOR``, so every widening
    kept adds pairs estimated at least ``FLOOR`` one child. ``COINCIDENCE`` (nothing added) when
    no window of at least ``LEAST_EXACT`` pairs gains."""
    exact, decoys = sorted(exact), sorted(decoys)
    best, gain, d = COINCIDENCE, 0.0, 0
    for n, x in enumerate(exact, start=1):
        while d < len(decoys) and decoys[d] <= x:
            d += 1
        strangers = min(d / SLIP_DATES, n)
        here = (1 - FLOOR) * (n - strangers) - FLOOR * strangers
        if n >= LEAST_EXACT and here > gain:
            best, gain = x, here
    return best


def twin_in_view(moved: pd.DataFrame, top: float, cluster_of: dict[str, str]) -> pd.DataFrame:
    """The exact-date candidates of ``moved`` (``_rates``' rows, one per pair of children) with a
    co-twin in view, above ``COINCIDENCE`` and at most ``top``, whose forename is written the same,
    whose two children hold no source in common, and neither of whose children meets a second
    exact-date candidate: the pair is then the only child of that name and birthday that could be
    the other half (a stranger of a common forename is met with others)."""
    exact = moved[moved["dob_exact"].astype(bool)]
    met = Counter(c for kids in exact["kids"] for c in kids)
    twin = exact[exact["cotwin"].astype(bool) & exact["same_forename"].astype(bool)
                 & (exact["rate"] > COINCIDENCE) & (exact["rate"] <= top)]
    # Boolean Series, not lists: an empty list would select no columns instead of no rows.
    twin = twin[pd.Series([all(met[c] == 1 for c in kids) for kids in twin["kids"]], index=twin.index, dtype=bool)]
    held = sources_of(cluster_of, {c for kids in twin["kids"] for c in kids})
    return twin[pd.Series([held.get(a, frozenset()).isdisjoint(held.get(b, frozenset()))
                           for a, b in zip(twin["ca"], twin["cb"])], index=twin.index, dtype=bool)]


def decoy_pairs(rows: pd.DataFrame, found: ClusterPass, cluster_of: dict[str, str],
                apart: Iterable[tuple[str, str]]) -> float:
    """Add to ``found.queue`` the exact-date candidates of ``rows`` (``evidence.candidates_sql`` after
    ``complement.partner_cohorts``) with a new surname and a move inside the window (``window``) that
    the pass neither linked nor queued and that no twin guard or reviewer keeps apart. Returns the
    window's upper rate."""
    if rows.empty:
        return COINCIDENCE
    moved = rows[rows["moved"].astype(bool) & rows["one_name"].astype(bool)]
    if moved.empty:
        return COINCIDENCE
    moved = _rates(moved)
    pool = moved[~moved["cotwin"].astype(bool)]
    above = pool[pool["rate"] > COINCIDENCE]
    exact = above[above["dob_exact"].astype(bool)]
    top = window(list(exact["rate"]), list(above.loc[~above["dob_exact"].astype(bool), "rate"]))
    done = settled(found, cluster_of, apart)
    for row, twin in [*((r, False) for r in exact[exact["rate"] <= top].sort_values(["l", "r"]).to_dict("records")),
                      *((r, True) for r in twin_in_view(moved, top, cluster_of).sort_values(["l", "r"])
                        .to_dict("records"))]:
        if row["kids"] in done:
            continue
        done.add(row["kids"])
        said = ", ".join(f"{e} agrees" for e in _evidence(row)) or "nothing else agrees"
        found.queue.append((row["l"], row["r"], DECOY_REASON.format(evidence=said + ("; a twin is in view" if twin else ""))))
    return top
