"""Issue 11: one child under a second UPN stays in the queue; twins under two UPNs do not
(``link/secondid.py``, ``review.undecided(one_child=...)``).

Through the real features SQL (``test_cluster_evidence.input_tables``) and the real queue filter.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from linkage.link.guards import GUARD_REASON
from linkage.link.review import undecided
from linkage.link.secondid import one_child_pairs
from test_cluster_evidence import input_tables, rec


def _kept(tmp_path, left: dict, right: dict, reason: str = GUARD_REASON) -> bool:
    """Whether the band pair (left, right), each record with a stronger link in its own child and
    the two children under different UPNs, is queued."""
    con = duckdb.connect(str(tmp_path / f"second-{len(list(tmp_path.iterdir()))}.duckdb"))
    input_tables(con, [left, right])
    a, b = left["record_key"], right["record_key"]
    band = pd.DataFrame({"unique_id_l": [a], "unique_id_r": [b], "match_weight": [9.0], "reason": [reason]})
    same = one_child_pairs(con, band, "link_input")
    con.close()
    clusters = {a: "A", "health:a": "A", b: "B", "health:b": "B"}
    linked = pd.DataFrame({"unique_id_l": [a, b], "unique_id_r": ["health:a", "health:b"], "match_weight": [20.0, 20.0]})
    ids = {k: {"upn": r["upn"], "nhs": r["nhs_number"]} for k, r in ((a, left), (b, right))}
    return bool(undecided(band, clusters, linked, ids, two_children=(GUARD_REASON,), one_child=same).iloc[0])


def test_a_child_given_a_second_upn_by_a_new_school_is_queued(tmp_path):
    # Two school rolls, two UPNs: Charlotte Alexandra.
    assert _kept(tmp_path, rec("education:1", "charlotte", "adelakun", middle="alexandra", upn="X316447017696"),
                 rec("education:2", "charlotte", "adelakun", middle="alexandra", upn="W316529417505"))


@pytest.mark.parametrize("a,b,ma,mb", [
    ("charlotte", "charlotte", "alexandra", "rose"),      # same-name twins: their middle names differ
    ("ella", "bella", "rose", "rose"),                    # near-twin names: one letter in a short name
    ("charlotte", "charlotte", None, None),               # nothing beyond the forename to go on
    ("olivia", "amelia", "rose", "rose"),                 # two forenames
    ("charlotte", "chalrotte", "alexandra", "alexandra"),  # forenames that differ at all: no allowance
    ("leon", "leo", "james", "james"),                    # a nickname apart: twins Leon and Leo
])
def test_twins_under_two_upns_are_not_queued(tmp_path, a, b, ma, mb):
    assert not _kept(tmp_path, rec("education:1", a, "adelakun", middle=ma, upn="X316447017696"),
                     rec("education:2", b, "adelakun", middle=mb, upn="W316529417505"))


def test_a_second_upn_with_another_date_of_birth_is_not_kept(tmp_path):
    assert not _kept(tmp_path, rec("education:1", "charlotte", "adelakun", middle="alexandra", upn="X316447017696"),
                     rec("education:2", "charlotte", "adelakun", middle="alexandra", upn="W316529417505",
                         dob="2015-04-08"))


def test_namesakes_born_the_same_day_under_two_nhs_numbers_are_not_kept(tmp_path):
    # Rosie Maya and Rose Maya, born the same day to two families: two surnames, two GPs' numbers.
    left = rec("education:1", "rosie", "jones", middle="maya", upn="X316398826910", nhs="5134284210")
    right = rec("health:2", "rose", "macging", middle="maya", nhs="5961428109")
    assert not _kept(tmp_path, left, right, reason="uncertain match")
    assert not _kept(tmp_path, left, {**right, "surname_std": "jones"}, reason="uncertain match")
