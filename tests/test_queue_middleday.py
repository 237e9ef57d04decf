"""Issue 11 item 4: a child whose family name changed, who moved, and whose birthday two sources wrote a
day apart, still holds one first middle name in both (the school's Leo Conway, the GP's Leo Lippomano,
middle name Adeshina, born 7 and 8 April): queued, never linked (``link/middleday.py``).

Small constructed populations in a real DuckDB file through the real features SQL and the second
pass's SQL (as ``test_queue_slipped``). Before ``middleday``, ``reach`` (its middle-name keys need one
birthday, or the forename written the same with surnames alike) and every other rule left these.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.middleday import MIDDLEDAY_REASON, middleday_pairs
from linkage.link.reach import reach_pairs
from linkage.link.slipped import slipped_pairs
from linkage.link.transposed import transposed_pairs
from test_cluster_evidence import rec
from test_queue_slipped import queued_by

CHILDREN = {"education:1": "C1", "health:1": "C2"}


def _pass(tmp_path: Path, name: str, records: list[dict], children: dict[str, str] = CHILDREN,
          apart: list[tuple[str, str]] = ()) -> tuple[list, list[tuple[str, str, str]]]:
    """What ``reach``, ``slipped`` and ``transposed`` queue over ``records``, and what ``middleday`` queues."""
    return queued_by(middleday_pairs, tmp_path, name, records, children, apart,
                     before=(reach_pairs, slipped_pairs, transposed_pairs))


def _pair(school: tuple[str, str | None, str], gp: tuple[str, str | None, str], gp_dob: str = "2022-04-08",
          **gp_more) -> list[dict]:
    """A school record born 7 April 2022 at SL4 1JH and a GP record (forename, middle names, surname) elsewhere."""
    return [rec("education:1", school[0], school[2], middle=school[1], dob="2022-04-07", postcode="SL4 1JH",
                upn="A1", sex="M"),
            rec("health:1", gp[0], gp[2], middle=gp[1], dob=gp_dob, postcode="W80 3JP",
                **{"nhs": "N1", "sex": "M", **gp_more})]


def _reason(how: str) -> str:
    return MIDDLEDAY_REASON.format(evidence=how)


def test_one_middle_name_and_a_birthday_a_day_out_under_a_new_surname_is_queued(tmp_path):
    # Leo Conway / Lippomano; Georgia / Geoorgia (typed) Contarini / Mistry born a day earlier in the GP's
    # record; Sophie Marnan / the GP's "Young Sophie" (forename and surname swapped, the surname new).
    for name, school, gp, dob, how in (
            ("leo", ("leo", "adeshina", "conway"), ("leo", "adeshina", "lippomano"), "2022-04-08",
             "forename written the same"),
            ("georgia", ("georgia", "zoe", "contarini"), ("geoorgia", "zoe", "mistry"), "2022-04-06",
             "forename typed"),
            ("swap", ("sophie", "matilda", "marnan"), ("young", "matilda", "sophie"), "2022-04-08",
             "forename and surname swapped")):
        before, queued = _pass(tmp_path, name, _pair(school, gp, dob))
        assert before == [], name
        assert queued == [("education:1", "health:1", _reason(how))], name


def test_two_days_another_middle_name_unrelated_names_or_other_evidence_keep_it_out(tmp_path):
    leo, gp = ("leo", "adeshina", "conway"), ("leo", "adeshina", "lippomano")
    assert _pass(tmp_path, "two days", _pair(leo, gp, "2022-04-09"))[1] == []
    assert _pass(tmp_path, "middle", _pair(leo, ("leo", "adam", "lippomano")))[1] == []
    assert _pass(tmp_path, "names", _pair(leo, ("harvey", "adeshina", "lippomano")))[1] == []
    # Another form of the name is not enough a day apart: Isla / Isabella.
    isla = ("isla", "mia", "sheehan")
    assert _pass(tmp_path, "form", _pair(isla, ("isabella", "mia", "macart")))[1] == []
    assert _pass(tmp_path, "typed", _pair(isla, ("ilsa", "mia", "macart")))[1] != []
    # Two NHS numbers, or two sexes, in the two children: two children.
    two = [*_pair(leo, gp), rec("social_care:1", "leo", "conway", middle="adeshina", dob="2022-04-07",
                                postcode="SL4 1JH", nhs="N9", sex="M")]
    assert _pass(tmp_path, "two nhs", two, {**CHILDREN, "social_care:1": "C1"})[1] == []
    assert _pass(tmp_path, "sex", _pair(leo, gp, sex="F"))[1] == []
    # A source holding both children, or a reviewer keeping the pair apart.
    both = [*_pair(leo, gp), rec("health:2", "leo", "conway", middle="adeshina", dob="2022-04-07",
                                 postcode="SL4 1JH", nhs="N1", sex="M")]
    assert _pass(tmp_path, "source", both, {**CHILDREN, "health:2": "C1"})[1] == []
    assert _pass(tmp_path, "apart", _pair(leo, gp), apart=[("education:1", "health:1")])[1] == []


def test_a_twin_whose_forename_fits_the_other_record_as_well_keeps_it_out(tmp_path):
    # The school holds Leo Conway and his twin Leon (another middle name) born that day: the GP's Leon
    # Lippomano, middle name Adeshina, a day later is as likely Leon's record as Leo's.
    pair = _pair(("leo", "adeshina", "conway"), ("leon", "adeshina", "lippomano"))
    assert _pass(tmp_path, "alone", pair)[1] != []
    twin = rec("education:2", "leon", "conway", middle="rose", dob="2022-04-07", postcode="SL4 1JH",
               upn="K905261834411", sex="M")
    assert _pass(tmp_path, "twin", [*pair, twin], {**CHILDREN, "education:2": "C3"})[1] == []
