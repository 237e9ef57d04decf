"""A queued pair's reason says what its two records really agree on (``link/wording.py``).

The second pass's rules read forenames that only sound alike or are spelt alike, and dates of
birth a slip apart; "same forename and birthday" is said only where both are written the same
(Sarah Rocca and Zara Duhig, born ten days apart, were queued under it at 1M records). Through the
real features SQL and the second pass's SQL, as ``test_queue_household``.
"""

from __future__ import annotations

import pandas as pd

from linkage.link.complement import partner_cohorts
from linkage.link.decoys import DECOY_REASON, decoy_pairs
from linkage.link.evidence import CHANGE_REASON, ClusterPass, candidates_sql, decide
from linkage.link.household import household_pairs
from linkage.link.wording import FORENAME_WORDS, agreement
from test_cluster_evidence import pass_rows, rec, second_pass
from test_queue_complement import _con, _namesake_children
from test_queue_decoys import _population, _row


def test_forenames_that_sound_alike_and_birthdays_a_slip_apart_are_said_so(tmp_path):
    # The school's Sarah Rocca and the GP's Zara Duhig: a new surname and a move, born 7 and 17 April.
    records = [rec("education:1", "sarah", "rocca", postcode="W5 1PW", upn="A1"),
               rec("health:1", "zara", "duhig", postcode="GL7 1AB", address="9 old lane", nhs="N1", dob="2015-04-17")]
    result = second_pass(tmp_path, records, {"education:1": "C1", "health:1": "C2"})
    assert result.queue == [("education:1", "health:1", CHANGE_REASON.format(
        agree="forenames sound alike, date of birth one slip apart", evidence="nothing else agrees"))]
    assert "same forename" not in result.queue[0][2]


def test_one_forename_and_birthday_are_still_said_the_same(tmp_path):
    records = [rec("education:1", "harper", "rocca", postcode="W5 1PW", upn="A1"),
               rec("health:1", "harper", "duhig", postcode="GL7 1AB", address="9 old lane", nhs="N1")]
    result = second_pass(tmp_path, records, {"education:1": "C1", "health:1": "C2"})
    assert result.queue[0][2] == CHANGE_REASON.format(agree="same forename and birthday", evidence="nothing else agrees")


def test_each_way_two_forenames_agree_is_told_apart(tmp_path):
    # One pair per way, each a school record and a GP record of one birthday, surnames and homes apart.
    ways = {"same": ("harper", "harper"), "forms": ("william", "bill"), "whole": ("abdulrahman", "abdul rahman"),
            "sound": ("sarah", "zara"), "spelt": ("katherine", "kaeherine")}
    records, children = [], {}
    for i, (how, (a, b)) in enumerate(ways.items()):
        dob = f"201{i}-0{i + 1}-1{i}"
        records += [rec(f"education:{i}", a, f"rocca{i}", postcode=f"W{i} 1PW", upn=f"A{i}", dob=dob),
                    rec(f"health:{i}", b, f"duhig{i}", postcode=f"GL{i} 1AB", nhs=f"N{i}", dob=dob)]
        children.update({f"education:{i}": f"E{i}", f"health:{i}": f"H{i}"})
    rows, _ = pass_rows(tmp_path, records, children)
    said = {(r["l"], r["r"]): r["forename_how"] for r in rows.to_dict("records")}
    assert said == {(f"education:{i}", f"health:{i}"): how for i, how in enumerate(ways)}


def test_the_agreement_of_each_kind_of_pair():
    assert agreement({"forename_how": "same", "dob_exact": True}) == "same forename and birthday"
    assert agreement({"forename_how": "same", "dob_exact": False}) == "same forename, date of birth one slip apart"
    assert agreement({"forename_how": "forms", "dob_exact": True}) == "forenames are forms of one name, same birthday"
    assert agreement({"forename_how": "spelt", "dob_exact": True, "swapped": True}) == "forename and surname swapped"
    assert agreement({"forename_how": "spelt", "dob_exact": False, "swapped": True}) == \
        "forename and surname swapped, date of birth one slip apart"
    assert set(FORENAME_WORDS) >= {"same", "forms", "whole", "sound", "consonants", "spelt"}


def test_household_says_the_forenames_sound_alike_and_the_slip(tmp_path):
    # Harper at school, Harpur at the GP born ten days later, a brother holding both homes.
    old, new = "W5 1PW", "GL7 1AB"
    pair = [rec("education:1", "harper", "rocca", postcode=old, upn="A1"),
            rec("health:1", "harpur", "duhig", postcode=new, address="9 old lane", nhs="N1", dob="2015-04-17")]
    brother = [rec("education:9", "jack", "rocca", postcode=old, upn="B9", nhs="N9", dob="2012-02-03", sex="M"),
               rec("health:9", "jack", "duhig", postcode=new, nhs="N9", dob="2012-02-03", sex="M")]
    others, children = _namesake_children(30, ("health",))
    children = {"education:1": "C1", "health:1": "C2", "education:9": "C9", "health:9": "C9", **children}
    con = _con(tmp_path, [*pair, *brother, *others], children)
    rows = partner_cohorts(con, con.execute(candidates_sql("link_input", "kids", "cotwins")).df(), "link_input", "kids")
    found = decide(rows.to_dict("records"), [], children)
    household_pairs(con, rows, "link_input", "kids", found, children, [])
    con.close()
    assert [(a, b) for a, b, _ in found.queue] == [("education:1", "health:1")]
    assert found.queue[0][2].startswith("possible change of surname and address with the family: "
                                        "forenames sound alike, date of birth one slip apart, and ")


def test_decoys_say_forenames_are_forms_of_one_name():
    # A window open over twelve same-day pairs; one of them a nickname (Bill / William), not one spelling.
    rows = pd.concat([_population(11, 20), pd.DataFrame([_row(500, 30, same_forename=False, forename_how="forms")])],
                     ignore_index=True)
    found = ClusterPass()
    decoy_pairs(rows, found, {**dict(zip(rows["l"], rows["ca"])), **dict(zip(rows["r"], rows["cb"]))}, [])
    why = {(a, b): w for a, b, w in found.queue}
    assert why[("education:500", "health:500")] == DECOY_REASON.format(
        agree="forenames are forms of one name, same birthday", evidence="nothing else agrees")
    assert why[("education:0", "health:0")] == DECOY_REASON.format(
        agree="same forename and birthday", evidence="nothing else agrees")
