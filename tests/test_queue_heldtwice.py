"""Issue 11 items 4 and 6: two records of one source under one UPN, in two children,
alike in a name and born near, are queued, never linked (``link/heldtwice.py``): a pupil at two
schools under the one UPN (Amelia Dcker / Decker born ten days apart), which
``complement.shared_identifiers`` refuses because both children hold a school record.

Small constructed populations in a real DuckDB file through the real features SQL and the second
pass's SQL (as ``test_queue_scripthome``). Before ``heldtwice`` no rule queued these pairs.
"""

from __future__ import annotations

from pathlib import Path

from linkage.link.complement import shared_identifiers
from linkage.link.heldtwice import HELDTWICE_REASON, heldtwice_pairs
from linkage.link.reach import reach_pairs
from linkage.link.retyped import retyped_pairs
from linkage.link.romanised import romanised_pairs
from linkage.link.slipped import slipped_pairs
from test_cluster_evidence import rec
from test_queue_slipped import queued_by

# The one pupil's second school record is in a child with a GP record; the first in one of its own.
CHILDREN = {"education:1": "C1", "education:2": "C2", "health:2": "C2"}


def _shared(con, _input, clusters, _cotwins, found, cluster_of, apart) -> None:
    shared_identifiers(con, clusters, found, cluster_of, apart)


EARLIER = (_shared, reach_pairs, romanised_pairs, slipped_pairs, retyped_pairs)


def _pass(tmp_path: Path, name: str, records: list[dict], children: dict[str, str] = CHILDREN,
          apart: list[tuple[str, str]] = (), before: tuple = ()) -> tuple[list, list[tuple[str, str, str]]]:
    """What the rules ``before`` it queue over ``records``, and what ``heldtwice`` queues."""
    return queued_by(heldtwice_pairs, tmp_path, name, records, children, apart, before=before)


def _pupil(first: tuple[str, str, str], second: tuple[str, str, str], upn2: str = "E211449224005",
           **gp_more) -> list[dict]:
    """Two school records (forename, surname, birthday) under one UPN at two homes, the second's
    child holding a GP record too."""
    return [rec("education:1", first[0], first[1], dob=first[2], postcode="M1 1WY", upn="E211449224005"),
            rec("education:2", second[0], second[1], dob=second[2], postcode="BB0 3PG", upn=upn2),
            rec("health:2", second[0], second[1], dob=second[2], postcode="BB0 3PG",
                **{"nhs": "N1", **gp_more})]


def _reason(evidence: str) -> str:
    return HELDTWICE_REASON.format(source="school", evidence=evidence)


def test_one_upn_on_two_school_records_of_alike_names_is_queued(tmp_path):
    for name, first, second, evidence in (
            ("days", ("amelia", "dcker", "2020-08-12"), ("amelia", "decker", "2020-08-22"), "born days apart"),
            ("script", ("julia", "kuznetsova", "2018-11-01"), ("iuliia", "kuznetsov", "2018-11-01"), "same birthday"),
            ("crossed", ("clarke", "iris", "2015-06-28"), ("ieis", "clarke", "2015-06-28"), "same birthday"),
            ("transposed", ("isla", "borroini", "2017-02-08"), ("isla", "borromini", "2017-08-02"),
             "day and month transposed")):
        before, queued = _pass(tmp_path, name, _pupil(first, second), before=EARLIER)
        assert before == [], name
        assert queued == [("education:1", "education:2", _reason(evidence))], name


def test_one_nhs_number_on_two_gp_records_is_left_out(tmp_path):
    # No GP pair under one NHS number was one child at 1M synth (docs/benchmarks.md, "Session 36: queue8").
    records = [rec("health:1", "amelia", "dcker", dob="2020-08-12", postcode="M1 1WY", nhs="9315463544"),
               rec("health:2", "amelia", "decker", dob="2020-08-22", postcode="BB0 3PG", nhs="9315463544"),
               rec("education:2", "amelia", "decker", dob="2020-08-22", postcode="BB0 3PG", upn="A2")]
    children = {"health:1": "C1", "health:2": "C2", "education:2": "C2"}
    assert _pass(tmp_path, "nhs", records, children)[1] == []
    # The same two records under one UPN (as school records would be) are queued.
    as_school = [{**r, "upn": "A1", "nhs_number": None} if r["source"] == "health" else r for r in records]
    assert _pass(tmp_path, "upn", as_school, children)[1] == [
        ("health:1", "health:2", HELDTWICE_REASON.format(source="GP", evidence="born days apart"))]


def test_a_number_typed_against_another_child_or_other_evidence_keeps_it_out(tmp_path):
    amelia, decker = ("amelia", "dcker", "2020-08-12"), ("amelia", "decker", "2020-08-22")
    # Another child's names under the number (Tiberia Marsden / William Sharkey), or born 40 days apart.
    assert _pass(tmp_path, "typed", _pupil(("tiberia", "marsden", "2013-11-23"),
                                           ("william", "sharkey", "2013-10-30")))[1] == []
    assert _pass(tmp_path, "born", _pupil(amelia, ("amelia", "decker", "2020-09-21")))[1] == []
    # Two UPNs (not one), another sex, kept apart by a reviewer.
    assert _pass(tmp_path, "two", _pupil(amelia, decker, upn2="E211449224999"))[1] == []
    assert _pass(tmp_path, "sex", _pupil(amelia, decker, sex="M"))[1] == []
    assert _pass(tmp_path, "apart", _pupil(amelia, decker), apart=[("education:1", "education:2")])[1] == []
    # Both children hold a GP record too: that source in common is not explained by the school records.
    gp = rec("health:1", "amelia", "dcker", dob="2020-08-12", postcode="M1 1WY", nhs="N2")
    assert _pass(tmp_path, "gp", [*_pupil(amelia, decker), gp], {**CHILDREN, "health:1": "C1"})[1] == []


def test_a_cotwin_that_fits_the_other_record_better_keeps_it_out(tmp_path):
    # The first school holds Amelia Dcker's twin Amelie: the second school's Amelie Decker may be her.
    twin = rec("education:3", "amelie", "dcker", dob="2020-08-12", postcode="M1 1WY", upn="K905261834411")
    pair = _pupil(("amelia", "dcker", "2020-08-12"), ("amelie", "decker", "2020-08-12"))
    assert len(_pass(tmp_path, "alone", pair)[1]) == 1
    assert _pass(tmp_path, "twin", [*pair, twin], {**CHILDREN, "education:3": "C3"})[1] == []
