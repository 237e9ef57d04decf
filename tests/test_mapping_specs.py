"""An authority's own exports through the mapping's specs: whole names, stated date layouts, value
maps, "no value" words and NHS numbers a spreadsheet stored as numbers.

Every file is ingested twice, column by column and row by row, and both must store and report
the same, so a spec never reads one way on the fast path and another on the slow one.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.connectors import ingest_file
from linkage.connectors.mapping import load_mapping
from linkage.errors import ConfigError
from linkage.store import Store
from linkage.validation.identifiers import nhs_check_digit

WHEN = date(2026, 11, 1)


def _nhs(first_nine: str) -> str:
    return first_nine + str(nhs_check_digit(first_nine))


def _both(tmp_path: Path, source: str, body: bytes, mapping: str, name: str = "x.csv"):
    """(counts, records, quarantine) from the columnar and the row-by-row ingest; asserted equal."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / name).write_bytes(body)
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    out = []
    for columnar in (True, False):
        store = Store(tmp_path / f"home{columnar}", memory_limit="1GB")
        try:
            r = ingest_file(store, source, tmp_path / name, tmp_path / "m.yaml", extract_date=WHEN,
                            columnar=columnar, force=True)
            out.append(((r.rows_read, r.accepted, r.quarantined, r.warned),
                        store.rows("SELECT source_record_id, forename, middle_names, surname, date_of_birth, sex, "
                                   "postcode, nhs_number FROM store.records ORDER BY 1"),
                        store.rows("SELECT line_no, field, reason, severity FROM store.quarantine ORDER BY ALL")))
        finally:
            store.close()
    assert out[0] == out[1]
    return out[0]


SOCIAL = """source: social_care
record_id: Person ID
encoding: cp1252
delimiter: ";"
fields:
  forename: {column: Full Name, split: "surname, forename"}
  middle_names: {column: Full Name, split: "surname, forename"}
  surname: {column: Full Name, split: "surname, forename"}
  date_of_birth: {column: Date of Birth, format: "%m/%d/%Y"}
  sex: {column: Gender, values: {Male: M, Female: F, "Not stated": U, Indeterminate: U}}
  postcode: Postcode
  nhs_number: NHS No
"""


def test_a_whole_name_is_split_and_dates_values_and_missing_words_are_read(tmp_path):
    rows = [
        f"1;O'BRIEN, Siân Marie;03/14/2015;Female;sw1a1aa;{_nhs('943476591')}",
        f"2;SMITH-JONES,  Iñaki;12/01/2014;  male ;N/A;{_nhs('733310361')[:3]} {_nhs('733310361')[3:]}",
        "3;Khan Ali;01/02/2013;Male;M1 1AE;Unknown",               # no comma: the row names why
        "4;NOWAK, Zofia;2013-02-01;Not stated;M1 1AE;",            # not the stated layout
        "5;DAVIES, Unknown;02/01/2013;Indeterminate;M1 1AE;",      # a forename that says it is not known
    ]
    body = ("Person ID;Full Name;Date of Birth;Gender;Postcode;NHS No\r\n" + "\r\n".join(rows) + "\r\n")
    counts, records, problems = _both(tmp_path, "social_care", body.encode("cp1252"), SOCIAL)
    assert counts == (5, 2, 3, 0)                   # N/A and Unknown are blanks, not bad values
    assert records == [
        ("1", "Siân", "Marie", "O'BRIEN", date(2015, 3, 14), "F", "SW1A 1AA", _nhs("943476591")),
        ("2", "Iñaki", None, "SMITH-JONES", date(2014, 12, 1), "M", None, _nhs("733310361")),
    ]
    assert ("Full Name [forename]", "'Khan Ali' has no comma between surname and forenames") in \
        {(f, r) for _, f, r, _ in problems}
    assert (5, "Date of Birth [date_of_birth]", "'2013-02-01' is not a date in the mapping's format '%m/%d/%Y'",
            "error") in problems
    assert (6, "Full Name [forename]", "missing forename", "error") in problems


def test_forename_surname_order_keeps_surname_particles_and_excel_day_numbers_are_dates(tmp_path):
    mapping = """source: education
record_id: Ref
fields:
  forename: {column: Name, split: "forename surname"}
  middle_names: {column: Name, split: "forename surname"}
  surname: {column: Name, split: "forename surname"}
  date_of_birth: {column: DOB, format: excel}
"""
    body = "Ref,Name,DOB\nA1,Anna Maria van der Berg,42064\nA2,Rhys ap Dafydd,01/03/2015\nA3,Cher,42064.0\n"
    counts, records, problems = _both(tmp_path, "education", body.encode(), mapping)
    assert counts == (3, 2, 1, 0)
    assert [r[:5] for r in records] == [("A1", "Anna", "Maria", "van der Berg", date(2015, 3, 1)),
                                        ("A2", "Rhys", None, "ap Dafydd", date(2015, 3, 1))]
    assert [(f, r) for _, f, r, _ in problems] == [("Name [forename]", "'Cher' is not a forename and a surname")]


