"""The NCCIS (CCIS) post-16 activity connector: checked cells, whole-load replacement, linked by UPN."""

from __future__ import annotations

import pytest

from linkage.connectors.readers import ConnectorError
from linkage.errors import ConfigError
from linkage.outcomes.nccis import load_nccis, load_nccis_mapping
from linkage.store import Store
from linkage.validation.identifiers import upn_check_letter

HEADER = "YoungPersonsID,UPN,ActivityCode,StartDate,DateAscertained,DueToLapseDate,CurrentLevel\n"


def upn(n: int) -> str:
    body = f"20112340{n:02d}123"[:12]
    return upn_check_letter(body) + body


def test_rows_are_checked_and_a_load_replaces_the_last(tmp_path):
    store = Store(tmp_path / "data")
    good = f"YP1,{upn(1)},210,2025-09-01,05/09/2025,2026-08-31,3\n"
    bad = ["YP2,NOTAUPN,210,2025-09-01,,,\n",            # invalid UPN: cannot be linked
           f"YP3,{upn(3)},21,2025-09-01,,,\n",            # not an activity code
           f"=HYPERLINK(1),{upn(4)},210,2025-09-01,,,\n",  # a formula as the id
           f"YP5,{upn(5)},540,,,,\n"]                     # no start date
    f = tmp_path / "nccis.csv"
    f.write_text(HEADER + good + "".join(bad) + "\n")
    result = load_nccis(store, f)
    assert (result.rows_read, result.accepted, result.rejected) == (5, 1, 4)
    assert store.rows("SELECT young_persons_id, activity_code, CAST(date_ascertained AS VARCHAR) "
                      "FROM store.nccis_activity") == [("YP1", "210", "2025-09-05")]
    f.write_text(HEADER + f"YP9,{upn(9)},110,2026-01-05,,,\n")
    load_nccis(store, f)
    assert store.rows("SELECT young_persons_id FROM store.nccis_activity") == [("YP9",)]
    store.close()


def test_a_file_without_the_key_columns_is_refused_whole(tmp_path):
    store = Store(tmp_path / "data")
    f = tmp_path / "nccis.csv"
    f.write_text("YoungPersonsID,ActivityCode,StartDate\nYP1,210,2025-09-01\n")
    with pytest.raises(ConnectorError, match="UPN"):
        load_nccis(store, f)
    store.close()


def test_a_mapping_missing_a_key_field_is_refused(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("source: nccis\nfields: {young_persons_id: ID, activity_code: Code, start_date: S}\n")
    with pytest.raises(ConfigError):
        load_nccis_mapping(m)
    assert load_nccis_mapping().fields["activity_code"] == "ActivityCode"


def test_a_file_cut_short_or_in_another_encoding_keeps_the_last_load(tmp_path):
    store = Store(tmp_path / "data")
    f = tmp_path / "nccis.csv"
    f.write_text(HEADER + "".join(f"YP{i},{upn(i)},210,2025-09-01,,,\n" for i in range(1, 4)))
    assert load_nccis(store, f).accepted == 3
    cut = tmp_path / "cut.csv"
    cut.write_bytes(f.read_bytes()[:-12])
    with pytest.raises(ConnectorError, match="cut.csv ends part-way through its last row.*already loaded is kept"):
        load_nccis(store, cut)
    cp = tmp_path / "cp.csv"
    cp.write_bytes((HEADER + f"YP1,{upn(1)},210,2025-09-01,,,Zoë\n").encode("cp1252"))
    with pytest.raises(ConnectorError, match="cp.csv is not UTF-8.*already loaded is kept"):
        load_nccis(store, cp)
    assert store.scalar("SELECT count(*) FROM store.nccis_activity") == 3
    store.close()
