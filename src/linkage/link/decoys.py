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
the same window when nothing else could be the other half (``only_candidates``): the forename
written the same, no source holding both children (a source holds a child once), and neither child
met by a second candidate born that day. At 1,000,000 realistic records (seed 42) the window then
queued 97 more pairs of children, 62 one child; without these three conditions, 248 of which 100.

Those **only candidates** are also a population of their own. Strangers are far rarer among them
than in the whole pool (a stranger of a common forename is met with others), so the window is read
over them too (their exact-date pairs against their own one-slip decoys, no twin counted), and an
only candidate is queued up to the wider of the two windows, twin in view or not (``ONLY_REASON``
beyond the pool's). The reach follows the population: at 1,000,000 realistic records (seed 42,
session 26) the pool's window was 0.16 and the only candidates' 1.99, adding 166 pairs of children,
85 one child, no twins; at 1,000,000 easy records 0.05 and 0.08, adding 22, 2 one child. A key of
pairs under half one child is worth its place when it puts true pairs where a reviewer finds them
and keeps the *whole* queue inside its targets (at least half true, at most 2% of records): both
runs stay far inside them (docs/benchmarks.md, session 26).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from linkage.link.complement import settled, sources_of
from linkage.link.evidence import COINCIDENCE, SLIP_DATES, ClusterPass, _evidence, coincidences
from linkage.link.wording import agreement

__all__ = ["DECOY_REASON", "FLOOR", "LEAST_EXACT", "ONLY_REASON", "decoy_pairs", "only_candidates", "window"]

DECOY_REASON = ("possible change of surname and address: {agree}, in a population where "
                "such pairs are mostly one child ({evidence})")
ONLY_REASON = ("possible change of surname and address: {agree}, and no other child in view "
               "that could be the other half ({evidence})")
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


def only_candidates(moved: pd.DataFrame, cluster_of: dict[str, str]) -> pd.DataFrame:
    """The rows of ``moved`` (``_rates``' rows, one per pair of children, born the same day or one
    slip apart) that are their children's only candidate: the forename written the same, the two
    children holding no source in common, and neither child meeting an exact-date candidate of
    ``moved`` besides this one (a stranger of a common forename is met with others; a GP record
    that either of two same-name twins could be meets both)."""
    exact = moved[moved["dob_exact"].astype(bool)]
    met = Counter(c for kids in exact["kids"] for c in kids)
    same = moved[moved["same_forename"].astype(bool)]
    # Boolean Series, not lists: an empty list would select no columns instead of no rows.
    same = same[pd.Series([sum(met[c] for c in kids) == (2 if own else 0)
                           for kids, own in zip(same["kids"], same["dob_exact"].astype(bool))],
                          index=same.index, dtype=bool)]
    held = sources_of(cluster_of, {c for kids in same["kids"] for c in kids})
    return same[pd.Series([held.get(a, frozenset()).isdisjoint(held.get(b, frozenset()))
                           for a, b in zip(same["ca"], same["cb"])], index=same.index, dtype=bool)]


def decoy_pairs(rows: pd.DataFrame, found: ClusterPass, cluster_of: dict[str, str],
                apart: Iterable[tuple[str, str]]) -> float:
    """Add to ``found.queue`` the exact-date candidates of ``rows`` (``evidence.candidates_sql`` after
    ``complement.partner_cohorts``) with a new surname and a move inside the window (``window``), and
    the only candidates (``only_candidates``) inside the wider of that window and their own, that the
    pass neither linked nor queued and that no twin guard or reviewer keeps apart. Returns the
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
    only = only_candidates(moved, cluster_of)
    only = only[only["rate"] > COINCIDENCE]
    lone = only[~only["cotwin"].astype(bool)]
    lone_exact = lone["dob_exact"].astype(bool)
    reach = max(top, window(list(lone.loc[lone_exact, "rate"]), list(lone.loc[~lone_exact, "rate"])))
    only = only[only["dob_exact"].astype(bool) & (only["rate"] <= reach)]
    done = settled(found, cluster_of, apart)
    for row in [*exact[exact["rate"] <= top].sort_values(["l", "r"]).to_dict("records"),
                *only.sort_values(["l", "r"]).to_dict("records")]:
        if row["kids"] in done:
            continue
        done.add(row["kids"])
        said = ", ".join(f"{e} agrees" for e in _evidence(row)) or "nothing else agrees"
        said += "; a twin is in view" if row["cotwin"] else ""
        why = DECOY_REASON if row["rate"] <= top else ONLY_REASON
        found.queue.append((row["l"], row["r"], why.format(agree=agreement(row), evidence=said)))
    return top
