"""Issue 11: candidates just above the expected namesakes line, queued when the population's
birthdays one slip apart say most such pairs are one child (``link/decoys.py``).

The candidate rows are what ``evidence.candidates_sql`` returns (after
``complement.partner_cohorts``); the rule reads only their columns, so they are written here.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from linkage.link.decoys import LEAST_EXACT, decoy_pairs, window
from linkage.link.evidence import COINCIDENCE, SLIP_DATES, ClusterPass


def _row(i: int, cohort: int, exact: bool = True, **over) -> dict:
    return {"l": f"education:{i}", "r": f"health:{i}", "ca": f"A{i}", "cb": f"B{i}", "one_name": True,
            "dob_exact": exact, "moved": True, "swapped": False, "cohort": cohort, "middle": None,
            "former_surname": False, "historic_address": False, "cotwin": False, **over}


def _population(exact: int, decoys: int, cohort: int = 30) -> pd.DataFrame:
    """``exact`` candidate pairs born the same day and ``decoys`` born one slip apart, all with a
    common forename (about 0.08 namesakes expected per day, above ``COINCIDENCE``)."""
    return pd.DataFrame([_row(i, cohort) for i in range(exact)]
                        + [_row(1000 + i, cohort, exact=False) for i in range(decoys)])


def _queued(rows: pd.DataFrame, apart=()) -> list[tuple[str, str]]:
    found = ClusterPass()
    cluster_of = {**dict(zip(rows["l"], rows["ca"])), **dict(zip(rows["r"], rows["cb"]))}
    decoy_pairs(rows, found, cluster_of, list(apart))
    return [(a, b) for a, b, _ in found.queue]


def test_exact_dates_far_above_the_decoys_are_queued():
    # Twelve pairs born the same day, twenty born one slip apart: one stranger pair expected
    # among the twelve, so most of them are children split in two.
    assert len(_queued(_population(12, SLIP_DATES))) == 12


def test_exact_dates_no_more_than_the_decoys_predict_are_not_queued():
    # As many same-day pairs as strangers spread over the dates of birth would give: none queued.
    assert _queued(_population(12, 12 * SLIP_DATES)) == []


def test_one_pair_is_not_read_as_a_population():
    # The expected namesakes rule alone decides a single pair (too few to count).
    assert _queued(_population(LEAST_EXACT - 1, 0)) == []


def test_a_cotwin_a_second_forename_or_a_reviewer_keeps_a_pair_out():
    rows = _population(12, 0)
    rows.loc[0, "cotwin"] = True
    rows.loc[1, "one_name"] = False
    queued = _queued(rows, apart=[("education:2", "health:2")])
    assert ("education:0", "health:0") not in queued and ("education:1", "health:1") not in queued
    assert ("education:2", "health:2") not in queued


def test_pairs_the_expected_namesakes_rule_queues_are_left_to_it():
    # A rare forename (below COINCIDENCE) is the first rule's; this one adds nothing for it.
    assert _queued(_population(12, 0, cohort=2)) == []


@given(st.lists(st.floats(COINCIDENCE * 1.01, 2.0), max_size=40), st.lists(st.floats(COINCIDENCE * 1.01, 2.0),
                                                                           max_size=400))
def test_the_window_keeps_at_least_half_estimated_one_child(exact, decoys):
    top = window(exact, decoys)
    n = sum(x <= top for x in exact)
    strangers = sum(x <= top for x in decoys) / SLIP_DATES
    assert top == COINCIDENCE or (n >= LEAST_EXACT and n - strangers >= n / 2)
