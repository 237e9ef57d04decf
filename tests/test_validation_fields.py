"""Field-level quarantine: a bad non-key field is set aside, the child is kept and still linked.

Names in any script, NHS no-fixed-abode and BFPO postcodes, and phone numbers are valid.
"""

from __future__ import annotations

import csv
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import EXTRACT_DATE, REPO
from linkage.connectors import ingest_file
from linkage.link.features import record_features
from linkage.synth.extracts import EDU_HEADER
from linkage.validation import (
    has_letters,
    normalise_name,
    normalise_phone,
    normalise_postcode,
    postcode_for_linking,
)

GOOD = {"AdNo": "1", "UPN": "B801200005001", "Surname": "Example", "Forename": "Alexander",
        "DOB": "14/03/2015", "Sex": "M", "Postcode": "SW1A 1AA", "SchoolURN": "100001",
        "EntryDate": "01/09/2021"}


def write(path, rows, header=EDU_HEADER):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def quarantine(store):
    return store.rows("SELECT line_no, field, severity FROM store.quarantine ORDER BY line_no, field")


@pytest.mark.parametrize("forename,surname,std", [
    ("محمد", "الحسن", "mhmd"), ("王芳", "李", "wangfang"), ("Αλέξανδρος", "Παπαδόπουλος", "alexandros"),
    ("Ирина", "Иванова", "irina"), ("Nguyễn", "Thị", "nguyen"),
])
def test_names_in_any_script_are_accepted_kept_for_display_and_compared_transliterated(
        store, tmp_path, forename, surname, std):
    r = ingest_file(store, "education", write(tmp_path / "n.csv", [{**GOOD, "Forename": forename,
                                                                    "Surname": surname}]),
                    extract_date=EXTRACT_DATE)
    assert (r.accepted, r.quarantined, r.warned) == (1, 0, 0)
    assert store.rows("SELECT forename, forename_std FROM store.records") == [(forename, std)]


def test_a_name_with_no_letters_in_any_script_is_still_refused(store, tmp_path):
    r = ingest_file(store, "education", write(tmp_path / "n.csv", [GOOD, {**GOOD, "AdNo": "2", "Forename": "😀"}]),
                    extract_date=EXTRACT_DATE)
    assert (r.accepted, r.quarantined) == (1, 1)
    assert not has_letters("😀 ---") and has_letters("李")


@given(st.text(max_size=30))
def test_transliterated_names_stay_idempotent_and_ascii(text):
    once = normalise_name(text)
    if once is not None:
        assert normalise_name(once) == once and once.isascii()


@pytest.mark.parametrize("raw,expected", [
    ("ZZ99 3VZ", "ZZ99 3VZ"), ("zz993vz", "ZZ99 3VZ"), ("ZZ99 3WZ", "ZZ99 3WZ"), ("ZZ99 3CZ", "ZZ99 3CZ"),
    ("BFPO 123", "BFPO 123"), ("bfpo 5", "BFPO 5"), ("BFPO1234", "BFPO 1234"), ("BF1 3AA", "BF1 3AA"),
])
def test_no_fixed_abode_and_bfpo_are_valid_markers(raw, expected):
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize("bad", ["ZZ99", "BFPO", "BFPO 12345", "ZZ99 3V", "BFPO ABC"])
def test_malformed_markers_are_not_postcodes(bad):
    assert normalise_postcode(bad) is None


