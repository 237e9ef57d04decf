"""Issue 11, session 18: classes of missed pairs brought into the queue, and queued pairs settled.

Each rule is a class, not a record: a slip in a nickname, a swap with a nickname, a compound
given name split differently, and the queue's own false pairs (two children with two
identifiers). Each test fails on the code before these rules.
"""

from __future__ import annotations

import pandas as pd

from linkage.link.complement import family_pairs
from linkage.link.evidence import ClusterPass, candidates_sql, decide
from linkage.link.guards import GUARD_REASON
from linkage.link.names import near_keys
from linkage.link.review import undecided
from test_cluster_evidence import rec
from test_queue_complement import _con


# -- a queued pair whose two children hold two identifiers is settled --------------------------------
def _twin_band(reason: str) -> pd.DataFrame:
    # Twins on one school roll, each under her own UPN; no record has a stronger link inside its child.
    return pd.DataFrame({"unique_id_l": ["education:maya"], "unique_id_r": ["education:mia"],
                         "match_weight": [3.0], "reason": [reason]})


def test_a_guarded_pair_of_children_with_two_upns_is_not_queued():
    clusters = {"education:maya": "A", "education:mia": "B"}
    ids = {"education:maya": {"upn": "D211303420647"}, "education:mia": {"upn": "Z211686720296"}}
    none = pd.DataFrame({"unique_id_l": [], "unique_id_r": [], "match_weight": []})
    band = _twin_band(GUARD_REASON)
    assert not undecided(band, clusters, none, ids, two_children=(GUARD_REASON,)).iloc[0]
    # Only for reasons that are themselves evidence of a second child.
    assert undecided(band.assign(reason="uncertain match"), clusters, none, ids,
                     two_children=(GUARD_REASON,)).iloc[0]


def test_a_guarded_pair_is_queued_while_an_identifier_could_be_a_typo_or_is_missing():
    clusters = {"education:maya": "A", "education:mia": "B"}
    none = pd.DataFrame({"unique_id_l": [], "unique_id_r": [], "match_weight": []})
    band = _twin_band(GUARD_REASON)
    for ids in ({"education:maya": {"upn": "D211303420647"}, "education:mia": {"upn": "D211303420674"}},
                {"education:maya": {"upn": "D211303420647"}, "education:mia": {"upn": "D211303429647"}},
                {"education:maya": {"upn": "D211303420647"}, "education:mia": {"upn": None}}):
        assert undecided(band, clusters, none, ids, two_children=(GUARD_REASON,)).iloc[0], ids


# -- an uncertain pair between a child the GP already holds and a lone GP record of another number -----
# Edward Nowak's school record is linked to his GP record; the GP's Edward García, born the same day,
# under another NHS number, sits alone. The model cannot tell a new surname and a move from a
# stranger (both score about p=0.3), but the GP holds two children.
_NOWAK = {"education:nowak": "A", "health:nowak": "A", "health:garcia": "B", "social_care:garcia": "C"}
_NOWAK_LINKED = pd.DataFrame({"unique_id_l": ["education:nowak"], "unique_id_r": ["health:nowak"],
                              "match_weight": [15.0]})


REFUSED = "not linked: would put two different NHS numbers, UPNs or twins in one child"


def _nowak_band(right: str = "health:garcia", reason: str = "uncertain match", left: str = "education:nowak",
                weight: float = -1.2) -> pd.DataFrame:
    return pd.DataFrame({"unique_id_l": [left], "unique_id_r": [right], "match_weight": [weight], "reason": [reason]})


def _queued(band: pd.DataFrame, ids: dict, clusters: dict = _NOWAK, asks: tuple = ()) -> bool:
    more = {"asks_conflict": asks} if asks else {}
    return bool(undecided(band, clusters, _NOWAK_LINKED, ids, two_children=(GUARD_REASON,), **more).iloc[0])


def test_a_lone_record_whose_number_the_other_child_holds_otherwise_is_not_queued():
    ids = {"education:nowak": {"upn": "V381377118980"}, "health:nowak": {"nhs": "9434765919"},
           "health:garcia": {"nhs": "9312043331"}}
    assert not _queued(_nowak_band(), ids)
    # Two UPN roots likewise: the school holds both children.
    ids = {"education:nowak": {"upn": "V381377118980"}, "education:garcia": {"upn": "J380478611990"}}
    assert not _queued(_nowak_band("education:garcia"), ids, {**_NOWAK, "education:garcia": "D"})


def test_a_pair_refused_for_a_number_that_reaches_it_through_a_child_is_not_queued():
    # Refused at p=0.53 for the GP number that reaches it through Edward Nowak's GP record, the pair's
    # own records holding none that differ: the same two children (a GP issues one number).
    ids = {"education:nowak": {"upn": "V381377118980"}, "health:nowak": {"nhs": "9434765919"},
           "health:garcia": {"nhs": "9312043331"}}
    assert not _queued(_nowak_band(reason=REFUSED, weight=0.2), ids, asks=(REFUSED,))


