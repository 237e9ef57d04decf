"""Issue 11: candidates just above the expected namesakes line, queued when the population's
birthdays one slip apart say most such pairs are one child (``link/decoys.py``).

The candidate rows are what ``evidence.candidates_sql`` returns (after
``complement.partner_cohorts``); the rule reads only their columns, so they are written here.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from test_cluster_evidence import pass_rows, rec

from linkage.link.decoys import DECOY_REASON, LEAST_EXACT, ONLY_REASON, decoy_pairs, window
from linkage.link.evidence import COINCIDENCE, SLIP_DATES, ClusterPass


def _row(i: int, cohort: int, exact: bool = True, **over) -> dict:
    return {"l": f"education:{i}", "r": f"health:{i}", "ca": f"A{i}", "cb": f"B{i}", "one_name": True,
            "same_forename": True, "forename_how": "same", "dob_exact": exact, "moved": True, "swapped": False, "cohort": cohort, "middle": None,
            "former_surname": False, "historic_address": False, "cotwin": False, **over}


def _population(exact: int, decoys: int, cohort: int = 30) -> pd.DataFrame:
    """``exact`` candidate pairs born the same day and ``decoys`` born one slip apart, all with a
    common forename (about 0.08 namesakes expected per day, above ``COINCIDENCE``)."""
    return pd.DataFrame([_row(i, cohort) for i in range(exact)]
                        + [_row(1000 + i, cohort, exact=False) for i in range(decoys)])


def _queued(rows: pd.DataFrame, apart=(), also: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """What ``decoy_pairs`` queues; ``also``: more records (record -> child) beside the rows' own."""
    found = ClusterPass()
    cluster_of = {**dict(zip(rows["l"], rows["ca"])), **dict(zip(rows["r"], rows["cb"])), **(also or {})}
    decoy_pairs(rows, found, cluster_of, list(apart))
    return [(a, b) for a, b, _ in found.queue]


def _with_twin(*twins: dict) -> pd.DataFrame:
    """The population of ``test_exact_dates_far_above_the_decoys_are_queued`` (a window open over
    its common forename) and candidate rows with a co-twin in view."""
    return pd.concat([_population(12, SLIP_DATES), pd.DataFrame(list(twins))], ignore_index=True)


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


def test_a_second_forename_or_a_reviewer_keeps_a_pair_out():
    # (A co-twin in view: ``test_a_stranger_with_a_twin_in_view_is_not_queued`` and those after it.)
    rows = _population(12, 0)
    rows.loc[1, "one_name"] = False
    queued = _queued(rows, apart=[("education:2", "health:2")])
    assert ("education:1", "health:1") not in queued
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


def test_a_new_surname_and_home_with_a_twin_in_view_is_queued_inside_the_window():
    # A twin in either record's own extract is not the candidate when surname and home both
    # differ; the only child of that forename and birthday that could be the other half is queued.
    found = ClusterPass()
    rows = _with_twin(_row(500, 30, cotwin=True))
    cluster_of = {**dict(zip(rows["l"], rows["ca"])), **dict(zip(rows["r"], rows["cb"]))}
    decoy_pairs(rows, found, cluster_of, [])
    why = {(a, b): w for a, b, w in found.queue}
    assert why[("education:500", "health:500")] == DECOY_REASON.format(
        agree="same forename and birthday", evidence="nothing else agrees; a twin is in view")
    assert len(found.queue) == 13


def test_a_twin_in_view_is_queued_only_inside_the_window_the_population_reads():
    # No window open (strangers as many as the decoys predict): the twin's pair waits too.
    rows = pd.concat([_population(12, 12 * SLIP_DATES), pd.DataFrame([_row(500, 30, cotwin=True)])],
                     ignore_index=True)
    assert _queued(rows) == []
    assert ("education:500", "health:500") in _queued(_with_twin(_row(500, 30, cotwin=True)))
    # Pairs with a co-twin in view are not counted in the window: twelve alone open none.
    alone = _population(12, 0)
    alone["cotwin"] = True
    assert _queued(alone) == []
    # Far above the window (a forename held by many more children of that year): not queued.
    assert ("education:500", "health:500") not in _queued(_with_twin(_row(500, 3000, cotwin=True)))


def test_a_record_either_twin_could_be_is_not_queued():
    # Twins given one forename at one school; the GP's record of that name and birthday, under a
    # new surname at a new home, meets both: which twin it is, nothing says.
    assert ("education:500", "health:500") in _queued(_with_twin(_row(500, 30, cotwin=True, cb="G")))
    rows = _with_twin(_row(500, 30, cotwin=True, cb="G"), _row(501, 30, cotwin=True, cb="G", r="health:500"))
    queued = _queued(rows)
    assert ("education:500", "health:500") not in queued and ("education:501", "health:500") not in queued