def test_no_fixed_abode_and_bfpo_are_never_linking_evidence(store):
    """Two children of no fixed abode share ZZ99 3VZ; it says nothing about either."""
    assert postcode_for_linking("ZZ99 3VZ") is None and postcode_for_linking("BFPO 123") is None
    assert postcode_for_linking("SW1A 1AA") == "SW1A 1AA"
    from linkage.link.features import input_sql

    rows = []
    for i, pc in enumerate(["ZZ99 3VZ", "BFPO 123", "SW1A 1AA"]):
        null = "NULL::VARCHAR"
        rows.append(f"SELECT 'k{i}' AS record_key, 'education' AS source, 'education' AS register, 'alexander' AS forename_std, "
                    f"{null} AS middle_names_std, 'example' AS surname_std, {null} AS former_surname_std, "
                    f"{null} AS preferred_forename_std, DATE '2015-03-14' AS date_of_birth, 'M' AS sex, "
                    f"'{pc}' AS postcode, {null} AS address, {null} AS upn, {null} AS former_upn, "
                    f"{null} AS nhs_number")
    store.execute("CREATE TEMP TABLE nk (name VARCHAR, keys VARCHAR[], canon VARCHAR, sound VARCHAR, skeleton VARCHAR, "
                  "abjad VARCHAR, near VARCHAR[], family VARCHAR[])")
    got = store.rows(f"SELECT unique_id, postcode, postcode_district FROM ({input_sql(' UNION ALL '.join(rows), 'nk')}) "
                     "ORDER BY 1")
    assert got == [("k0", None, None), ("k1", None, None), ("k2", "SW1A 1AA", "SW1A")]
    py = record_features(forename_std="alexander", surname_std="example", date_of_birth=date(2015, 3, 14),
                         postcode="ZZ99 3VZ")
    assert (py["postcode"], py["postcode_district"]) == (None, None)


@pytest.mark.parametrize("raw", ["+44 1632 960000", "01632 960000", "0044 1632 960000", "(01632) 960000",
                                 "+44 (0)1632 960000", "01632-960000"])
def test_phone_numbers_have_one_canonical_form(raw):
    assert normalise_phone(raw) == "+441632960000"


@pytest.mark.parametrize("bad", ["=1+1", "call the duty desk", "12345", "+44 12", "01632 960000 ext 4"])
def test_what_is_not_a_phone_number(bad):
    assert normalise_phone(bad) is None


def test_social_care_phone_number_no_longer_quarantines_the_child(store, tmp_path):
    body = (REPO / "connectors" / "examples" / "social_care.csv").read_text().splitlines()
    header, row = body[0], body[1]
    rows = [row.replace("01632 960000", "+44 1632 960000"),
            row.replace("LA0001", "LA0002").replace("01632 960000", "ring the duty desk")]
    path = tmp_path / "sc.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    r = ingest_file(store, "social_care", path, extract_date=EXTRACT_DATE)
    assert (r.accepted, r.quarantined, r.warned) == (2, 0, 1)
    assert store.rows("SELECT team, contact FROM store.sc_allocation ORDER BY record_key") == [
        ("North Locality", "+441632960000"), ("North Locality", None)]
    assert quarantine(store) == [(3, "TeamContact", "warning")]


def test_each_bad_non_key_field_is_set_aside_and_the_record_kept(store, tmp_path):
    rows = [
        {**GOOD, "AdNo": "1", "Postcode": "NOT A POSTCODE"},
        {**GOOD, "AdNo": "2", "UPN": "A801200005001"},
        {**GOOD, "AdNo": "3", "ExclusionCategory": "SUSP", "ExclusionStartDate": "31/02/2026"},
        {**GOOD, "AdNo": "4", "Sex": "Q"},
        {**GOOD, "AdNo": "5", "AddressLine1": " =HYPERLINK(\"http://x\")"},
        {**GOOD, "AdNo": "6", "MiddleNames": "@SUM(A1)"},
        {**GOOD, "AdNo": "7", "TermlySessionsPossible": "lots", "AttendanceTerm": "2026/27 Autumn"},
    ]
    r = ingest_file(store, "education", write(tmp_path / "f.csv", rows), extract_date=EXTRACT_DATE)
    assert (r.rows_read, r.accepted, r.quarantined, r.warned) == (7, 7, 0, 7)
    assert quarantine(store) == [
        (2, "Postcode", "warning"), (3, "UPN", "warning"), (4, "ExclusionStartDate", "warning"),
        (4, "exclusion", "warning"), (5, "Sex", "warning"), (6, "AddressLine1", "warning"),
        (7, "MiddleNames", "warning"), (8, "TermlySessionsPossible", "warning"), (8, "attendance", "warning")]
    got = store.rows("SELECT postcode, upn, sex, address, middle_names FROM store.records ORDER BY line_no")
    assert [g[0] for g in got] == [None] + ["SW1A 1AA"] * 6
    assert got[1][1] is None and got[3][2] is None and got[4][3] is None and got[5][4] is None
    assert store.scalar("SELECT count(*) FROM store.edu_exclusion") == 0
    assert store.scalar("SELECT count(*) FROM store.edu_enrolment") == 7


