"""Issue 11, session 26: a swapped record between two namesakes born the same day is not linked on
its names and birthday alone (``link.swaps``).

The independent generator's six files held two Ali Garcías born the same day, each at school under
his own UPN; social care's "García ALI" (one boy's UPN and home) scored higher against the GP's
Ali García (the other boy, another home) than either school record did, and carried the GP's record
into the wrong child. Built here through the pipeline, with month 1's saved model.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from conftest import EXTRACT_DATE
from linkage.connectors import ingest_file
from linkage.link import run_link
from linkage.link.run import import_model
from linkage.link.swaps import REASON, unpicked_swaps_sql
from linkage.store import Store
from linkage.synth.extracts import EDU_HEADER, HEALTH_HEADER, SC_HEADER
from test_cluster_evidence import _nhs, _upn, input_tables, rec


def _school(i: int, fore: str, sur: str, postcode: str, address: str) -> dict:
    return {"AdNo": f"A{i}", "UPN": _upn(i), "Surname": sur, "Forename": fore, "DOB": "21/12/2015", "Sex": "M",
            "Postcode": postcode, "AddressLine1": address, "SchoolURN": "100001", "EntryDate": "01/09/2021",
            "EnrolStatus": "C", "AttendanceTerm": "2026/27 Autumn"}


def _gp(i: int, fore: str, sur: str, postcode: str) -> dict:
    return {"id": f"P{i}", "nhsNumber": _nhs(10 * i), "name.given": fore, "name.family": sur,
            "birthDate": "2015-12-21", "gender": "male", "address.postalCode": postcode,
            "generalPractitioner.odsCode": "A81001", "generalPractitioner.period.start": "2016-04-01",
            "lastContactDate": "2026-10-12", "lastContactType": "GP appointment"}


def _social(i: int, fore: str, sur: str, postcode: str, address: str, upn: str = "") -> dict:
    return {"LAchildID": f"S{i}", "UPN": upn, "Forename": fore, "Surname": sur, "PersonBirthDate": "2015-12-21",
            "GenderCurrent": "1", "HOME_POST": postcode, "AddressLine1": address, "CINreferralDate": "2025-01-10",
            "ReferralSource": "1A"}


def _write(path: Path, header: list[str], rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
    return path


def _link(tmp_path: Path, linked_store: Store, school: list[dict], gp: list[dict],
          social: list[dict]) -> tuple[dict[str, str], dict[frozenset, str]]:
    """Each record's child, and the open queue's reasons, after linking these extracts."""
    model = tmp_path / "model.json"
    model.write_text(linked_store.rows("SELECT settings_json FROM store.model ORDER BY created_at DESC LIMIT 1")[0][0])
    store = Store(tmp_path / "data", memory_limit="1GB")
    try:
        for source, header, rows in (("education", EDU_HEADER, school), ("health", HEALTH_HEADER, gp),
                                     ("social_care", SC_HEADER, social)):
            got = ingest_file(store, source, _write(tmp_path / f"{source}.csv", header, rows), extract_date=EXTRACT_DATE)
            assert got.accepted == len(rows), source
        import_model(store, model)
        run_link(store)
        child = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
        queue = {frozenset(r[:2]): r[2] for r in store.rows(
            "SELECT record_key_l, record_key_r, reason FROM store.review_queue WHERE status = 'open'")}
    finally:
        store.close()
    return child, queue


# Boy 0 at school at M8 3DQ, and at social care written "Garcia Ali" with his UPN and home; boy 1 at
# school at another home, and the GP's Ali Garcia at a third home (moved since, or the GP's old one).
def _two_boys(swap_postcode: str = "M8 3DQ", gp_postcode: str = "B12 1PA") -> tuple[list, list, list]:
    school = [_school(0, "Ali", "Garcia", "M8 3DQ", "1 Mill Road"), _school(1, "Ali", "Garcia", "LL11 2AB", "48 Ffordd Las")]
    gp = [_gp(1, "Ali", "Garcia", gp_postcode)]
    social = [_social(0, "Garcia", "Ali", swap_postcode, "1 Mill Road", upn=_upn(0))]
    return school, gp, social


def test_a_swapped_record_does_not_carry_a_namesakes_gp_record_into_its_child(tmp_path, linked_store):
    child, queue = _link(tmp_path, linked_store, *_two_boys())
    # The swapped record is boy 0's (his UPN); the GP's Ali Garcia is boy 1's or boy 0's, nothing says which.
    assert child["social_care:S0"] == child["education:A0"] != child["education:A1"]
    assert child["health:P1"] not in (child["education:A0"], child["education:A1"])
    assert queue[frozenset(("health:P1", "social_care:S0"))] == REASON


def test_a_swapped_record_of_a_child_with_no_namesake_still_links(tmp_path, linked_store):
    school, gp, social = _two_boys()
    child, queue = _link(tmp_path, linked_store, school[:1], [_gp(0, "Ali", "Garcia", "B12 1PA")],
                         [_social(0, "Garcia", "Ali", "E1 6AN", "")])
    # Another home, no identifier: the swap and the birthday, with no one else of that name in view.
    assert child["social_care:S0"] == child["education:A0"] == child["health:P0"]
    assert REASON not in queue.values()


def test_a_swapped_record_that_shares_a_home_with_one_namesake_links(tmp_path, linked_store):
    # The GP's record at boy 0's home: the postcode picks him.
    school, gp, social = _two_boys()
    social = [_social(5, "Garcia", "Ali", "B12 1PA", "")]
    child, queue = _link(tmp_path, linked_store, school, gp, social)
    assert child["social_care:S5"] == child["health:P1"]
    assert frozenset(("health:P1", "social_care:S5")) not in queue
    # Against either school record (other homes) nothing picks one: those pairs are asked.
    assert queue[frozenset(("education:A0", "social_care:S5"))] == REASON


def test_the_rule_needs_two_identifiers_among_the_namesakes(tmp_path):
    """Two namesakes with no identifier that differs are perhaps one child: the swap links."""
    records = [rec("education:0", "ali", "garcia", upn="U0", postcode="M8 3DQ", address="1 mill road"),
               rec("health:1", "ali", "garcia", nhs="N1", postcode="B12 1PA", address="2 hill road"),
               rec("social_care:0", "garcia", "ali", postcode="E1 6AN", address="3 brick lane")]
    con = duckdb.connect(str(tmp_path / "swap.duckdb"))
    input_tables(con, records)
    con.execute("CREATE TABLE pairs AS SELECT 'health:1' AS unique_id_l, 'social_care:0' AS unique_id_r")
    assert con.execute(unpicked_swaps_sql("pairs", "link_input")).fetchall() == []
    con.execute("INSERT INTO link_input SELECT * REPLACE ('education:9' AS unique_id, 'U9' AS upn) "
                "FROM link_input WHERE unique_id = 'education:0'")
    assert con.execute(unpicked_swaps_sql("pairs", "link_input")).fetchall() == [("health:1", "social_care:0")]
