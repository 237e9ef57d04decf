"""Issue 11 items 4 and 6: one child's birthday written with day and month transposed by one agency,
the forename in another form or with a slip, at two homes, is queued, never linked
(``link/transposed.py``).

Small constructed populations in a real DuckDB file through the real features SQL and the second
pass's SQL (as ``test_queue_romanised``). Before ``transposed`` no key of ``reach`` queued these
records: its keys that read a transposed birthday need a middle name, one home or one forename.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.transposed import TRANSPOSED_REASON, transposed_pairs
from test_cluster_evidence import rec
from test_queue_slipped import queued_by

CHILDREN = {"education:1": "C1", "health:1": "C2"}


def _pass(tmp_path: Path, name: str, records: list[dict], children: dict[str, str] = CHILDREN,
          apart: list[tuple[str, str]] = ()) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """What ``reach`` queues, and what ``transposed_pairs`` queues."""
    return queued_by(transposed_pairs, tmp_path, name, records, children, apart)


def _pair(school: str = "ollie", gp: str = "oliver", gp_surname: str = "smith", gp_dob: str = "2020-07-10",
          **gp_more) -> list[dict]:
    """The school's Ollie Smith born 7 October, middle name Jack, and the GP's record (no middle name)
    at another home."""
    return [rec("education:1", school, "smith", middle="jack", dob="2020-10-07", postcode="GL29 8WH", upn="A1"),
            rec("health:1", gp, gp_surname, dob=gp_dob, postcode="PA86 4DS", **{"nhs": "N1", **gp_more})]


def test_a_transposed_birthday_with_the_forename_in_another_form_is_queued(tmp_path):
    # Ollie / Oliver (another form), Michael / Mixhael (a slip), Oliver / Oliver (written the same).
    for name, school, gp in (("form", "ollie", "oliver"), ("slip", "michael", "mixhael"), ("same", "oliver", "oliver")):
        reached, queued = _pass(tmp_path, name, _pair(school, gp))
        if name != "same":
            assert reached == [], name                        # no key of ``reach`` met them
        assert queued == [("education:1", "health:1", TRANSPOSED_REASON.format(evidence="in one order"))], name


def test_a_transposed_birthday_with_forename_and_surname_swapped_is_queued(tmp_path):
    # The GP wrote the family name first (Smith Ollie), and the school's surname has a slip (Smiht).
    records = _pair(gp="smith", gp_surname="ollie")
    records[0] = {**records[0], "surname_std": "smiht"}
    reached, queued = _pass(tmp_path, "swapped", records)
    assert reached == []
    assert queued == [("education:1", "health:1", TRANSPOSED_REASON.format(evidence="forename and surname swapped"))]
    # Swapped, but the other name is not the other record's forename (Smith Harvey).
    assert _pass(tmp_path, "other", _pair(gp="smith", gp_surname="harvey"))[1] == []


def test_other_names_dates_or_evidence_of_two_children_are_not_queued(tmp_path):
    # Two names (Ollie / Harvey); another surname; a date not transposed (7 October / 10 August);
    # another sex; two NHS numbers; kept apart by a reviewer.
    assert _pass(tmp_path, "names", _pair(gp="harvey"))[1] == []
    assert _pass(tmp_path, "surname", _pair(gp_surname="smyth"))[1] == []
    assert _pass(tmp_path, "date", _pair(gp_dob="2020-08-10"))[1] == []
    assert _pass(tmp_path, "sex", _pair(sex="M"))[1] == []
    assert _pass(tmp_path, "apart", _pair(), apart=[("education:1", "health:1")])[1] == []
    records = [*_pair(), rec("health:2", "ollie", "smith", dob="2020-10-07", postcode="GL29 8WH", nhs="N2")]
    assert _pass(tmp_path, "nhs", records, {**CHILDREN, "health:2": "C1"})[1] == []
    # A day above 12 has no transposed reading (13 October); a day equal to the month none either.
    assert _pass(tmp_path, "day13", [{**r, "date_of_birth": r["date_of_birth"].replace(day=13)} for r in _pair()])[1] == []


def test_a_co_twin_counts_only_when_it_could_be_the_other_record(tmp_path):
    # The school also holds Ollie's twin: Harvey (another name) is no bar; a twin Olly could be the GP's Oliver.
    for twin, queued in (("harvey", True), ("olly", False)):
        records = [*_pair(), rec("education:2", twin, "smith", dob="2020-10-07", postcode="GL29 8WH", upn="K905261834411")]
        got = _pass(tmp_path, twin, records, {**CHILDREN, "education:2": "C3"})[1]
        assert [(a, b) for a, b, _ in got] == ([("education:1", "health:1")] if queued else []), twin
