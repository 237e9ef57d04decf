"""Connectors on good and bad files: a clear error, and nothing lost."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from conftest import EXTRACT_DATE, REPO
from linkage.connectors import ConnectorError, ingest_file
from linkage.connectors.mapping import load_mapping
from linkage.errors import ConfigError
from linkage.synth.extracts import EDU_HEADER

GOOD = {"AdNo": "1", "UPN": "B801200005001", "Surname": "Example", "Forename": "Alexander",
        "DOB": "14/03/2015", "Sex": "M", "Postcode": "SW1A 1AA", "SchoolURN": "100001",
        "EntryDate": "01/09/2021"}


def write_rows(path: Path, rows: list[dict], header=EDU_HEADER, encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def counts(store, eid):
    return (store.scalar("SELECT count(*) FROM store.records WHERE extract_id = ?", [eid]),
            store.scalar("SELECT count(DISTINCT line_no) FROM store.quarantine WHERE extract_id = ?", [eid]))


def quarantine(store):
    return store.rows("SELECT line_no, field, reason FROM store.quarantine ORDER BY line_no")


@pytest.mark.parametrize("source", ["education", "social_care", "health"])
def test_readme_example_files_ingest_with_default_mappings(store, source):
    r = ingest_file(store, source, REPO / "connectors" / "examples" / f"{source}.csv", extract_date=EXTRACT_DATE)
    assert (r.rows_read, r.accepted, r.quarantined) == (1, 1, 0)


def test_missing_required_columns_stop_the_file_and_store_nothing(store, tmp_path):
    path = write_rows(tmp_path / "x.csv", [GOOD], header=["AdNo", "Surname", "Postcode"])
    with pytest.raises(ConnectorError) as exc:
        ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
    assert "Forename" in str(exc.value) and "DOB" in str(exc.value)
    assert store.scalar("SELECT count(*) FROM store.extracts") == 0


def test_empty_file_is_a_clear_error(store, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ConnectorError, match="empty"):
        ingest_file(store, "education", path, extract_date=EXTRACT_DATE)


def test_header_only_file_is_refused_unless_forced(store, tmp_path):
    from linkage.connectors.ingest import ExtractRefused

    with pytest.raises(ExtractRefused, match="no data rows"):
        ingest_file(store, "education", write_rows(tmp_path / "h.csv", []), extract_date=EXTRACT_DATE)
    assert store.scalar("SELECT count(*) FROM store.extracts") == 0
    r = ingest_file(store, "education", write_rows(tmp_path / "h.csv", []), extract_date=EXTRACT_DATE, force=True)
    assert (r.rows_read, r.accepted, r.quarantined) == (0, 0, 0)


def test_bad_rows_are_quarantined_and_bad_fields_set_aside_with_line_field_and_reason(store, tmp_path):
    rows = [
        GOOD,
        {**GOOD, "AdNo": "2", "DOB": "31/02/2015"},                       # line 3: broken date
        {**GOOD, "AdNo": "3", "Surname": "=HYPERLINK(\"http://x\")"},     # line 4: formula
        {**GOOD, "AdNo": "4", "Forename": "A" * 10_000},                  # line 5: huge field
        {**GOOD, "AdNo": "5", "UPN": "A801200005001"},                    # line 6: bad check letter
        {**GOOD, "AdNo": "6", "DOB": "01/01/1980"},                       # line 7: too old
        {**GOOD, "AdNo": "1", "Forename": "Alex"},                        # line 8: duplicate id
        {**GOOD, "AdNo": "7", "Postcode": "NOT A POSTCODE"},              # line 9
        {**GOOD, "AdNo": "8", "Forename": "Bea\x00trice"},                # line 10: control char
        {**GOOD, "AdNo": "9", "ExclusionCategory": "SUSP"},               # line 11: exclusion without date
        {**GOOD, "AdNo": "10", "Forename": "Zoë", "Surname": "O'Brien-Smith"},
    ]
    # Mostly bad on purpose: past the safety catch with force.
    r = ingest_file(store, "education", write_rows(tmp_path / "bad.csv", rows), extract_date=EXTRACT_DATE,
                    force=True)
    assert r.rows_read == len(rows)
    assert r.accepted + r.quarantined == r.rows_read
    # Lines 6 (UPN), 9 (postcode) and 11 (exclusion event) lose only the bad field.
    assert (r.accepted, r.quarantined, r.warned) == (5, 6, 3)
    q = {line: (field, reason) for line, field, reason in quarantine(store)}
    severity = dict(store.rows("SELECT line_no, severity FROM store.quarantine"))
    assert {line for line, s in severity.items() if s == "warning"} == {6, 9, 11}
    assert q[3][0] == "DOB" and "not a real date" in q[3][1]
    assert q[4][0] == "Surname" and "formula" in q[4][1]
    assert q[5][0] == "Forename" and "10000 characters" in q[5][1]
    assert q[6][0] == "UPN" and "check letter" in q[6][1]
    assert "over 25" in q[7][1]
    assert "duplicate record id" in q[8][1]
    assert q[9][0] == "Postcode"
    assert "control" in q[10][1]
    assert "start_date" in q[11][1]
    accepted = store.rows("SELECT source_record_id, surname_std, upn, postcode FROM store.records "
                          "ORDER BY line_no")
    assert accepted == [("1", "example", "B801200005001", "SW1A 1AA"), ("5", "example", None, "SW1A 1AA"),
                        ("7", "example", "B801200005001", None), ("9", "example", "B801200005001", "SW1A 1AA"),
                        ("10", "obrien smith", "B801200005001", "SW1A 1AA")]
    assert store.scalar("SELECT count(*) FROM store.edu_exclusion") == 0
    assert counts(store, r.extract_id) == (5, 6 + 3)


def test_wrong_encoding_is_refused_and_forced_quarantines_only_the_rows_with_bad_bytes(store, tmp_path):
    path = write_rows(tmp_path / "enc.csv", [GOOD, {**GOOD, "AdNo": "2", "Forename": "Zoë"},
                                              {**GOOD, "AdNo": "3"}], encoding="cp1252")
    with pytest.raises(ConnectorError, match="enc.csv is not UTF-8 .*line 3.*set `encoding: cp1252`"):
        ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
    assert store.scalar("SELECT count(*) FROM store.extracts") == 0
    r = ingest_file(store, "education", path, extract_date=EXTRACT_DATE, force=True)
    assert (r.rows_read, r.accepted, r.quarantined) == (3, 2, 1)
    (line, field, reason), = quarantine(store)
    assert (line, field) == (3, "Forename") and "encoding" in reason


def test_a_mapping_can_declare_another_encoding(store, tmp_path):
    path = write_rows(tmp_path / "enc.csv", [{**GOOD, "Forename": "Zoë"}], encoding="cp1252")
    mapping = tmp_path / "edu.yaml"
    mapping.write_text((REPO / "connectors" / "education.yaml").read_text().replace("encoding: utf-8",
                                                                                     "encoding: cp1252"))
    r = ingest_file(store, "education", path, mapping, extract_date=EXTRACT_DATE)
    assert r.accepted == 1
    assert store.scalar("SELECT forename FROM store.records") == "Zoë"


def test_ragged_rows_are_quarantined(store, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("AdNo,Surname,Forename,DOB\n1,Example,Alex,14/03/2015\n2,Example\n")
    r = ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
    assert (r.rows_read, r.accepted, r.quarantined) == (2, 1, 1)
    assert "cells" in quarantine(store)[0][2]


def test_same_file_twice_changes_nothing(store, tmp_path):
    path = write_rows(tmp_path / "a.csv", [GOOD])
    first = ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
    again = ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
    assert again.already_ingested and again.extract_id == first.extract_id
    assert store.scalar("SELECT count(*) FROM store.extracts") == 1
    assert store.scalar("SELECT count(*) FROM store.records") == 1


def test_newer_extract_supersedes_and_keeps_provenance(store, tmp_path):
    from datetime import date

    old = ingest_file(store, "education", write_rows(tmp_path / "m1.csv", [GOOD]), extract_date=date(2026, 10, 1))
    new = ingest_file(store, "education", write_rows(tmp_path / "m2.csv", [{**GOOD, "Postcode": "M1 1AE"}]),
                      extract_date=date(2026, 11, 1))
    rows = store.rows("SELECT extract_id, file_name, superseded_by FROM store.extracts ORDER BY extract_id")
    assert rows == [(old.extract_id, "m1.csv", new.extract_id), (new.extract_id, "m2.csv", None)]
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    assert store.rows(f"SELECT postcode FROM ({CURRENT_RECORDS_SQL})") == [("M1 1AE",)]
    assert store.scalar("SELECT count(*) FROM store.records") == 2


def test_parquet_and_duckdb_table_sources(store, tmp_path):
    csv_path = write_rows(tmp_path / "src.csv", [GOOD, {**GOOD, "AdNo": "2", "Forename": "Ella"}])
    con = duckdb.connect(str(tmp_path / "mis.duckdb"))
    con.execute(f"CREATE TABLE pupils AS SELECT * FROM read_csv('{csv_path}', all_varchar=true)")
    con.execute(f"COPY pupils TO '{tmp_path / 'pupils.parquet'}' (FORMAT parquet)")
    con.close()
    p = ingest_file(store, "education", tmp_path / "pupils.parquet", extract_date=EXTRACT_DATE)
    assert (p.rows_read, p.accepted) == (2, 2)
    t = ingest_file(store, "education", tmp_path / "mis.duckdb", table="pupils", extract_date=EXTRACT_DATE,
                    force=True)   # the same pupils again, on the same date
    assert (t.rows_read, t.accepted) == (2, 2)


def test_custom_mapping_with_other_column_names(store, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("pupil_ref,first,last,born,pc\nX1,Alexander,Example,2015-03-14,sw1a1aa\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("source: education\nrecord_id: pupil_ref\nfields:\n  forename: first\n"
                       "  surname: last\n  date_of_birth: born\n  postcode: pc\n")
    r = ingest_file(store, "education", path, mapping, extract_date=EXTRACT_DATE)
    assert r.accepted == 1
    assert store.scalar("SELECT postcode FROM store.records") == "SW1A 1AA"


def test_invalid_mapping_is_reported_in_full(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: schools\nrecord_id: id\nfields: {nickname: X}\n")
    with pytest.raises(ConfigError) as exc:
        load_mapping(bad)
    assert "source must be one of" in str(exc.value)


def test_events_are_stored_per_source(store):
    for source in ("education", "social_care", "health"):
        ingest_file(store, source, REPO / "connectors" / "examples" / f"{source}.csv", extract_date=EXTRACT_DATE)
    assert store.rows("SELECT urn, enrol_status FROM store.edu_enrolment") == [("100001", "C")]
    assert store.rows("SELECT category, sessions FROM store.edu_exclusion") == [("SUSP", 2.0)]
    assert sorted(store.rows("SELECT kind FROM store.sc_episode")) == [("CIN",), ("CPP",)]
    assert store.rows("SELECT ods_code FROM store.health_gp") == [("A81001",)]
    assert store.rows("SELECT forename, middle_names, nhs_number FROM store.records WHERE source = 'health'") == [
        ("Alexander", "James", "9434765919")]