def test_a_lone_record_that_may_be_the_same_child_is_still_queued():
    held = {"education:nowak": {"upn": "V381377118980"}, "health:nowak": {"nhs": "9434765919"}}
    # A new surname and a move, the GP record not yet linked to anything: nothing tells two children.
    assert _queued(_nowak_band("social_care:garcia"), {**held, "social_care:garcia": {"nhs": None}})
    assert _queued(_nowak_band(), {"education:nowak": {"upn": "V381377118980"}, "health:garcia": {"nhs": "9312043331"}})
    # One typed digit apart: the same number typed twice.
    assert _queued(_nowak_band(), {**held, "health:garcia": {"nhs": "9434765991"}})
    # A strong pair refused for its own two numbers is itself the question: one child under two?
    assert _queued(_nowak_band(left="health:nowak", reason=REFUSED, weight=3.0),
                   {**held, "health:garcia": {"nhs": "9312043331"}}, asks=(REFUSED,))
    # ... and a second UPN reaching it through the rest of a child (a school may issue one).
    ids = {**held, "education:garcia": {"upn": "J380478611990"}}
    assert _queued(_nowak_band("education:garcia", reason=REFUSED, left="health:nowak", weight=3.0), ids,
                   {**_NOWAK, "education:garcia": "D"}, asks=(REFUSED,))
    # Neither record held by a stronger link: either may be in the wrong child.
    assert _queued(_nowak_band(), {**held, "health:garcia": {"nhs": "9312043331"}},
                   {"education:nowak": "A", "health:nowak": "E", "health:garcia": "B"})


# -- a nickname of a typo-neighbour -------------------------------------------------------------------
def test_a_slip_in_a_nickname_reaches_the_full_name():
    assert "matthew" in near_keys("mstty")      # Matty, a slip
    assert "jessica" in near_keys("jeas")       # Jess
    assert "matilda" in near_keys("tully")      # Tilly
    assert "leo" in near_keys("loen")           # Leon, whose keys hold Leo


def test_a_known_name_or_a_short_one_is_not_read_as_a_slip():
    assert near_keys("mary") == []              # a name in its own right, not a slip of Mark
    assert near_keys("matthew") == []
    assert near_keys("iv") == []


# -- the second pass's SQL on small constructed populations ---------------------------------------------
def _fresh(tmp_path):
    """A directory of its own for each database a test makes."""
    sub = tmp_path / f"db{len(list(tmp_path.iterdir()))}"
    sub.mkdir()
    return sub


def _family_queue(tmp_path, records: list[dict]) -> list[tuple[str, str]]:
    """``family_pairs`` over ``records``, each its own child."""
    children = {r["record_key"]: f"C{i}" for i, r in enumerate(records)}
    con = _con(_fresh(tmp_path), records, children)
    found = ClusterPass()
    family_pairs(con, "link_input", "kids", found, children, [])
    con.close()
    return [(a, b) for a, b, _ in found.queue]


def _second_pass_queue(tmp_path, records: list[dict]) -> list[tuple[str, str, str]]:
    """``candidates_sql`` and ``decide`` over ``records``, each its own child."""
    children = {r["record_key"]: f"C{i}" for i, r in enumerate(records)}
    con = _con(_fresh(tmp_path), records, children)
    rows = con.execute(candidates_sql("link_input", "kids", "cotwins")).df()
    con.close()
    return decide(rows.to_dict("records"), [], children).queue


def test_a_rare_slip_in_a_nickname_in_one_family_is_queued(tmp_path):
    # Matty typed Mstty on a GP record, Matthew in social care; one home, birthdays 10 days apart.
    pair = [rec("health:1", "mstty", "pellegrini", dob="2017-04-15", postcode="W86 6WY", nhs="N1"),
            rec("social_care:1", "matthew", "pellegrini", dob="2017-04-25", postcode="W86 6WY")]
    assert _family_queue(tmp_path, pair) == [("health:1", "social_care:1")]


def test_a_slip_many_records_hold_is_a_name_of_its_own(tmp_path):
    # Three other children called Mstty: a name given, not a slip of Matty, so not Matthew.
    pair = [rec("health:1", "mstty", "pellegrini", dob="2017-04-15", postcode="W86 6WY", nhs="N1"),
            rec("social_care:1", "matthew", "pellegrini", dob="2017-04-25", postcode="W86 6WY")]
    others = [rec(f"health:x{i}", "mstty", f"other{i}", dob=f"2012-01-0{i + 1}",
                  postcode=f"N{i} 1AA", nhs=f"X{i}") for i in range(3)]
    assert _family_queue(tmp_path, pair + others) == []


def test_a_surname_spelt_two_ways_is_one_family(tmp_path):
    # Turneer at school, Turner at the GP, another home, birthdays 10 days apart, middle name agrees.
    pair = [rec("education:1", "harry", "turneer", middle="karl", dob="2017-07-06", postcode="WV3M 4YB", upn="A1"),
            rec("health:1", "harry", "turner", middle="karl", dob="2017-06-26", postcode="B4 1FH", nhs="N1")]
    assert _family_queue(tmp_path, pair) == [("education:1", "health:1")]
    # Tanner is another family (its consonants differ): not queued.
    other = [pair[0], rec("health:1", "harry", "tanner", middle="karl", dob="2017-06-26", postcode="B4 1FH", nhs="N1")]
    assert _family_queue(tmp_path, other) == []


