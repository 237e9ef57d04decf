"""Issue 11: one pupil under a second UPN, the first school's record left before the second's
enrolment began, is queued (``link/reissued.py``), and twins are not.

A real store (its enrolment, record and extract tables) and the real features and co-twin SQL over
constructed records: Mia McFarland's first school record (left on 5 January 2022) and the record a
second school made under a new UPN on 3 March 2022 with her forename typed (Mus), and her GP record
linked to the first. The twin guard reads the two school records as twins: the census dates say
one pupil.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from linkage.link.evidence import ClusterPass
from linkage.link.guards import cotwin_pairs_sql
from linkage.link.reissued import REISSUED_REASON, reissued_pairs
from linkage.store.schema import t
from test_cluster_evidence import input_tables, rec

PAIR = ("education:1", "education:2")


def _pass(store, *, second: str = "mus", middle: str | None = "zoe", left: date | None = date(2022, 1, 5),
          entered: date = date(2022, 3, 3), gp_both: bool = False, denied=(), found: ClusterPass | None = None,
          status: str | None = "C") -> ClusterPass:
    """The pass's ``reissued`` rule over Mia (school 1, UPN A1, her GP record in her child) and
    ``second`` (school 2, UPN B2, alone, or with a GP record of its own: ``gp_both``)."""
    records = [rec("education:1", "mia", "mcfarland", middle="zoe", upn="A1", postcode="W9 8AE"),
               rec("education:2", second, "mcfarland", middle=middle, upn="B2", postcode="W9 8AE"),
               rec("health:1", "mia", "mcfarland", middle="zoe", nhs="N1", postcode="W9 8AE")]
    children = {"education:1": "C1", "health:1": "C1", "education:2": "C2"}
    if gp_both:
        records.append(rec("health:2", second, "mcfarland", nhs="N1", postcode="W9 8AE"))
        children["health:2"] = "C2"
    con = store.connection
    input_tables(con, records)
    con.execute(f"CREATE TABLE cotwin_pairs AS {cotwin_pairs_sql('link_input', 'link_input')}")
    con.register("kids_df", pd.DataFrame({"unique_id": list(children), "cluster_id": list(children.values()),
                                          "upn_root": [next(r["upn"] for r in records if r["record_key"] == k)
                                                       for k in children]}).astype("string"))
    con.execute("CREATE TABLE kids AS SELECT * FROM kids_df")
    con.execute(f"INSERT INTO {t('extracts')} (extract_id, source, file_name, sha256, mapping, extract_date, "
                "ingested_at, rows_read, accepted, quarantined) VALUES (1, 'education', 'census.csv', 'x', "
                "'education', DATE '2026-10-01', TIMESTAMP '2026-10-02 09:00', 3, 3, 0)")
    for key in ("education:1", "education:2"):
        con.execute(f"INSERT INTO {t('records')} (record_key, extract_id, source) VALUES (?, 1, 'education')", [key])
    con.execute(f"INSERT INTO {t('edu_enrolment')} VALUES ('education:1', 1, '100001', DATE '2019-07-23', ?, 'C')",
                [left])
    con.execute(f"INSERT INTO {t('edu_enrolment')} VALUES ('education:2', 1, '100002', ?, NULL, ?)", [entered, status])
    found = found or ClusterPass()
    identifiers = {r["record_key"]: {"upn": r["upn"], "nhs": r["nhs_number"]} for r in records}
    reissued_pairs(con, "link_input", "kids", "cotwin_pairs", found, children, identifiers, list(denied))
    return found


def test_a_upn_issued_again_after_the_first_school_is_left_is_queued(store):
    found = _pass(store)
    assert [(a, b) for a, b, _ in found.queue] == [PAIR]
    assert found.queue[0][2] == REISSUED_REASON.format(evidence="forenames alike")
    assert not found.links


def test_the_same_forename_is_said(store):
    assert _pass(store, second="mia").queue[0][2] == REISSUED_REASON.format(evidence="same forename")


def test_twins_on_roll_together_are_not_queued(store):
    # Both on roll: the first has no leaving date.
    assert _pass(store, left=None).queue == []


def test_an_enrolment_begun_before_the_first_was_left_is_not_a_replacement(store):
    assert _pass(store, entered=date(2021, 12, 1)).queue == []


def test_a_dual_registration_is_not_on_roll(store):
    # The second UPN's only enrolment is a dual (subsidiary) one: not on one school's roll.
    assert _pass(store, status="S").queue == []


def test_unrelated_forenames_are_twins(store):
    assert _pass(store, second="ashleigh").queue == []


def test_first_middle_names_that_differ_are_twins(store):
    assert _pass(store, middle="grace").queue == []


def test_a_child_each_on_a_gp_list_is_not_queued(store):
    # Twins are each on a GP list; a re-issued UPN leaves the GP record with one of the two.
    assert _pass(store, gp_both=True).queue == []


def test_a_reviewers_not_a_match_keeps_them_apart(store):
    assert _pass(store, denied=[("education:2", "health:1")]).queue == []


def test_two_children_the_pass_already_queued_are_not_queued_twice(store):
    done = ClusterPass(queue=[("education:2", "health:1", "some other reason")])
    assert _pass(store, found=done).queue == [("education:2", "health:1", "some other reason")]