def test_nhs_numbers_stored_as_numbers_get_their_leading_zero_back(tmp_path):
    good = _nhs("012345678")
    assert good.startswith("0")
    mapping = "source: health\nrecord_id: id\nfields: {forename: f, surname: s, date_of_birth: d, nhs_number: n}\n"
    body = (f"id,f,s,d,n\nH1,Ann,Lee,2015-03-01,{good[1:]}\nH2,Bo,Lee,2015-03-01,{good[1:]}.0\n"
            f"H3,Cy,Lee,2015-03-01,{int(_nhs('733310361'))}.0\nH4,Di,Lee,2015-03-01,{good[2:]}\n")
    counts, records, problems = _both(tmp_path, "health", body.encode(), mapping)
    assert [r[-1] for r in records] == [good, good, _nhs("733310361"), None]
    assert [(line, r) for line, _, r, _ in problems] == [(5, f"NHS number '{good[2:]}' fails modulus 11")]


def test_missing_words_can_be_set_and_cleared(tmp_path):
    base = "source: education\nrecord_id: id\nfields: {forename: f, surname: s, date_of_birth: d, postcode: p}\n"
    body = b"id,f,s,d,p\nE1,Ann,Lee,2015-03-01,none given\nE2,Bo,Lee,2015-03-01,N/A\n"
    _, _, problems = _both(tmp_path / "own", "education", body, base + "missing: [none given]\n")
    assert [(line, r) for line, _, r, _ in problems] == [(3, "not a UK postcode: 'N/A'")]
    _, _, problems = _both(tmp_path / "default", "education", body, base)
    assert [(line, r) for line, _, r, _ in problems] == [(2, "not a UK postcode: 'none given'")]


@pytest.mark.parametrize("fields,why", [
    ("{forename: Name, surname: Name, date_of_birth: d}", "forename and surname both read the column 'Name'"),
    ("{forename: {column: N, split: 'surname, forename', format: excel}, surname: s, date_of_birth: d}",
     "give one of split, format, values or find, not split and format"),
    ("{forename: f, surname: s, date_of_birth: {column: d, split: 'surname, forename'}}",
     "split gives names only, not 'date_of_birth'"),
    ("{forename: f, surname: s, date_of_birth: {column: d, format: 'dd/mm/yyyy'}}", "has no date codes"),
    ("{forename: f, surname: s, date_of_birth: {column: d, format: '%Y-%Q-%d'}}",   # a typo for %m
     "format '%Y-%Q-%d' cannot read a date: 'Q' is a bad directive"),
    ("{forename: f, surname: s, date_of_birth: {column: d, format: '%d/%m'}}", "format '%d/%m' has no year"),
    ("{forename: {column: N, split: 'first last'}, surname: s, date_of_birth: d}",
     "fields.forename.split: Input should be 'surname, forename' or 'forename surname'"),
])
def test_a_mapping_that_cannot_be_read_is_one_line_naming_the_fault(tmp_path, fields, why):
    path = tmp_path / "m.yaml"
    path.write_text(f"source: education\nrecord_id: id\nfields: {fields}\n")
    with pytest.raises(ConfigError) as exc:
        load_mapping(path)
    assert why in str(exc.value) and "\n" not in str(exc.value)


def test_a_missing_source_column_of_a_spec_is_named(tmp_path):
    (tmp_path / "m.yaml").write_text(SOCIAL)
    (tmp_path / "x.csv").write_bytes(b"Person ID;Name;Date of Birth\r\n1;LEE, Ann;03/14/2015\r\n")
    out = CliRunner().invoke(app, ["ingest", "--source", "social_care", "--mapping", str(tmp_path / "m.yaml"),
                                   str(tmp_path / "x.csv"), "--data-dir", str(tmp_path / "h")])
    assert out.exit_code == 2
    assert "lacks required columns ['Full Name']" in out.output and "Traceback" not in out.output


