"""Reference data: registers loaded whole or not at all, every bad row named, every code labelled."""

from __future__ import annotations

import csv
import json
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.connectors import ConnectorError
from linkage.errors import ConfigError
from linkage.model import CareEpisode, Enrolment, Exclusion, SenProvision
from linkage.reference import (AP_SETTINGS, SETTINGS, codes, kinds, label, load_reference, read_reference,
                               reference_from_store, sample_path, sample_reference, setting_of)
from linkage.reference.gp_practices import COLUMNS as ODS_COLUMNS
from linkage.reference.labels import code_list
from linkage.validation import parse_date

from conftest import EXTRACT_DATE

# ------------------------------------------------------------------ code lists


def test_every_code_of_every_list_has_its_label():
    assert len(kinds()) >= 10
    for kind in kinds():
        lst = code_list(kind)
        assert "http" in lst.source, f"{kind} does not cite its source"
        assert lst.labels
        for code, text in lst.labels.items():
            assert label(kind, code) == text
            assert label(kind, f" {code.lower()} ") == text      # as extracts write them
            assert text and not text.startswith("Unknown code")


@pytest.mark.parametrize(("kind", "model", "field"), [
    ("exclusion_category", Exclusion, "category"), ("sen_provision", SenProvision, "provision"),
    ("enrolment_status", Enrolment, "enrol_status"), ("care_episode_kind", CareEpisode, "kind")])
def test_every_code_the_model_accepts_has_a_label(kind, model, field):
    allowed = {a for arg in typing.get_args(model.model_fields[field].annotation)
               for a in (typing.get_args(arg) or (arg,)) if isinstance(a, str)}
    assert allowed and allowed <= set(codes(kind)), allowed - set(codes(kind))


def test_the_dfe_codes_people_see_most():
    assert label("exclusion_reason", "PA") == "Physical assault against an adult"
    assert label("exclusion_category", "SUSP") == "Suspension"
    assert label("sen_provision", "E") == "Education, health and care plan"
    assert label("cin_referral_source", "10") == "Unknown"
    assert label("cin_closure_reason", "RC8").startswith("Case closed after assessment")
    assert label("cin_category_of_need", "N1") == "Abuse or neglect"


def test_unknown_codes_are_shown_never_raised():
    assert label("exclusion_reason", "ZZ") == "Unknown code ZZ"
    assert label("sen_provision", None) == "Not recorded"
    assert label("sen_provision", "  ") == "Not recorded"
    assert label("exclusion_reason", "X" * 500) == "Unknown code " + "X" * 20 + "..."
    assert label("exclusion_reason", 7) == "Unknown code 7"
    with pytest.raises(ConfigError):
        label("no_such_list", "A")


# ------------------------------------------------------------------ establishments (GIAS)


def _gias(path: Path, rows: list[dict], encoding: str = "cp1252", header: list[str] | None = None) -> Path:
    header = header or ["URN", "LA (code)", "LA (name)", "EstablishmentName", "TypeOfEstablishment (name)",
                        "EstablishmentStatus (name)", "OpenDate", "CloseDate", "PhaseOfEducation (name)",
                        "Postcode", "TelephoneNum", "SchoolWebsite"]
    with open(path, "w", encoding=encoding, newline="", errors="strict") as fh:
        w = csv.DictWriter(fh, header, restval="")
        w.writeheader()
        w.writerows(rows)
    return path


def _school(urn: str, name: str = "Kestrel Primary School", kind: str = "Community school", **kw) -> dict:
    return {"URN": urn, "LA (code)": "990", "LA (name)": "Fenmoor", "EstablishmentName": name,
            "TypeOfEstablishment (name)": kind, "EstablishmentStatus (name)": "Open", "OpenDate": "01-09-1974",
            "PhaseOfEducation (name)": "Primary", "Postcode": "FM1 1AB", "TelephoneNum": "01632960001", **kw}


def _stored(store, table: str) -> list[tuple]:
    return store.rows(f"SELECT * EXCLUDE (load_id) FROM store.{table} ORDER BY 1")