def test_a_stranger_with_a_twin_in_view_is_not_queued():
    # Two children one source holds (each has a school record): two children.
    rows = _with_twin(_row(500, 30, cotwin=True))
    assert ("education:500", "health:500") in _queued(rows)
    assert ("education:500", "health:500") not in _queued(rows, also={"education:999": "B500"})
    # A nickname, not the forename as written (Harry / Henry, Jack / Jackson): strangers share those more.
    assert ("education:500", "health:500") not in _queued(_with_twin(_row(500, 30, cotwin=True, same_forename=False)))
    # Born a slip apart, or kept apart by the twin guard or a reviewer.
    assert ("education:500", "health:500") not in _queued(_with_twin(_row(500, 30, exact=False, cotwin=True)))
    assert ("education:500", "health:500") not in _queued(_with_twin(_row(500, 30, cotwin=True)),
                                                          apart=[("education:500", "health:500")])


def test_the_candidates_say_whether_the_forename_is_written_the_same(tmp_path):
    # A school record and two GP records under new surnames at new homes, born the same day: Harry
    # (written the same) and Henry (Harry's nickname key, not the same forename as written).
    records = [rec("education:1", "harry", "rocca", postcode="W5 1PW", sex="M"),
               rec("health:1", "harry", "duhig", postcode="GL7 1AB", address="9 old lane", sex="M"),
               rec("social_care:1", "henry", "mayne", postcode="LS2 9JT", address="4 mill road", sex="M")]
    rows, _ = pass_rows(tmp_path, records, {"education:1": "A", "health:1": "B", "social_care:1": "C"})
    same = {frozenset((a, b)): bool(x) for a, b, x in zip(rows["l"], rows["r"], rows["same_forename"])}
    assert same[frozenset(("education:1", "health:1"))] is True
    assert same[frozenset(("education:1", "social_care:1"))] is False


def _only(*extra: dict) -> pd.DataFrame:
    """A population whose pool reads no window (twelve pairs born the same day, as many strangers
    as its 240 one-slip decoys predict), where the decoys are all a nickname apart (Harry / Henry),
    so that the twelve, each its children's only candidate with the forename written the same, are
    a population of their own with no decoy: its window is open."""
    return pd.concat([pd.DataFrame([_row(i, 30) for i in range(12)]),
                      pd.DataFrame([_row(1000 + i, 30, exact=False, same_forename=False) for i in range(12 * SLIP_DATES)]),
                      pd.DataFrame(list(extra))], ignore_index=True)


def test_only_candidates_beyond_the_pools_window_are_queued_when_their_own_window_is_open():
    # Session 26: at 1M realistic such pairs (no other candidate, no source in common, the
    # forename written the same) beyond the pool's window were half one child, and left unqueued.
    found = ClusterPass()
    rows = _only(_row(500, 30, cotwin=True))
    cluster_of = {**dict(zip(rows["l"], rows["ca"])), **dict(zip(rows["r"], rows["cb"]))}
    assert decoy_pairs(rows, found, cluster_of, []) == COINCIDENCE       # the pool's window stays shut
    why = {(a, b): w for a, b, w in found.queue}
    assert sorted(why) == sorted([(f"education:{i}", f"health:{i}") for i in range(12)]
                                 + [("education:500", "health:500")])
    assert why[("education:0", "health:0")] == ONLY_REASON.format(agree="same forename and birthday", evidence="nothing else agrees")
    assert why[("education:500", "health:500")] == ONLY_REASON.format(agree="same forename and birthday", evidence="nothing else agrees; a twin is in view")


def test_only_candidates_are_not_queued_where_their_own_decoys_say_strangers():
    # The same twelve, with as many one-slip decoys of their own kind as strangers would give: the
    # population splits no children, and its only candidates are strangers too.
    assert len(_queued(_only())) == 12
    rows = pd.concat([_only(), pd.DataFrame([_row(5000 + i, 30, exact=False) for i in range(12 * SLIP_DATES)])],
                     ignore_index=True)
    assert _queued(rows) == []


def test_an_only_candidates_window_queues_no_stranger_or_twin():
    # Two children each with a school record (a source holds a child once): two children.
    assert _queued(_only(_row(500, 30)), also={"education:999": "B500"}).count(("education:500", "health:500")) == 0
    # The GP record that either of two same-name twins at one school could be: it meets both.
    rows = _only(_row(500, 30, cotwin=True, cb="G"), _row(501, 30, cotwin=True, cb="G", r="health:500"))
    queued = _queued(rows)
    assert ("education:500", "health:500") not in queued and ("education:501", "health:500") not in queued
    # Another form of the name (Henry / Harry), born a slip apart, or kept apart.
    for row in (_row(500, 30, same_forename=False), _row(500, 30, exact=False)):
        assert ("education:500", "health:500") not in _queued(_only(row))
    # A forename a hundred times commoner, whose only candidates born a slip apart say strangers.
    common = [_row(2000 + i, 3000, exact=False) for i in range(2 * SLIP_DATES)]
    assert ("education:500", "health:500") not in _queued(_only(_row(500, 3000), *common))
    assert ("education:500", "health:500") not in _queued(_only(_row(500, 30)), apart=[("education:500", "health:500")])
    assert ("education:500", "health:500") in _queued(_only(_row(500, 30)))
