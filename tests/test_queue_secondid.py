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


def _kept_typed(tmp_path, left: dict, right: dict, clusters: dict[str, str]) -> bool:
    """Whether the twin-guarded pair (left, right) under two UPNs is queued, the records clustered
    as ``clusters`` (the pair's two children, each with whatever other records it holds)."""
    con = duckdb.connect(str(tmp_path / f"typed-{len(list(tmp_path.iterdir()))}.duckdb"))
    others = [rec(k, left["forename_std"], left["surname_std"], nhs=f"N{i}")
              for i, k in enumerate(sorted(k for k in clusters if k not in (left["record_key"], right["record_key"])))]
    input_tables(con, [left, right, *others])
    a, b = left["record_key"], right["record_key"]
    band = pd.DataFrame({"unique_id_l": [a], "unique_id_r": [b], "match_weight": [9.0], "reason": [GUARD_REASON]})
    same = one_child_pairs(con, band, "link_input", "cotwins", clusters)
    con.close()
    linked = pd.DataFrame({"unique_id_l": [k for k in clusters if k not in (a, b)],
                           "unique_id_r": [a if clusters[k] == clusters[a] else b for k in clusters if k not in (a, b)],
                           "match_weight": 20.0})
    ids = {k: {"upn": r["upn"], "nhs": r["nhs_number"]} for k, r in ((a, left), (b, right))}
    return bool(undecided(band, clusters, linked, ids, two_children=(GUARD_REASON,), one_child=same).iloc[0])


def test_a_typed_forename_under_a_second_upn_with_one_gp_record_is_queued(tmp_path):
    # Charlotte Alexandra on one roll, "Chalrotte" Alexandra under a new UPN at the next school:
    # the GP holds one child of that family and birthday, linked to Charlotte.
    left = rec("education:1", "charlotte", "adelakun", middle="alexandra", upn="X316447017696")
    right = rec("education:2", "chalrotte", "adelakun", middle="alexandra", upn="W316529417505")
    assert _kept_typed(tmp_path, left, right, {"education:1": "A", "health:a": "A", "education:2": "B"})
    # Before, every forename that differed at all lost the allowance.
    assert not _kept(tmp_path, left, right)
    # Omar Ushan Mcclean, "Mcclena" at the next school.
    omar = rec("education:1", "omar", "mcclean", middle="ushan", upn="X316447017696", sex="M")
    typed = rec("education:2", "omar", "mcclena", middle="ushan", upn="W316529417505", sex="M")
    assert _kept_typed(tmp_path, omar, typed, {"education:1": "A", "health:a": "A", "education:2": "B"})
    assert not _kept(tmp_path, omar, typed)


@pytest.mark.parametrize("a,b,ma,mb", [
    ("leon", "leo", "james", "james"),                    # twins, each with a GP record
    ("charlotte", "chalrotte", "alexandra", "alexandra"),
])
def test_a_typed_forename_whose_children_both_hold_a_gp_record_is_not_queued(tmp_path, a, b, ma, mb):
    left = rec("education:1", a, "adelakun", middle=ma, upn="X316447017696")
    right = rec("education:2", b, "adelakun", middle=mb, upn="W316529417505")
    assert not _kept_typed(tmp_path, left, right,
                           {"education:1": "A", "health:a": "A", "education:2": "B", "health:b": "B"})


@pytest.mark.parametrize("b,mb", [("chalrotte", "rose"), ("chalrotte", None), ("amelia", "alexandra")])
def test_a_second_upn_without_one_middle_name_or_one_forename_is_not_queued(tmp_path, b, mb):
    left = rec("education:1", "charlotte", "adelakun", middle="alexandra", upn="X316447017696")
    right = rec("education:2", b, "adelakun", middle=mb, upn="W316529417505")
    assert not _kept_typed(tmp_path, left, right, {"education:1": "A", "health:a": "A", "education:2": "B"})
