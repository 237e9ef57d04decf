"""Issue 11: one pupil whose second UPN is seen second hand (``link/reissued.py``'s ``copied_sql``):
the school census holds Qabil Lordan under one UPN, social care (with his GP record) under another,
which no school record holds. The model's strongest pair, school and GP equal in every field, is
refused as two UPNs in one child; before this rule nothing queued it. Twins, each on a school roll
under their own UPN, are not queued.

A real store (its empty enrolment tables) and the real features and co-twin SQL over constructed
records, through ``reissued_pairs`` as the second pass calls it.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from linkage.link.evidence import ClusterPass
from linkage.link.guards import cotwin_pairs_sql
from linkage.link.reissued import COPIED_REASON, reissued_pairs
from test_cluster_evidence import input_tables, rec

QABIL = [rec("education:1", "qabil", "lordan", upn="Z1", postcode="IV9 9XB", sex="M"),
         rec("health:1", "qabil", "lordan", nhs="4000000001", postcode="IV9 9XB", sex="M"),
         rec("social_care:1", "qabil", "lordan", upn="A1", nhs="4000000001", postcode="IV9 9XB", sex="M")]
CHILDREN = {"education:1": "C1", "health:1": "C2", "social_care:1": "C2"}


def reissued_tables(con, records, children) -> dict[str, dict]:
    """``reissued_pairs``' tables over ``records`` (``link_input``, ``cotwin_pairs``, the clusters
    ``kids`` of ``children``); returns its identifiers by record."""
    input_tables(con, records)
    con.execute(f"CREATE TABLE cotwin_pairs AS {cotwin_pairs_sql('link_input', 'link_input')}")
    upn = {r["record_key"]: r["upn"] for r in records}
    con.register("kids_df", pd.DataFrame({"unique_id": list(children), "cluster_id": list(children.values()),
                                          "upn_root": [upn[k] for k in children]}).astype("string"))
    con.execute("CREATE TABLE kids AS SELECT * FROM kids_df")
    return {r["record_key"]: {"upn": r["upn"], "nhs": r["nhs_number"]} for r in records}


def _queued(store, records=QABIL, children=CHILDREN, denied=()) -> list[tuple[str, str, str]]:
    con = store.connection
    identifiers = reissued_tables(con, records, children)
    found = ClusterPass()
    reissued_pairs(con, "link_input", "kids", "cotwin_pairs", found, children, identifiers, list(denied))
    assert found.links == []
    return found.queue


def test_a_upn_held_only_by_social_care_is_asked_about(store):
    assert _queued(store) == [("education:1", "health:1", COPIED_REASON.format(evidence="same forename"))]


def test_a_forename_written_another_way_is_said(store):
    records = [QABIL[0], rec("health:1", "qabi", "lordan", nhs="4000000001", postcode="IV9 9XB", sex="M"), QABIL[2]]
    assert _queued(store, records) == [("education:1", "health:1", COPIED_REASON.format(evidence="forenames alike"))]


def test_the_other_upn_on_a_school_roll_is_a_twin(store):
    # The other child's UPN is on a school roll: a twin, each under their own UPN.
    records = [*QABIL, rec("education:2", "qabil", "lordan", upn="A1", postcode="IV9 9XB", sex="M")]
    assert _queued(store, records, {**CHILDREN, "education:2": "C2"}) == []


@pytest.mark.parametrize("other", [dict(forename_std="ashleigh"), dict(date_of_birth=date(2015, 4, 8)), dict(sex="F"),
                                   dict(postcode="N1 9ZZ", address="9 old lane")])
def test_other_evidence_of_two_children_is_not_queued(store, other):
    # Unrelated forenames; another birthday; another sex; another home.
    assert _queued(store, [QABIL[0], {**QABIL[1], **other}, {**QABIL[2], **other}]) == []


def test_two_nhs_numbers_keep_them_apart(store):
    # The school child's own GP record holds another NHS number.
    records = [*QABIL, rec("health:2", "qabil", "lordan", nhs="N2", postcode="IV9 9XB", sex="M")]
    assert _queued(store, records, {**CHILDREN, "health:2": "C1"}) == []


def test_a_source_in_common_keeps_them_apart(store):
    records = [*QABIL, rec("social_care:2", "qabil", "lordan", postcode="IV9 9XB", sex="M")]
    assert _queued(store, records, {**CHILDREN, "social_care:2": "C1"}) == []


def test_a_reviewers_not_a_match_keeps_them_apart(store):
    assert _queued(store, denied=[("education:1", "health:1")]) == []


def test_a_co_twin_beside_either_record_may_be_the_pupil(store):
    # The GP holds two Qabil Lordans of that birthday under two NHS numbers: the school's pupil may
    # be the other one (same-name twins at one home).
    # (Numbers more than a typed character apart: one would be read as the other, typed.)
    records = [*QABIL, rec("health:2", "qabil", "lordan", nhs="6244505166", postcode="IV9 9XB", sex="M")]
    assert _queued(store, records, {**CHILDREN, "health:2": "C3"}) == []
