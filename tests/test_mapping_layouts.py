"""Files laid out an authority's own way, read through the mapping language: address lines in
several columns, a postcode only inside the address, a record id of two columns, headers in
another case or spacing, semicolons and Windows-1252, date-times, two-digit years, NHS numbers
with spaces or dashes and lower-case UPNs.

Every file goes through both ingest paths (``test_mapping_specs._both``), which must agree.
"""

from __future__ import annotations

from datetime import date

import pytest
from test_mapping_specs import _both, _nhs

from linkage.connectors.mapping import load_mapping
from linkage.errors import ConfigError
from linkage.store import Store
from linkage.validation.identifiers import upn_check_letter


def _upn(body: str) -> str:
    return upn_check_letter(body) + body


def test_address_lines_in_several_columns_are_one_address(tmp_path):
    mapping = """source: education
record_id: ID
fields:
  forename: First
  surname: Last
  date_of_birth: DOB
  address: {columns: [Address 1, Address 2, Town], join: ", "}
  postcode: Post Code
"""
    body = (b"ID,First,Last,DOB,Address 1,Address 2,Town,Post Code\n"
            b"E1,Ann,Lee,2015-03-01,1 High Street,, Leeds ,LS1 4AB\n"
            b"E2,Bo,Lee,2015-03-01,Flat 2,3 Mill Lane,Leeds,LS2 7ZZ\n"
            b"E3,Cy,Lee,2015-03-01,,,,\n"
            b"E4,Di,Lee,2015-03-01,N/A,Unknown,,\n")
    counts, _, problems = _both(tmp_path, "education", body, mapping)
    assert counts == (4, 4, 0, 0) and problems == []
    for home in ("homeTrue", "homeFalse"):
        store = Store(tmp_path / home, memory_limit="1GB")
        try:
            got = store.rows("SELECT source_record_id, address FROM store.records ORDER BY 1")
        finally:
            store.close()
        assert got == [("E1", "1 High Street, Leeds"), ("E2", "Flat 2, 3 Mill Lane, Leeds"), ("E3", None),
                       ("E4", None)]


def test_a_postcode_written_only_inside_the_address_is_found(tmp_path):
    mapping = """source: education
record_id: ID
fields:
  forename: First
  surname: Last
  date_of_birth: DOB
  address: Address
  postcode: {column: Address, find: postcode}
"""
    body = ('ID,First,Last,DOB,Address\n'
            'E1,Ann,Lee,2015-03-01,"1 High Street, Leeds LS1 4AB"\n'
            'E2,Bo,Lee,2015-03-01,"Flat 2, 3 Mill Lane, Leeds, ls27zz"\n'
            'E3,Cy,Lee,2015-03-01,"4 Park Road, Leeds"\n').encode()
    _, records, problems = _both(tmp_path, "education", body, mapping)
    assert [(r[0], r[6]) for r in records] == [("E1", "LS1 4AB"), ("E2", "LS2 7ZZ"), ("E3", None)]
    assert problems == []


def test_a_record_id_made_of_two_columns(tmp_path):
    """One pupil number per school: only school and number together identify the record."""
    mapping = """source: education
record_id: {columns: [School, Pupil No], join: "/"}
fields: {forename: First, surname: Last, date_of_birth: DOB}
"""
    body = (b"School,Pupil No,First,Last,DOB\n"
            b"100001,17,Ann,Lee,2015-03-01\n"
            b"100002,17,Bo,Kay,2014-05-02\n"
            b"100002,,Cy,Kay,2014-05-02\n"
            b"100001,17,Di,Lee,2015-03-01\n")
    counts, records, problems = _both(tmp_path, "education", body, mapping)
    assert [r[0] for r in records] == ["100001/17", "100002", "100002/17"]
    # A number without its school is not the same id; a second 100001/17 with other details is refused.
    assert counts[:3] == (4, 3, 1)
    assert [(line, r.split(",")[0]) for line, _, r, _ in problems] == [(5, "duplicate record id")]


