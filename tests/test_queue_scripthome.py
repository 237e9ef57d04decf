"""Issue 11 items 4 and 6: one child at one home whose name from another script is written two ways
and typed besides (the school's Tzu-hao Wang, middle name Thomas; the GP's Zi Ao Wong, middle names
Ao Thomas, its h lost) is queued, never linked (``link/scripthome.py``).

Small constructed populations in a real DuckDB file through the real features SQL and the second
pass's SQL (as ``test_queue_romanised``). Before ``scripthome`` neither ``reach`` (its ``script`` key
needs the consonants equal and at least ``ROMAN_SHORTEST`` of them) nor ``romanised`` queued these.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.reach import reach_pairs
from linkage.link.romanised import romanised_pairs
from linkage.link.scripthome import SCRIPTHOME_REASON, scripthome_pairs
from test_cluster_evidence import rec
from test_queue_slipped import queued_by

CHILDREN = {"education:1": "C1", "health:1": "C2"}
WADE = "a Wade-Giles spelling in one record"
ABJAD = "written without vowels in one record"


def _pass(tmp_path: Path, name: str, records: list[dict], children: dict[str, str] = CHILDREN,
          apart: list[tuple[str, str]] = ()) -> tuple[list, list[tuple[str, str, str]]]:
    """What ``reach`` and ``romanised`` queue over ``records``, and what ``scripthome`` queues."""
    return queued_by(scripthome_pairs, tmp_path, name, records, children, apart, before=(reach_pairs, romanised_pairs))


def _pair(school: tuple[str, str | None, str], gp: tuple[str, str | None, str], dob: str = "2015-10-07",
          gp_postcode: str = "E5D 4RQ", **gp_more) -> list[dict]:
    """A school record and a GP record (forename, middle names, surname) of a boy, the school's at E5D 4RQ."""
    return [rec("education:1", school[0], school[2], middle=school[1], dob="2015-10-07", postcode="E5D 4RQ",
                upn="A1", sex="M"),
            rec("health:1", gp[0], gp[2], middle=gp[1], dob=dob, postcode=gp_postcode,
                **{"nhs": "N1", "sex": "M", **gp_more})]


def _reason(how: str, days: bool = False) -> str:
    return SCRIPTHOME_REASON.format(evidence=f"{how}, {'born days apart' if days else 'same birthday'}")


def test_a_name_from_another_script_written_two_ways_and_typed_at_one_home_is_queued(tmp_path):
    # Tzu-hao / Zi Ao (the h lost), Wang / Wong; Hsaio-linf / Xiao Ling; blrhmn / Abdul Rahman (a letter
    # lost from the consonants), Zhang / Chang; Zihai / Tzu-hao born a fortnight apart, El Hassan / Alhassan.
    for name, school, gp, dob, how in (
            ("zi ao", ("tzu-hao", "thomas", "wang"), ("zi", "ao thomas", "wong"), "2015-10-07", WADE),
            ("xiao", ("hsaio-linf", "millie", "kouznetsov"), ("xiao", "ling", "kuznetsov"), "2015-10-07", WADE),
            ("abjad", ("blrhmn", "ekmel", "zhang"), ("abdul", "rahman ekmel", "chang"), "2015-10-07", ABJAD),
            ("days", ("zihai", None, "el hassan"), ("tzu-hao", None, "alhassan"), "2015-10-21", WADE)):
        before, queued = _pass(tmp_path, name, _pair(school, gp, dob))
        assert before == [], name
        assert queued == [("education:1", "health:1", _reason(how, days=dob != "2015-10-07"))], name


def test_twins_a_second_letter_another_home_or_other_evidence_keep_it_out(tmp_path):
    zi, tzu = ("zi", "ao thomas", "wong"), ("tzu-hao", "thomas", "wang")
    # No romanisation marked in either record: Aidan / Aiden Riggs at one home, one letter apart, are twins.
    assert _pass(tmp_path, "twins", _pair(("aidan", None, "riggs"), ("aiden", None, "riggs")))[1] == []
    # Two letters apart (Zi Lan); another home; born 40 days apart; middle names that disagree.
    assert _pass(tmp_path, "letters", _pair(tzu, ("zi", "lan thomas", "wong")))[1] == []
    assert _pass(tmp_path, "home", _pair(tzu, zi, gp_postcode="LU9 4ER"))[1] == []
    assert _pass(tmp_path, "born", _pair(tzu, zi, dob="2015-11-16"))[1] == []
    assert _pass(tmp_path, "middle", _pair(tzu, ("zi", "ao jack", "wong")))[1] == []
    # Another sex; kept apart by a reviewer; one source holds both children (the GP child's school record).
    assert _pass(tmp_path, "sex", _pair(tzu, zi, sex="F"))[1] == []
    assert _pass(tmp_path, "apart", _pair(tzu, zi), apart=[("education:1", "health:1")])[1] == []
    held = [*_pair(tzu, zi), rec("education:2", "zi", "wong", middle="ao thomas", dob="2015-10-07",
                                 postcode="E5D 4RQ", upn="B2", sex="M")]
    assert _pass(tmp_path, "held", held, {**CHILDREN, "education:2": "C2"})[1] == []


def test_a_cotwin_that_fits_the_other_record_as_well_keeps_it_out(tmp_path):
    # The school holds Tzu-hao Chen and a Zihao Chen born that day: the GP's Zi Hao Chan may be either.
    twin = rec("education:2", "zihao", "chen", dob="2015-10-07", postcode="E5D 4RQ", upn="K905261834411", sex="M")
    pair = _pair(("tzu-hao", "max", "chen"), ("zi", "hai max", "chan"))
    assert len(_pass(tmp_path, "alone", pair)[1]) == 1
    assert _pass(tmp_path, "zihao", [*pair, twin], {**CHILDREN, "education:2": "C3"})[1] == []
    # A co-twin of another name (Arthur) says nothing against the pair.
    arthur = {**twin, "forename_std": "arthur"}
    assert len(_pass(tmp_path, "arthur", [*pair, arthur], {**CHILDREN, "education:2": "C3"})[1]) == 1


def test_a_month_reads_only_the_children_it_reached(tmp_path):
    # The GP record held by a kept child the month did not reach is not read.
    pair = _pair(("tzu-hao", "thomas", "wang"), ("zi", "ao thomas", "wong"))
    assert _pass(tmp_path, "unreached", pair, {"education:1": "C1"})[1] == []
