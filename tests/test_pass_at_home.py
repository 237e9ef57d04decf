"""The cluster-level pass links one child whose records the model left apart for slips in several
fields at once, at one home (``evidence._at_home``): the forename one name, a surname or the
postcode shared, a home or a middle name the same, no co-twin in either child. Twins and siblings
stay with a reviewer. Through the real candidates SQL (``test_cluster_evidence.second_pass``).
"""

from __future__ import annotations

from linkage.link.evidence import UNSCORED_REASON
from test_cluster_evidence import rec, second_pass


def test_one_child_typed_three_ways_at_one_home_is_linked(tmp_path):
    # The GP's Oliver Thomas born 2 March and the school's Ollie Thomaas born 12 March, one postcode.
    records = [rec("education:1", "ollie", "thomaas", dob="2019-03-12", postcode="B6 0PS", upn="A1", sex="M"),
               rec("health:1", "oliver", "thomas", dob="2019-03-02", postcode="B6 0PS", nhs="N1", sex="M")]
    children = {"education:1": "C1", "health:1": "C2"}
    result = second_pass(tmp_path, records, children)
    assert result.links == [("education:1", "health:1")] and not result.queue


def test_one_home_with_a_twin_in_view_is_queued(tmp_path):
    # The school also holds Oliver's twin Noah: a second child at that home and birthday.
    records = [rec("education:1", "ollie", "thomaas", dob="2019-03-12", postcode="B6 0PS", upn="A1", sex="M"),
               rec("education:2", "noah", "thomas", dob="2019-03-12", postcode="B6 0PS", upn="B2", sex="M"),
               rec("health:1", "oliver", "thomas", dob="2019-03-02", postcode="B6 0PS", nhs="N1", sex="M")]
    children = {"education:1": "C1", "education:2": "C3", "health:1": "C2"}
    result = second_pass(tmp_path, records, children)
    assert not result.links
    assert [(a, b) for a, b, _ in result.queue] == [("education:1", "health:1")]


def test_forenames_only_spelt_alike_at_one_home_are_queued(tmp_path):
    # Twins Alfie and Albie, one at the GP, one in social care: one home, no source holds both.
    records = [rec("health:1", "alfie", "surra", dob="2017-03-18", postcode="M0 7QP", nhs="N1", sex="M"),
               rec("social_care:1", "albie", "dada", dob="2017-03-18", postcode="M0 7QP", sex="M")]
    children = {"health:1": "C1", "social_care:1": "C2"}
    result = second_pass(tmp_path, records, children)
    assert not result.links


def test_a_shared_surname_alone_is_no_home(tmp_path):
    # One forename and birthday, the surname shared, homes apart and nothing else: a reviewer decides.
    records = [rec("education:1", "oliver", "thomas", dob="2019-03-12", postcode="B6 0PS", upn="A1", sex="M"),
               rec("health:1", "oliver", "thomas", dob="2019-03-02", postcode="LS1 4AP", address="7 mill road",
                   nhs="N1", sex="M")]
    children = {"education:1": "C1", "health:1": "C2"}
    result = second_pass(tmp_path, records, children)
    assert not result.links
    assert result.queue[0][2] == UNSCORED_REASON.format(agree="same forename, date of birth one slip apart",
                                                           evidence="former surname agrees")


def test_one_home_is_no_reason_to_join_two_records_that_fit_two_children(tmp_path):
    # Twins Freya and Freya El Masri (no middle names) at school; the GP's and social care's Freya were
    # each held back from both (a record fitting two children), and meet each other at one home.
    records = [rec("education:1", "freya", "el masri", dob="2010-12-19", postcode="M8 1HU", upn="X316447017696"),
               rec("education:2", "freya", "el masri", dob="2010-12-19", postcode="M8 1HU", upn="W316529417505"),
               rec("social_care:1", "freya", "el masri", dob="2010-12-19", postcode="M8 1HU"),
               rec("health:1", "freya", "el masri", dob="2010-12-19", postcode="M8 1HU", nhs="N1")]
    children = {"education:1": "C1", "education:2": "C2", "social_care:1": "C3", "health:1": "C4"}
    result = second_pass(tmp_path, records, children)
    assert not result.links