def test_headers_in_another_case_or_spacing_or_with_a_second_bom_are_the_mapping_columns(tmp_path):
    mapping = """source: education
record_id: Person ID
fields: {forename: Forename, surname: Surname, date_of_birth: Date of Birth}
"""
    body = "\ufeffperson id ,FORENAME,\u00a0Surname,Date  of\u200b Birth\nE1,Ann,Lee,2015-03-01\n".encode()
    counts, records, _ = _both(tmp_path, "education", body, mapping)
    assert counts[:3] == (1, 1, 0) and records[0][:3] == ("E1", "Ann", None)


def test_two_columns_that_could_be_one_mapping_column_are_refused_in_one_line(tmp_path):
    from linkage.connectors import ingest_file
    from linkage.connectors.readers import ConnectorError

    (tmp_path / "m.yaml").write_text("source: education\nrecord_id: ID\n"
                                     "fields: {forename: Forename, surname: Surname, date_of_birth: DOB}\n")
    (tmp_path / "x.csv").write_text("ID,forename,FORENAME ,Surname,DOB\nE1,Ann,Ann,Lee,2015-03-01\n")
    store = Store(tmp_path / "home", memory_limit="1GB")
    try:
        with pytest.raises(ConnectorError, match=r"2 columns that could be the mapping's 'Forename'") as exc:
            ingest_file(store, "education", tmp_path / "x.csv", tmp_path / "m.yaml")
        assert "\n" not in str(exc.value)
    finally:
        store.close()


def test_semicolons_windows_1252_datetimes_two_digit_years_nhs_and_upn_spellings(tmp_path):
    nhs = _nhs("943476591")
    upn = _upn("801200005001")
    mapping = """source: social_care
record_id: Ref
encoding: cp1252
delimiter: semicolon
fields:
  forename: Forename
  surname: Surname
  date_of_birth: {column: Born, format: "%d/%m/%y"}
  nhs_number: NHS
  upn: UPN
  address_from: {column: Moved In, format: "%d/%m/%Y"}
"""
    rows = [f"S1;Zoë;Ní Bhriain;01/03/15;{nhs[:3]} {nhs[3:6]} {nhs[6:]};{upn.lower()};14/02/2024 00:00",
            f"S2;Siobhán;O'Neill;31/12/05;{nhs[:3]}-{nhs[3:6]}-{nhs[6:]};{upn[:4]} {upn[4:]};14/02/2024 13:45:00",
            "S3;Ann;Lee;29/02/16;;;2024-02-14",
            "S4;Bo;Lee;01/03/2015;;;"]
    body = ("Ref;Forename;Surname;Born;NHS;UPN;Moved In\r\n" + "\r\n".join(rows) + "\r\n").encode("cp1252")
    counts, records, problems = _both(tmp_path, "social_care", body, mapping)
    assert [(r[0], r[1], r[3], r[4], r[7]) for r in records] == [
        ("S1", "Zoë", "Ní Bhriain", date(2015, 3, 1), nhs), ("S2", "Siobhán", "O'Neill", date(2005, 12, 31), nhs),
        ("S3", "Ann", "Lee", date(2016, 2, 29), None)]
    # A four-digit year under a two-digit format is not guessed; an ISO move-in date under a stated format neither.
    assert [(line, f) for line, f, _, sev in problems if sev == "error"] == [(5, "Born [date_of_birth]")]
    assert [(line, f) for line, f, _, sev in problems if sev == "warning"] == [(4, "Moved In [address_from]")]


def test_a_two_digit_year_is_never_in_the_future(tmp_path):
    from linkage.connectors.derive import FieldSpec

    read = FieldSpec(column="d", format="%d/%m/%y").rule("date_of_birth")
    this = date.today().year % 100
    assert read(f"01/01/{this:02d}") == date(date.today().year, 1, 1).isoformat()
    assert read(f"31/12/{(this + 1) % 100:02d}").startswith(str(date.today().year - 99))