def test_evaluate_scores_the_last_run_against_a_truth_file(tmp_path, linked_store, synth_month1):
    """`linkage evaluate` on the session's linked population gives the demo's own scorer's figures."""
    from apiserver import linked_home
    from conftest import EXTRACT_DATE
    from linkage.link import load_truth, score_clusters

    home = tmp_path / "home"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)     # a copy: the session's store is open
    predicted = dict(linked_store.rows("SELECT record_key, child_id FROM store.identity"))
    truth = load_truth(synth_month1 / "truth.csv")
    expected = score_clusters(predicted, truth)
    classes = tmp_path / "classes.csv"
    keys = sorted(truth)
    classes.write_text("source,source_record_id,class\n" + "".join(
        f"{k.split(':', 1)[0]},{k.split(':', 1)[1]},{'even' if i % 2 else 'odd'}\n" for i, k in enumerate(keys)))
    out = CliRunner().invoke(app, ["evaluate", str(synth_month1 / "truth.csv"), "--classes", str(classes),
                                   "--data-dir", str(home)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert f"{expected.precision:.4f}" in out.output and f"{expected.recall:.4f}" in out.output
    assert "even" in out.output and "odd" in out.output
    bad = tmp_path / "bad.csv"
    bad.write_text("record,person\nx,y\n")
    out = CliRunner().invoke(app, ["evaluate", str(bad), "--data-dir", str(home)])
    assert out.exit_code == 2 and "lacks the column 'source'" in out.output
    wrong = tmp_path / "wrong.csv"           # the authority's own source names, not the ones ingested under
    wrong.write_text("source,source_record_id,person\nschools,1,p1\nschools,2,p1\n")
    out = CliRunner().invoke(app, ["evaluate", str(wrong), "--data-dir", str(home)], env={"COLUMNS": "200"})
    assert out.exit_code == 2 and "no record of wrong.csv is linked here" in out.output
    assert "1.0000" not in out.output and "Traceback" not in out.output


def test_rows_repeating_a_record_add_their_events_and_a_different_child_under_its_id_is_quarantined(tmp_path):
    """One row per episode, as case-management systems export: the child once, every referral kept;
    a row exported twice adds nothing; another child under the same id is refused, naming the first row."""
    mapping = ("source: social_care\nrecord_id: id\nfields: {forename: f, surname: s, date_of_birth: d}\n"
               "events:\n  - type: referral\n    fields: {referral_date: r}\n")
    body = (b"id,f,s,d,r\n1,Ann,Lee,2015-03-01,2024-01-05\n1,Ann,Lee,2015-03-01,2025-02-06\n"
            b"1,Ann,Lee,2015-03-01,2025-02-06\n1,Anna,Lee,2015-03-01,2026-01-01\n2,Bo,Lee,2014-01-01,\n")
    (tmp_path / "m.yaml").write_text(mapping)
    (tmp_path / "x.csv").write_bytes(body)
    counts, records, problems = _both(tmp_path, "social_care", body, mapping)
    assert counts == (5, 4, 1, 0)
    assert [r[:2] for r in records] == [("1", "Ann"), ("2", "Bo")]
    assert problems == [(5, "id", "duplicate record id, first at row 2, with other personal details (it differs in f)", "error")]
    for columnar in (True, False):
        store = Store(tmp_path / f"home{columnar}", memory_limit="1GB")
        try:
            assert store.rows("SELECT record_key, referral_date::VARCHAR FROM store.sc_referral ORDER BY 2") == [
                ("social_care:1", "2024-01-05"), ("social_care:1", "2025-02-06")]
        finally:
            store.close()


def test_an_authoritys_own_extracts_lose_no_record(tmp_path):
    """benchmarks/la_extracts: six exports written without linkage.synth, read through mappings
    written from the README; every record of the truth file is stored except the ones without a
    date of birth, and those are quarantined saying so."""
    import csv

    from conftest import ingest_la, la_extracts

    data = la_extracts(tmp_path / "la", 7, 400)
    store = Store(tmp_path / "home", memory_limit="1GB")
    try:
        ingest_la(store, data, when=WHEN)
        stored = {f"{s}:{i}" for s, i in store.rows("SELECT source, source_record_id FROM store.records")}
        problems = store.rows("SELECT DISTINCT field, reason FROM store.quarantine WHERE severity = 'error'")
        # One row per address: every early-help child who moved has the earlier address as history.
        moved = store.scalar("SELECT count(DISTINCT record_key) FROM store.address_history")
        contacts = store.scalar("SELECT count(*) FROM store.health_contact")
        found = store.scalar("SELECT count(*) FROM store.records WHERE source_record_id LIKE 'SN%' "
                             "AND postcode IS NOT NULL")
    finally:
        store.close()
    with open(data / "truth.csv", newline="") as fh:
        truth = {f"{r['source']}:{r['source_record_id']}" for r in csv.DictReader(fh)}
    with open(data / "social_care.csv", newline="", encoding="cp1252") as fh:
        undated = {f"social_care:{r['Person ID']}" for r in csv.DictReader(fh, delimiter=";") if not r["Date of Birth"]}
    with open(data / "early_help.csv", newline="", encoding="cp1252") as fh:
        rows = [(r["TEAM"], r[" CASE NO"]) for r in csv.DictReader(fh, delimiter=";")]
    with open(data / "school_nurse.csv", newline="", encoding="utf-8-sig") as fh:
        nurse = list(csv.DictReader(fh))
    assert stored == truth - undated
    assert set(problems) <= {("Date of Birth", "missing date of birth")}
    assert moved == len({r for r in rows if rows.count(r) > 1}) > 0
    assert contacts == len({(r["patient ref"], r["Contact Date"], r["Contact Type"]) for r in nurse})
    assert found == len({r["patient ref"] for r in nurse})         # every postcode found inside the address


def test_the_quarantine_export_names_the_files_column_and_value_for_a_spec(tmp_path):
    """A whole name that cannot be split goes back to the agency under its own column, with the value sent."""
    import csv

    (tmp_path / "m.yaml").write_text(SOCIAL)
    rows = ["1;LEE, Ann;03/14/2015;Female;M1 1AE;", "2;LEE, Bo;03/14/2014;Male;M1 1AE;",
            "3;LEE, Cy;03/14/2013;Male;M1 1AE;", "4;Dee Lee;03/14/2012;Female;M1 1AE;"]
    (tmp_path / "x.csv").write_bytes(("Person ID;Full Name;Date of Birth;Gender;Postcode;NHS No\r\n"
                                      + "\r\n".join(rows) + "\r\n").encode("cp1252"))
    home = ["--data-dir", str(tmp_path / "h")]
    run = CliRunner().invoke
    assert run(app, ["ingest", "--source", "social_care", "--mapping", str(tmp_path / "m.yaml"),
                     str(tmp_path / "x.csv"), *home]).exit_code == 0
    out = run(app, ["quarantine", "export", str(tmp_path / "fix.csv"), *home])
    assert out.exit_code == 0, out.output
    with open(tmp_path / "fix.csv", newline="") as fh:
        got = [(r["line"] if "line" in r else r["line_no"], r["column"], r["value"]) for r in csv.DictReader(fh)]
    assert got == [("5", "Full Name", "Dee Lee")]


@pytest.mark.parametrize("written,meant", [("tab", "\t"), ("'\\t'", "\t"), ('"\\t"', "\t"), ("Semicolon", ";"),
                                           ("pipe", "|"), ("','", ",")])
def test_the_delimiter_can_be_written_as_its_name(tmp_path, written, meant):
    path = tmp_path / "m.yaml"
    path.write_text(f"source: education\nrecord_id: id\ndelimiter: {written}\n"
                    "fields: {forename: f, surname: s, date_of_birth: d}\n")
    assert load_mapping(path).delimiter == meant


def test_no_value_words_are_the_same_words_on_both_ingest_paths(tmp_path):
    """``Mapping.is_missing`` (Python, row by row) and the columnar ingest's RE2 pass agree on every
    cell: spacing, case, non-breaking spaces, accents and near misses."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from hypothesis import given, settings
    from hypothesis import strategies as st

    path = tmp_path / "m.yaml"
    path.write_text("source: education\nrecord_id: id\nfields: {forename: f, surname: s, date_of_birth: d}\n"
                    "missing: [N/A, Not known, '-', '?', 'Inconnu', 'Ñ/D', 'a.b']\n")
    m = load_mapping(path)
    pads = st.sampled_from(["", " ", "\t", "\xa0", "\n", "  ", "\u2003"])
    cores = st.sampled_from(["n/a", "N/A", "not known", "NOT KNOWN", "not  known", "-", "--", "?", "inconnu",
                             "ñ/d", "Ñ/D", "a.b", "axb", "N/Ab", "Jo", ""]) | st.text(max_size=6)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(pads, cores, pads), min_size=1, max_size=20))
    def check(parts):
        cells = ["".join(p) for p in parts]
        arrow = pc.match_substring_regex(pa.array(cells), m.missing_pattern, ignore_case=True).to_pylist()
        assert arrow == [m.is_missing(c) for c in cells]

    check()