def test_a_swap_with_a_nickname_after_a_move_is_queued(tmp_path):
    # "Eaton Daniel" at school, "Danny Eaton" at the GP, same birthday, another home.
    pair = [rec("education:1", "eaton", "daniel", dob="2020-04-02", postcode="B5 8SZ", upn="A1", sex="M"),
            rec("health:1", "danny", "eaton", dob="2020-04-02", postcode="G69 9QQ", nhs="N1", sex="M")]
    queued = _second_pass_queue(tmp_path, pair)
    assert [(a, b) for a, b, _ in queued] == [("education:1", "health:1")]
    assert queued[0][2].startswith("forename and surname swapped")
    # Danny Moore shares no name with Eaton Daniel: no swap, nothing queued.
    other = [pair[0], rec("health:1", "danny", "moore", dob="2020-04-02", postcode="G69 9QQ", nhs="N1", sex="M")]
    assert _second_pass_queue(tmp_path, other) == []


def test_a_compound_given_name_split_differently_is_one_name(tmp_path):
    # Xiaoling (middle name Orla) at school; Xiao, middle name Ling, at the GP with another
    # romanised surname and no postcode: the split name meets the whole one, and its middle
    # name Ling is part of the forename, not a middle name against Orla.
    pair = [rec("education:1", "xiaoling", "chang", middle="orla", dob="2013-08-14", postcode="M76 8ZL", upn="A1"),
            rec("health:1", "xiao", "zhang", middle="ling", dob="2013-08-14", postcode=None, nhs="N1")]
    assert [(a, b) for a, b, _ in _second_pass_queue(tmp_path, pair)] == [("education:1", "health:1")]
    # Xiao Mei is another child.
    other = [pair[0], rec("health:1", "xiao", "zhang", middle="mei", dob="2013-08-14", postcode=None, nhs="N1")]
    assert _second_pass_queue(tmp_path, other) == []


def test_the_split_name_in_one_family_is_queued_despite_its_middle_names(tmp_path):
    # Abdulrahman (middle name Ethan) and Abdul Rahman: one surname, one home, one birthday.
    pair = [rec("education:1", "abdulrahman", "papadopoulos", middle="ethan", dob="2019-06-06", postcode="DA9 5LU",
                upn="A1", sex="M"),
            rec("health:1", "abdul", "papadopoulos", middle="rahman", dob="2019-06-06", postcode="DA9 5LU", nhs="N1",
                sex="M")]
    assert _family_queue(tmp_path, pair) == [("education:1", "health:1")]


def test_a_slip_may_recur_in_a_larger_population(tmp_path, monkeypatch):
    # Mstty held by three records is a name of its own among eight records, one record in 50,000
    # allowed; where one record in two may hold a slip (the share a population of millions gives),
    # it is still a slip of Matty.
    import linkage.link.complement as complement

    pair = [rec("health:1", "mstty", "pellegrini", dob="2017-04-15", postcode="W86 6WY", nhs="N1"),
            rec("social_care:1", "matthew", "pellegrini", dob="2017-04-25", postcode="W86 6WY")]
    others = [rec(f"health:x{i}", "mstty", f"other{i}", dob=f"2012-01-0{i + 1}", postcode=f"N{i} 1AA", nhs=f"X{i}")
              for i in range(2)]
    filler = [rec(f"health:f{i}", "amy", f"filler{i}", dob=f"2011-02-0{i + 1}", postcode=f"E{i} 1AA", nhs=f"F{i}")
              for i in range(4)]
    assert _family_queue(tmp_path, pair + others + filler) == []
    monkeypatch.setattr(complement, "SLIP_PER", 2)
    assert _family_queue(tmp_path, pair + others + filler) == [("health:1", "social_care:1")]


def test_a_split_name_romanised_another_way_is_one_name(tmp_path):
    # Abdelrahman (middle name Ibrahim) at school; Abdul, middle names Rahman Ibrahim, at the GP:
    # one letter romanised another way, one home, one birthday, surnames Abdallah / Abdulla.
    pair = [rec("education:1", "abdelrahman", "abdallah", middle="ibrahim", dob="2020-07-08", postcode="B23 8HB",
                upn="A1", sex="M"),
            rec("health:1", "abdul", "abdulla", middle="rahman ibrahim", dob="2020-07-08", postcode="B23 8HB",
                nhs="N1", sex="M")]
    assert _family_queue(tmp_path, pair) == [("education:1", "health:1")]
    # A short name is not read through a slip: Mei Lin (split) is not Meilan.
    short = [rec("education:1", "meilan", "wu", middle="jade", dob="2020-07-08", postcode="B23 8HB", upn="A1"),
             rec("health:1", "mei", "wu", middle="lin", dob="2020-07-08", postcode="B23 8HB", nhs="N1")]
    assert _family_queue(tmp_path, short) == []