@pytest.mark.parametrize("fields,why", [
    ("{forename: f, surname: s, date_of_birth: d, ethnicity: Ethnicity}",
     "ethnicity is not kept (linking does not use it, and it is special-category data)"),
    ("{forename: f, surname: s, date_of_birth: d, address: {columns: [a, b]}}", "say how to join them"),
    ("{forename: f, surname: s, date_of_birth: d, address: {column: a, join: ' '}}", "join needs several columns"),
    ("{forename: f, surname: s, date_of_birth: d, address: {columns: [a, b], join: ' ', find: postcode}}",
     "are joined as they are; find reads one column"),
    ("{forename: f, surname: s, date_of_birth: d, address: {column: a, find: postcode}}",
     "find: postcode gives the postcode field, not 'address'"),
    ("{forename: f, surname: s, date_of_birth: d, address: [Line 1, Town]}",
     'fields.address: several columns are one spec: {columns: [Line 1, Town], join: ", "}'),
    ("{forename: f, surname: s, date_of_birth: {column: d}}", "a spec needs split, format, values or find"),
])
def test_what_the_language_cannot_say_is_one_line(tmp_path, fields, why):
    path = tmp_path / "m.yaml"
    path.write_text(f"source: education\nrecord_id: id\nfields: {fields}\n")
    with pytest.raises(ConfigError) as exc:
        load_mapping(path)
    assert why in str(exc.value) and "\n" not in str(exc.value)


def test_one_row_per_address_is_the_record_with_its_address_history(tmp_path):
    """The newest address (by move-in date) is the record's; the others are its history; a row
    differing in anything else is still a duplicate id."""
    mapping = """source: social_care
record_id: ID
fields:
  forename: First
  surname: Last
  date_of_birth: DOB
  address: Address
  postcode: Postcode
  address_from: Moved In
events:
  - type: referral
    fields: {referral_date: Referral}
"""
    body = (b"ID,First,Last,DOB,Address,Postcode,Moved In,Referral\n"
            b"S1,Ann,Lee,2015-03-01,1 High Street,LS1 4AB,2016-01-10,2024-01-01\n"
            b"S1,Ann,Lee,2015-03-01,9 New Road,LS9 8AB,2023-06-01,2024-05-01\n"
            b"S1,Ann,Lee,2015-03-01,4 Mill Lane,LS2 7ZZ,2019-02-01,\n"
            b"S1,Ann,Lee,2015-03-01,4 Mill Lane,LS2 7ZZ,2019-02-01,2024-07-01\n"
            b"S2,Bo,Kay,2014-05-02,,,,\n"
            b"S2,Bo,Kay,2014-05-02,2 Low Street,LS3 1AA,,\n"
            b"S1,Anne,Lee,2015-03-01,1 High Street,LS1 4AB,2016-01-10,\n")
    counts, records, problems = _both(tmp_path, "social_care", body, mapping)
    assert counts[:3] == (7, 6, 1)
    assert [(line, f, r.split(" (")[-1]) for line, f, r, _ in problems] == [(8, "ID", "it differs in First)")]
    for home in ("homeTrue", "homeFalse"):
        store = Store(tmp_path / home, memory_limit="1GB")
        try:
            assert store.rows("SELECT source_record_id, address, postcode, address_from FROM store.records "
                              "ORDER BY 1") == [("S1", "9 New Road", "LS9 8AB", date(2023, 6, 1)),
                                                ("S2", "2 Low Street", "LS3 1AA", None)]
            assert store.rows("SELECT record_key, address, postcode, address_from FROM store.address_history "
                              "ORDER BY ALL") == [
                ("social_care:S1", "1 High Street", "LS1 4AB", date(2016, 1, 10)),
                ("social_care:S1", "4 Mill Lane", "LS2 7ZZ", date(2019, 2, 1))]
            assert store.scalar("SELECT count(*) FROM store.sc_referral") == 3
        finally:
            store.close()


def test_the_address_section_lists_a_records_address_history():
    from linkage.views.child import addresses, addresses_unattributed

    doc = {"records": [{"source": "social_care", "postcode": "LS9 8AB", "address": "9 New Road",
                        "address_from": date(2023, 6, 1), "extract_date": date(2026, 11, 1)}],
           "address_history": [{"source": "social_care", "postcode": "LS1 4AB", "address": "1 High Street",
                                "address_from": date(2016, 1, 10)}]}
    assert [a["postcode"] for a in addresses(doc)] == ["LS9 8AB", "LS1 4AB"]
    assert [a["postcode"] for a in addresses_unattributed(doc)] == ["LS9 8AB", "LS1 4AB"]