def test_the_sample_register_loads_with_every_setting_it_claims(store):
    result = load_reference(store, "establishments", sample_path("establishments"))
    assert result.rejected == 0 and result.accepted == result.rows_read > 40 and result.load_id == 1
    settings = dict(store.rows("SELECT setting, count(*) FROM store.ref_establishment GROUP BY setting"))
    assert {"mainstream", "special", "pupil_referral_unit", "ap_academy", "ap_free_school",
            "hospital_school"} <= set(settings)
    assert set(settings) <= set(SETTINGS)
    ap = store.rows("SELECT count(*) FROM store.ref_establishment WHERE is_ap")[0][0]
    assert ap == sum(settings[s] for s in AP_SETTINGS if s in settings) >= 8
    # Phone numbers are Ofcom's drama numbers; postcodes the fictional FM area.
    for phone, postcode in store.rows("SELECT telephone, postcode FROM store.ref_establishment"):
        assert phone.startswith("01632960") and postcode.startswith("FM")


def test_gias_types_map_to_the_closed_settings():
    assert setting_of("Pupil referral unit") == "pupil_referral_unit"
    assert setting_of("Academy alternative provision sponsor led") == "ap_academy"
    assert setting_of("Academy Alternative Provision Converter") == "ap_academy"
    assert setting_of("Free schools alternative provision") == "ap_free_school"
    assert setting_of("Free Schools - Alternative Provision") == "ap_free_school"
    assert setting_of("Pupil referral unit", "Northbrook Hospital School") == "hospital_school"
    assert setting_of("Community special school", "The Children's Hospital School") == "hospital_school"
    assert setting_of("Other independent school", "Christ's Hospital") == "independent"   # not AP
    assert setting_of("Academy special converter") == "special"
    assert setting_of("Academy sponsor led") == "mainstream"
    assert setting_of("A type GIAS adds next year") is None


def test_a_windows_1252_export_and_a_utf8_resave_read_the_same(tmp_path):
    rows = [_school("990001", name="St Aidan\u2019s Catholic Primary School"),
            _school("990002", name="Caf\u00e9 Lane Primary School")]
    cp, _ = read_reference("establishments", _gias(tmp_path / "cp.csv", rows, "cp1252"))
    utf, _ = read_reference("establishments", _gias(tmp_path / "utf.csv", rows, "utf-8"))
    bom, _ = read_reference("establishments", _gias(tmp_path / "bom.csv", rows, "utf-8-sig"))
    assert [e.name for e in cp] == [e.name for e in utf] == [e.name for e in bom] == [
        "St Aidan\u2019s Catholic Primary School", "Caf\u00e9 Lane Primary School"]


def test_bad_rows_are_named_by_line_and_left_out(tmp_path):
    path = _gias(tmp_path / "gias.csv", [
        _school("990001"),
        _school("990002", OpenDate="31-02-2001"),                       # line 3: no such date
        _school("990001", name="Another"),                               # line 4: duplicate URN
        _school("99003"),                                                # line 5: not six digits
        _school("990004", EstablishmentName=""),                         # line 6: no name
        _school("990005", Postcode="NOT A POSTCODE"),                    # line 7: kept, postcode left empty
        _school("990006", OpenDate="01-09-2010", CloseDate="31-08-2001"),  # line 8: closed before opening
        _school("990007", TelephoneNum="=HYPERLINK()"),                  # line 9: formula
        _school("990008", TelephoneNum="ask at reception"),              # line 10: kept, no telephone
        _school("990009"), _school("990010"), _school("990011"), _school("990012"),
        _school("990013"), _school("990014"), _school("990015"),
    ])
    good, result = read_reference("establishments", path)
    assert result.rows_read == 16 and result.rejected == 6 and result.accepted == 10 == len(good)
    by_line = {line: (col, why) for line, col, why in result.problems}
    assert sorted(by_line) == [3, 4, 5, 6, 8, 9]
    assert by_line[3][0] == "OpenDate" and "not a real date" in by_line[3][1]
    assert by_line[4] == ("URN", "duplicate URN 990001, first at line 2")
    assert by_line[5][0] == "URN" and "six digits" in by_line[5][1]
    assert by_line[6] == ("EstablishmentName", "missing")
    assert by_line[8][0] == "CloseDate" and "before it opened" in by_line[8][1]
    assert by_line[9][0] == "TelephoneNum" and "formula" in by_line[9][1]
    assert result.warned == 2 and result.warnings == [
        (7, "Postcode", "not a UK postcode: 'NOT A POSTCODE'; left empty"),
        (10, "TelephoneNum", "not a telephone number: 'ask at reception'; left empty")]
    kept = {e.urn: e for e in good}
    assert kept["990005"].postcode is None and kept["990008"].telephone is None
    assert kept["990009"].postcode == "FM1 1AB" and kept["990009"].telephone == "01632960001"


