"""What a file is made of: typed Parquet/DuckDB cells, byte-order marks, and mappings that are wrong.

Each ends as clean text, a per-cell quarantine reason, or one clear line with exit 2.
"""

from __future__ import annotations

import codecs
import csv
import io

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import EXTRACT_DATE, REPO
from linkage.cli import app
from linkage.connectors import ConnectorError, ingest_file
from linkage.connectors.mapping import load_mapping
from linkage.connectors.readers import BadCell, cell_text
from linkage.errors import ConfigError


def test_typed_parquet_cells_become_text_or_a_per_cell_reason(store, tmp_path):
    path = tmp_path / "typed.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (
        SELECT 1001.0::DOUBLE AS AdNo, 'Ionela'::BLOB AS Forename, 'Roberts' AS Surname,
               DATE '2015-03-14' AS DOB, TIMESTAMP '2021-09-01 08:30:00' AS EntryDate, 100001::BIGINT AS SchoolURN,
               'SW1A 1AA' AS Postcode, 2.5::DECIMAL(5,2) AS ExclusionSessions
        UNION ALL SELECT 1002.0, 'Ana'::BLOB, ['Roberts'][1], DATE '2015-03-14', NULL, 100001, 'SW1A 1AA', NULL
    ) TO '{path}' (FORMAT parquet)""")
    con.close()
    r = ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
    assert (r.rows_read, r.accepted) == (2, 2)
    assert store.rows("SELECT source_record_id, forename, surname FROM store.records ORDER BY 1") == [
        ("1001", "Ionela", "Roberts"), ("1002", "Ana", "Roberts")]
    assert store.rows("SELECT urn, entry_date FROM store.edu_enrolment ORDER BY record_key")[0] == (
        "100001", EXTRACT_DATE.replace(2021, 9, 1))


def test_lists_and_structs_are_refused_per_cell(store, tmp_path):
    path = tmp_path / "nested.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (
        SELECT '1' AS AdNo, 'Alex' AS Forename, ['Roberts'] AS Surname, '2015-03-14' AS DOB,
               {{'pc': 'SW1A 1AA'}} AS Postcode
        UNION ALL SELECT '2', 'Bea', ['Evans'], '2015-03-14', NULL
        UNION ALL SELECT '3', 'Cai', NULL, '2015-03-14', {{'pc': 'M1 1AE'}}
    ) TO '{path}' (FORMAT parquet)""")
    con.close()
    r = ingest_file(store, "education", path, extract_date=EXTRACT_DATE, force=True)
    assert (r.accepted, r.quarantined) == (0, 3)
    got = store.rows("SELECT line_no, field, reason FROM store.quarantine ORDER BY 1, 2")
    assert [(line, f) for line, f, _ in got] == [(1, "Postcode"), (1, "Surname"), (2, "Surname"),
                                                   (3, "Postcode"), (3, "Surname")]
    assert "a list, not a single value: ['Roberts']" in got[1][2] and "a struct" in got[0][2]
    assert got[4][2] == "missing surname"
    path2 = tmp_path / "struct.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT '9' AS AdNo, 'Dai' AS Forename, 'Evans' AS Surname, '2015-03-14' AS DOB,
                            {{'pc': 'M1 1AE'}} AS Postcode) TO '{path2}' (FORMAT parquet)""")
    con.close()
    r = ingest_file(store, "education", path2, extract_date=EXTRACT_DATE, force=True)
    assert (r.accepted, r.warned) == (1, 1)
    assert store.scalar("SELECT postcode FROM store.records") is None


@pytest.mark.parametrize("value,text", [
    (b"Ionela", "Ionela"), (b"\xff\xfe", None), (["Roberts"], None), ({"a": 1}, None), (1001.0, "1001"),
    (2.5, "2.5"), (float("nan"), None), (True, "true"), (12, "12"),
])
def test_cell_text(value, text):
    out = cell_text(value)
    if text is None and out is not None:
        assert isinstance(out, BadCell)
    else:
        assert out == text and not isinstance(out, BadCell)


def _education_csv() -> str:
    return (REPO / "connectors" / "examples" / "education.csv").read_text()


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-8-sig", "utf-32"])
def test_files_with_a_byte_order_mark_are_read_in_their_encoding(store, tmp_path, codec):
    body = _education_csv().replace("Alexander", "Zoë")
    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(codec, b"")
    path = tmp_path / "bom.csv"
    path.write_bytes(bom + body.encode(codec))
    r = ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
    assert (r.accepted, r.quarantined) == (1, 0)
    assert store.scalar("SELECT forename FROM store.records") == "Zoë"


def test_utf16_without_a_bom_is_refused_with_a_clear_message_not_missing_columns(store, tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes(_education_csv().encode("utf-16-le"))
    with pytest.raises(ConnectorError, match="UTF-16 without a byte-order mark"):
        ingest_file(store, "education", path, extract_date=EXTRACT_DATE)


def mapping_with(tmp_path, old: str, new: str):
    text = (REPO / "connectors" / "education.yaml").read_text()
    assert old in text
    path = tmp_path / "m.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,words", [
    ("  surname: Surname\n", "  surname: Surname\n  surname: LegalSurname\n", ["surname", "given twice"]),
    ("encoding: utf-8", "encoding: utf-9", ["unknown encoding", "utf-9"]),
    ('delimiter: ","', 'delimiter: ",,"', ["delimiter must be one character"]),
    ('delimiter: ","', 'delimiter: "a"', ["delimiter must be one character"]),
])
def test_bad_mappings_are_one_line_errors_through_the_cli(tmp_path, old, new, words):
    mapping = mapping_with(tmp_path, old, new)
    with pytest.raises(ConfigError):
        load_mapping(mapping)
    r = CliRunner().invoke(app, ["ingest", str(REPO / "connectors" / "examples" / "education.csv"), "--source",
                                 "education", "--mapping", str(mapping), "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    for w in words:
        assert w in lines[0]


def test_a_tab_delimiter_may_be_written_as_backslash_t(store, tmp_path):
    mapping = mapping_with(tmp_path, 'delimiter: ","', 'delimiter: "\\t"')
    rows = list(csv.reader(io.StringIO(_education_csv())))
    path = tmp_path / "tabs.tsv"
    path.write_text("\n".join("\t".join(r) for r in rows) + "\n")
    r = ingest_file(store, "education", path, mapping, extract_date=EXTRACT_DATE)
    assert r.accepted == 1


def test_a_file_with_another_delimiter_says_so_instead_of_missing_columns(store, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(_education_csv().replace(",", ";"))
    with pytest.raises(ConnectorError, match="looks delimited by ';'"):
        ingest_file(store, "education", path, extract_date=EXTRACT_DATE)