def test_rows_of_one_record_that_leave_a_detail_blank_are_one_record(tmp_path):
    """One row per contact: the UPN given on one contact and not another is the record's; a
    detail given two ways is a duplicate id naming the column that differs."""
    upn = _upn("801200005001")
    mapping = """source: health
record_id: Ref
fields: {forename: First, surname: Last, date_of_birth: DOB, upn: UPN, sex: Sex}
events:
  - type: contact
    fields: {contact_date: Seen}
"""
    body = (f"Ref,First,Last,DOB,UPN,Sex,Seen\n"
            f"H1,Ann,Lee,2015-03-01,,,2026-01-02\n"
            f"H1,Ann,Lee,2015-03-01,{upn.lower()},F,2026-02-03\n"
            f"H1,Ann,Lee,2015-03-01,,,2026-03-04\n"
            f"H1,Ann,Lee,2015-03-01,,M,2026-04-05\n").encode()
    counts, records, problems = _both(tmp_path, "health", body, mapping)
    assert counts[:3] == (4, 3, 1)
    assert [(r[0], r[5]) for r in records] == [("H1", "F")]
    assert [(line, reason) for line, _, reason, _ in problems] == [
        (5, "duplicate record id, first at row 2, with other personal details (it differs in Sex)")]
    store = Store(tmp_path / "homeFalse", memory_limit="1GB")
    try:
        assert store.rows("SELECT upn FROM store.records") == [(upn,)]
        assert store.scalar("SELECT count(*) FROM store.health_contact") == 3
    finally:
        store.close()


def test_the_quarantine_names_a_record_id_made_of_two_columns(tmp_path):
    """A custom mapping's record id (here made by a spec) is listed and exported with the row."""
    import csv

    from typer.testing import CliRunner

    from linkage.cli import app

    (tmp_path / "m.yaml").write_text("source: education\nrecord_id: {columns: [School, Pupil No], join: /}\n"
                                     "fields: {forename: First, surname: Last, date_of_birth: DOB}\n")
    (tmp_path / "x.csv").write_text("School,Pupil No,First,Last,DOB\n100001,17,Ann,Lee,2015-03-01\n"
                                    "100001,18,Bo,Lee,\n100001,19,Cy,Lee,2015-03-01\n")
    home = ["--data-dir", str(tmp_path / "h")]
    run = CliRunner().invoke
    out = run(app, ["ingest", "--source", "education", "--mapping", str(tmp_path / "m.yaml"), str(tmp_path / "x.csv"),
                    *home])
    assert out.exit_code == 0, out.output
    assert run(app, ["quarantine", "export", str(tmp_path / "fix.csv"), *home]).exit_code == 0
    with open(tmp_path / "fix.csv", newline="") as fh:
        assert [(r["line"], r["record_id"], r["column"]) for r in csv.DictReader(fh)] == [("3", "100001/18", "DOB")]


def test_the_mapping_reference_example_reads_as_it_says(tmp_path):
    """docs/mappings.md: its example file, saved as its mapping says, reads as the page says."""
    import re

    from conftest import REPO

    page = (REPO / "docs" / "mappings.md").read_text()
    mapping = re.search(r"<!-- example-mapping: \S+ -->\n```yaml\n(.*?)```", page, re.S).group(1)
    body = re.search(r"<!-- example-own: \S+ -->\n```csv\n(.*?)```", page, re.S).group(1)
    counts, records, problems = _both(tmp_path, "social_care", body.replace("\n", "\r\n").encode("cp1252"), mapping)
    assert counts == (3, 3, 0, 0) and problems == []
    assert records == [
        ("EH North/1001", "Siobhán", None, "NÍ BHRIAIN", date(2015, 3, 1), None, "LS2 7ZZ", "9434765919"),
        ("EH South/1001", "Zoë", None, "ADEYEMI", date(2012, 11, 30), None, "LS6 2QT", None)]
    store = Store(tmp_path / "homeTrue", memory_limit="1GB")
    try:
        assert store.rows("SELECT upn, address, address_from FROM store.records ORDER BY source_record_id") == [
            ("B801200005001", "Flat 2, 3 Mill Lane, Leeds", date(2024, 2, 14)), (None, "4 Park Road, LEEDS", None)]
        assert store.rows("SELECT record_key, address, postcode FROM store.address_history") == [
            ("social_care:EH North/1001", "1 High Street, Leeds", "LS1 4AB")]
    finally:
        store.close()