def test_bytes_not_in_windows_1252_are_reported_not_guessed(tmp_path):
    path = _gias(tmp_path / "gias.csv", [_school("990001"), _school("990002", name="Oak X School")])
    path.write_bytes(path.read_bytes().replace(b"Oak X", b"Oak \x81"))   # 0x81 is undefined in cp1252
    good, result = read_reference("establishments", path)
    assert [e.urn for e in good] == ["990001"]
    assert result.problems == [(3, "EstablishmentName", "bytes that are not valid in the file's encoding")]


def test_a_file_without_the_gias_columns_is_refused_in_one_line_and_the_old_register_kept(store, tmp_path):
    load_reference(store, "establishments", sample_path("establishments"))
    before = _stored(store, "ref_establishment")
    wrong = _gias(tmp_path / "wrong.csv", [{"urn": "990001", "name": "X"}], header=["urn", "name"])
    with pytest.raises(ConnectorError) as exc:
        load_reference(store, "establishments", wrong)
    assert "not a GIAS establishment export" in str(exc.value) and "EstablishmentName" in str(exc.value)
    assert "\n" not in str(exc.value)
    assert _stored(store, "ref_establishment") == before


def test_a_mostly_bad_file_never_replaces_a_good_register(store, tmp_path):
    load_reference(store, "establishments", sample_path("establishments"))
    before = _stored(store, "ref_establishment")
    bad = _gias(tmp_path / "bad.csv", [_school("990001")] + [_school(f"99{i:03d}") for i in range(5)])
    with pytest.raises(ConnectorError, match=r"5 of 6 rows are bad.*already loaded are kept"):
        load_reference(store, "establishments", bad)
    assert _stored(store, "ref_establishment") == before


def test_a_new_load_replaces_the_register_whole(store, tmp_path):
    first = load_reference(store, "establishments", sample_path("establishments"))
    second = _gias(tmp_path / "new.csv", [_school("990900", name="New School"), _school("990901")])
    result = load_reference(store, "establishments", second)
    assert result.load_id == 2
    assert [r[:2] for r in _stored(store, "ref_establishment")] == [("990900", "New School"),
                                                                     ("990901", "Kestrel Primary School")]
    assert store.rows("SELECT kind, file_name, accepted FROM store.ref_loads ORDER BY load_id") == [
        ("establishments", "establishments_sample.csv", first.accepted), ("establishments", "new.csv", 2)]


def test_an_unknown_establishment_type_is_kept_as_other_and_reported(tmp_path):
    good, result = read_reference("establishments", _gias(tmp_path / "g.csv", [
        _school("990001", kind="Robot academy"), _school("990002")]))
    assert [e.setting for e in good] == ["other", "mainstream"]
    assert any("Robot academy" in n for n in result.notes)


# ------------------------------------------------------------------ GP practices (ODS epraccur)


def _practice(code: str, name: str = "FENMOOR SURGERY", status: str = "A", opened: str = "19740401",
              closed: str = "", phone: str = "01632 960500") -> list[str]:
    row = [code, name, "Y99", "QZZ", "1 HIGH STREET", "", "FENMOOR", "", "", "FM1 1AB", opened, closed, status,
           "B", "99Z", "20130401", "", phone] + [""] * 7 + ["4", ""]
    assert len(row) == len(ODS_COLUMNS) == 27
    return row


def _epraccur(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="cp1252") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows)
    return path


def test_the_sample_practices_load(store):
    result = load_reference(store, "gp_practices", sample_path("gp_practices"))
    assert result.rejected == 0 and result.accepted >= 15
    assert store.rows("SELECT name, status_code, open_date FROM store.ref_gp_practice WHERE ods_code = 'Z90001'") \
        == [("FENMOOR MEDICAL CENTRE", "A", __import__("datetime").date(1974, 4, 1))]