@pytest.mark.parametrize("fault,field", [
    ({"AdNo": ""}, "AdNo"), ({"Forename": ""}, "Forename"), ({"Surname": "---"}, "Surname"),
    ({"DOB": ""}, "DOB"), ({"DOB": "31/02/2015"}, "DOB"), ({"AdNo": "=1+1"}, "AdNo"),
    ({"Forename": "\uff1dcmd|' /C calc'!A0"}, "Forename"),
])
def test_a_record_without_a_usable_id_name_or_birth_date_is_rejected_whole(store, tmp_path, fault, field):
    r = ingest_file(store, "education", write(tmp_path / "k.csv", [GOOD, {**GOOD, "AdNo": "2", **fault}]),
                    extract_date=EXTRACT_DATE)
    assert (r.accepted, r.quarantined) == (1, 1)
    assert (2 + 1, field, "error") in quarantine(store)


@pytest.mark.e2e
def test_records_whose_only_fault_is_their_postcode_are_still_linked(tmp_path, synth_month1, linked_store):
    """Field-level quarantine keeps them in linkage: each is linked to its other agencies' records
    (by month 1's model: what is tested is which records reach linkage, not training)."""
    from linkage.link import run_link
    from linkage.link.run import export_model, import_model
    from linkage.store import Store

    with open(synth_month1 / "health.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    spoilt = {r["id"] for r in rows[:200]}
    for r in rows[:200]:
        r["address.postalCode"] = "NOT A PLACE"     # fails the check ("Not known" is read as blank)
    health = write(tmp_path / "health.csv", rows, header=list(rows[0]))
    store = Store(tmp_path / "data", memory_limit="2GB")
    try:
        for source in ("education", "social_care"):
            ingest_file(store, source, synth_month1 / f"{source}.csv", extract_date=EXTRACT_DATE)
        r = ingest_file(store, "health", health, extract_date=EXTRACT_DATE)
        assert r.warned >= 200 and r.accepted + r.quarantined + r.blank == r.rows_read
        (tmp_path / "model").mkdir()
        import_model(store, export_model(linked_store, tmp_path / "model"))
        assert not run_link(store).trained
        truth = {}
        with open(synth_month1 / "truth.csv", newline="", encoding="utf-8") as fh:
            for t in csv.DictReader(fh):
                truth[f"{t['source']}:{t['source_record_id']}"] = t["person"]
        child = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
        by_person: dict[str, set[str]] = {}
        for key, person in truth.items():
            if key in child:
                by_person.setdefault(person, set()).add(child[key])
        linked = 0
        for rid in spoilt:
            key = f"health:{rid}"
            assert key in child, f"{key} was dropped from linkage"
            others = [k for k, p in truth.items() if p == truth[key] and k != key and k in child]
            linked += bool(others) and all(child[k] == child[key] for k in others)
        with_others = sum(1 for rid in spoilt
                          if any(p == truth[f"health:{rid}"] and k != f"health:{rid}" for k, p in truth.items()))
        assert linked >= 0.9 * with_others
    finally:
        store.close()