def test_yaml_words_and_numbers_are_column_names_and_codes(tmp_path):
    """YAML 1.1 reads ``No`` as false and ``1`` as a number: a column called No, and codes 1 and 2."""
    path = tmp_path / "m.yaml"
    path.write_text("source: education\nrecord_id: No\nfields: {forename: On, surname: s, date_of_birth: d, "
                    "sex: {column: g, values: {1: M, 2: F, Y: U}}}\n")
    m = load_mapping(path)
    assert m.record_id == "No" and m.fields["forename"] == "On"
    rule = m.derived["g [sex]"][1]
    assert (rule("1"), rule("2"), rule("y")) == ("M", "F", "U")


@pytest.mark.parametrize("value,hint", [
    ("01/03/15", 'a two-digit year, never guessed: a mapping can state it: {column: ..., format: "%d/%m/%y"}'),
    ("03/14/2015", 'month first? a mapping can state it: {column: ..., format: "%m/%d/%Y"}'),
    ("42064", "or state {column: ..., format: excel} in the mapping"),
])
def test_a_date_a_mapping_could_state_says_how(value, hint):
    from linkage.validation.dates import DateError, parse_date

    with pytest.raises(DateError) as exc:
        parse_date(value)
    assert hint in str(exc.value)


def test_a_title_above_the_header_and_a_typo_in_an_optional_column_are_said(tmp_path):
    from linkage.connectors import ingest_file
    from linkage.connectors.readers import ConnectorError

    (tmp_path / "m.yaml").write_text("source: education\nrecord_id: ID\nfields: {forename: First, surname: Last, "
                                     "date_of_birth: DOB, address: {columns: [Adress 1, Town], join: ', '}}\n")
    (tmp_path / "title.csv").write_text("Pupils on roll 26/11/2026\nID,First,Last,DOB,Address 1,Town\n")
    (tmp_path / "x.csv").write_text("ID,First,Last,DOB,Address 1,Town\nE1,Ann,Lee,2015-03-01,1 High St,Leeds\n")
    store = Store(tmp_path / "home", memory_limit="1GB")
    try:
        with pytest.raises(ConnectorError, match="is the header not the file's first line"):
            ingest_file(store, "education", tmp_path / "title.csv", tmp_path / "m.yaml")
        r = ingest_file(store, "education", tmp_path / "x.csv", tmp_path / "m.yaml")
        assert r.problems_sample[0] == (0, "Adress 1", "optional columns absent; left empty (a typo in the "
                                                       "mapping? closest: 'Adress 1' -> 'Address 1')")
        assert store.rows("SELECT address FROM store.records") == [("Leeds",)]
    finally:
        store.close()


def test_ingest_says_how_many_earlier_addresses_it_kept(tmp_path):
    from typer.testing import CliRunner

    from linkage.cli import app

    (tmp_path / "m.yaml").write_text("source: social_care\nrecord_id: ID\nfields: {forename: First, surname: Last, "
                                     "date_of_birth: DOB, postcode: Postcode}\n")
    (tmp_path / "x.csv").write_text("ID,First,Last,DOB,Postcode\nS1,Ann,Lee,2015-03-01,LS1 4AB\n"
                                    "S1,Ann,Lee,2015-03-01,LS2 7ZZ\nS1,Ann,Lee,2015-03-01,LS6 2QT\n")
    out = CliRunner().invoke(app, ["ingest", "--source", "social_care", "--mapping", str(tmp_path / "m.yaml"),
                                   str(tmp_path / "x.csv"), "--data-dir", str(tmp_path / "h")])
    assert out.exit_code == 0, out.output
    assert ("read 3, accepted 3 (2 repeating a record, adding its events; 2 earlier addresses kept as address "
            "history), quarantined 0") in " ".join(out.output.split())