def test_epraccur_rows_are_checked_by_position(tmp_path):
    path = _epraccur(tmp_path / "epraccur.csv", [
        _practice("Z90001"),
        _practice("Z90002", status="ACTIVE"),              # the ODS DSE report's word for A
        _practice("Z90001", name="AGAIN"),                 # line 3: duplicate
        _practice("Z9000X"),                               # line 4: not a practice code
        _practice("Z90004", opened="2019-13-45"),          # line 5: bad date
        _practice("Z90005", status="OPEN"),                # line 6: unknown status
        _practice("Z90006")[:10],                          # line 7: cut short
        _practice("Z90007", opened="20100101", closed="20090101"),   # line 8
        _practice("Z90008"), _practice("Z90009"), _practice("Z90010"), _practice("Z90011"),
    ])
    good, result = read_reference("gp_practices", path)
    assert [p.ods_code for p in good] == ["Z90001", "Z90002", "Z90008", "Z90009", "Z90010", "Z90011"]
    assert good[1].status_code == "A" and good[0].address == "1 HIGH STREET, FENMOOR"
    by_line = {line: (col, why) for line, col, why in result.problems}
    assert by_line[3] == ("Organisation Code", "duplicate Organisation Code Z90001, first at line 1")
    assert by_line[4][0] == "Organisation Code"
    assert by_line[5][0] == "Open Date" and "not a real date" in by_line[5][1]
    assert by_line[6][0] == "Status Code"
    assert by_line[7] == ("row", "10 cells; an epraccur row has 18 to 27")
    assert by_line[8][0] == "Close Date"


def test_a_header_row_on_the_headerless_file_is_skipped(tmp_path):
    path = _epraccur(tmp_path / "epraccur.csv", [list(ODS_COLUMNS), _practice("Z90001")])
    good, result = read_reference("gp_practices", path)
    assert [p.ods_code for p in good] == ["Z90001"] and result.rows_read == 1 and not result.problems


def test_an_establishment_file_given_as_gp_practices_is_refused(store, tmp_path):
    with pytest.raises(ConnectorError, match="rows are bad"):
        load_reference(store, "gp_practices", sample_path("establishments"))
    assert store.rows("SELECT count(*) FROM store.ref_gp_practice") == [(0,)]


# ------------------------------------------------------------------ lookups, CLI


def test_lookups_from_the_store_and_memory(store):
    for kind in ("establishments", "gp_practices"):
        load_reference(store, kind, sample_path(kind))
    for to_memory in (False, True):
        ref = reference_from_store(store.connection, to_memory=to_memory)
        assert ref == sample_reference()
    assert store.rows("SELECT count(*) FROM memory.ref_establishment WHERE is_ap")[0][0] >= 8
    ref = sample_reference()
    pru = next(e for e in ref.establishments.values() if e.setting == "pupil_referral_unit")
    mainstream = next(e for e in ref.establishments.values() if e.setting == "mainstream")
    assert ref.ap_setting(pru.urn) == "pupil_referral_unit" and ref.is_ap(pru.urn) is True
    assert ref.ap_setting(mainstream.urn) is None and ref.is_ap(mainstream.urn) is False
    assert ref.is_ap("123456") is None and ref.establishment(None) is None
    assert ref.gp_practice("z90001").name == "FENMOOR MEDICAL CENTRE"


def test_a_store_made_before_reference_data_reads_as_empty(store):
    for table in ("ref_establishment", "ref_gp_practice"):
        store.execute(f"DROP TABLE store.{table}")
    ref = reference_from_store(store.connection, to_memory=True)
    assert not ref.establishments and not ref.practices
    assert store.rows("SELECT count(*) FROM memory.ref_establishment") == [(0,)]


def test_cli_loads_and_refuses_in_one_line(tmp_path):
    home = ["--data-dir", str(tmp_path / "home")]
    runner = CliRunner()
    ok = runner.invoke(app, ["reference", "load", "gp-practices", str(sample_path("gp_practices")), *home])
    assert ok.exit_code == 0, ok.output
    assert "gp practices: read 17, loaded 17, left out 0" in ok.output
    bad = _gias(tmp_path / "bad.csv", [_school("990001"), _school("990002", OpenDate="99-99-2001")])
    out = runner.invoke(app, ["reference", "load", "establishments", str(bad), *home])
    assert out.exit_code == 0 and "left out 1" in out.output and "OpenDate" in out.output
    wrong = runner.invoke(app, ["reference", "load", "establishments", str(tmp_path / "missing.csv"), *home])
    assert wrong.exit_code == 2 and "Traceback" not in wrong.output
    assert "does not exist" in wrong.output
    kind = runner.invoke(app, ["reference", "load", "schools", str(bad), *home])
    assert kind.exit_code == 2 and "unknown reference data" in kind.output
    status = runner.invoke(app, ["reference", "status", "--format", "json", *home])
    assert status.exit_code == 0, status.output
    assert [(r["kind"], r["file_name"], r["accepted"], r["rejected"]) for r in json.loads(status.output)] == [
        ("establishments", "bad.csv", 1, 1), ("gp_practices", "gp_practices_sample.csv", 17, 0)]
    empty = runner.invoke(app, ["reference", "status", "--data-dir", str(tmp_path / "empty")])
    assert empty.exit_code == 2 and "no linkage database" in empty.output      # a mistyped directory is not made
    assert not (tmp_path / "empty").exists()


# ------------------------------------------------------------------ synth


@pytest.mark.parametrize("month", ["synth_month1", "synth_month2"])
def test_synth_writes_only_codes_of_the_sample_registers_and_uses_ap(request, month):
    synth = request.getfixturevalue(month)
    ref = sample_reference()
    with open(synth / "education.csv", encoding="utf-8") as fh:
        edu = list(csv.DictReader(fh))
    with open(synth / "health.csv", encoding="utf-8") as fh:
        health = list(csv.DictReader(fh))
    urns = [r["SchoolURN"] for r in edu]
    assert all(ref.establishment(u) is not None and ref.establishment(u).close_date is None for u in urns)
    ap = {ref.establishment(u).setting for u in urns if ref.is_ap(u)}
    assert len(ap) >= 3 and sum(1 for u in urns if ref.is_ap(u)) >= 10
    assert all(ref.gp_practice(r["generalPractitioner.odsCode"]).status_code == "A" for r in health)
    reasons = {r["ExclusionReason"] for r in edu if r["ExclusionReason"]}
    assert len(reasons) > 3 and all(not label("exclusion_reason", c).startswith("Unknown") for c in reasons)
    # Children under 11 are at primary (or all-through) schools, older ones at secondaries,
    # bar a few whose recorded birth date carries a typo.
    young = [ref.establishment(r["SchoolURN"]).phase for r in edu if not ref.is_ap(r["SchoolURN"])
             and parse_date(r["DOB"]) > EXTRACT_DATE.replace(year=EXTRACT_DATE.year - 11)]
    assert young and sum(p in ("Primary", "All-through") for p in young) / len(young) > 0.97


def test_a_load_that_fails_half_way_leaves_the_old_register(store, tmp_path, monkeypatch):
    load_reference(store, "establishments", sample_path("establishments"))
    before = _stored(store, "ref_establishment")

    def broken(table, frame):      # the old rows are already deleted when the insert fails
        raise OSError("disk full")

    monkeypatch.setattr(store, "insert_df", broken)
    with pytest.raises(OSError):
        load_reference(store, "establishments", _gias(tmp_path / "new.csv", [_school("990900")]))
    assert _stored(store, "ref_establishment") == before
    assert store.rows("SELECT count(*) FROM store.ref_loads") == [(1,)]


def test_a_register_cut_short_is_refused_and_the_loaded_one_kept(store, tmp_path):
    whole = _gias(tmp_path / "whole.csv", [_school(f"99{i:04d}", f"School {i}") for i in range(5)])
    assert load_reference(store, "establishments", whole).accepted == 5
    part = tmp_path / "part.csv"
    part.write_bytes(whole.read_bytes()[:-25])          # the last school's row, part-way
    with pytest.raises(ConnectorError, match="part.csv ends part-way through its last row .*already loaded are kept"):
        load_reference(store, "establishments", part)
    assert len(_stored(store, "ref_establishment")) == 5
