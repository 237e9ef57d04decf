"""A file name or a table name an agency chose, read into SQL that cannot take a parameter.

``linkage ingest FILE.duckdb --table T`` wrote the path between bare quotes into DuckDB's
``ATTACH`` (which takes no ``?``) and stripped double quotes from the table's name. DuckDB runs
every statement in the text, so a database file named
``mis.duckdb' AS src (READ_ONLY); COPY (SELECT 42) TO 'pwned.csv'; ATTACH 'mis.duckdb``, sent by
an agency and ingested as it came, wrote a file of the sender's choosing wherever the operator
stood (COPY can also read any file the service account can). A school's honest
``St Mary's MIS.duckdb`` could not be read at all, nor a table named with a double quote.
"""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import incli
from conftest import EXTRACT_DATE

pytestmark = pytest.mark.e2e

ROW = {"AdNo": "1", "UPN": "B801200005001", "Surname": "Example", "Forename": "Alexander",
       "DOB": "14/03/2015", "Sex": "M", "Postcode": "SW1A 1AA", "SchoolURN": "100001", "EntryDate": "01/09/2021"}


def _database(path: Path, table: str) -> Path:
    src = path.parent / "rows.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(ROW))
        w.writeheader()
        w.writerow(ROW)
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE \"{table.replace(chr(34), chr(34) * 2)}\" AS "
                "SELECT * FROM read_csv(?, all_varchar = true)", [str(src)])
    con.close()
    src.unlink()
    return path


def _ingest(work: Path, file: Path, *more: str) -> subprocess.CompletedProcess:
    """The real command, run where the operator stands (``work``), in this process (tests/incli.py:
    an interpreter of its own cost each of the module's five ingests a second of CPU)."""
    home = work / "data"
    before = os.getcwd()
    os.chdir(work)
    try:
        return incli.run("ingest", str(file), "--source", "education", *more, "--extract-date",
                         EXTRACT_DATE.isoformat(), "--data-dir", str(home), env={"LINKAGE_HOME": str(home)})
    finally:
        os.chdir(before)


def _table(work: Path, file: Path, table: str) -> subprocess.CompletedProcess:
    return _ingest(work, file, "--table", table, "--force")


def test_a_hostile_database_file_name_runs_no_statement_of_its_own(tmp_path):
    work = tmp_path / "inbox"
    work.mkdir()
    _database(work / "mis.duckdb", "pupils")            # the file the injected ATTACH names first
    hostile = work / "mis.duckdb' AS src (READ_ONLY); COPY (SELECT 42 AS pwned) TO 'pwned.csv'; ATTACH 'mis.duckdb"
    _database(hostile, "pupils")
    done = _table(work, hostile, "pupils")
    assert not (work / "pwned.csv").exists(), "the file name's own COPY statement ran"
    assert done.returncode == 0, done.stderr
    assert "read 1, accepted 1" in done.stdout, done.stdout     # the file itself is read as any other


@pytest.mark.parametrize("name, table", [("St Mary's MIS.duckdb", "pupils"),
                                         ("mis.duckdb", 'Year 7 "new" pupils')])
def test_an_honest_name_with_a_quote_is_read(tmp_path, name, table):
    work = tmp_path / "inbox"
    work.mkdir()
    file = _database(work / name, table)
    done = _table(work, file, table)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "read 1, accepted 1" in done.stdout, done.stdout


def test_a_parquet_file_named_as_a_glob_is_read_alone(tmp_path):
    """``read_parquet`` reads its argument as a glob: a file an agency named ``*.parquet`` took in
    every other Parquet file beside it (another agency's extract) as rows of its own."""
    work = tmp_path / "inbox"
    work.mkdir()
    for name, forename in (("*.parquet", "Alexander"), ("health.parquet", "Someone-Elses")):
        pq.write_table(pa.Table.from_pylist([{**ROW, "Forename": forename}]), work / name)
    assert sorted(p.name for p in work.iterdir()) == ["*.parquet", "health.parquet"]
    done = _ingest(work, work / "*.parquet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "read 1, accepted 1" in done.stdout, done.stdout


def test_a_view_in_a_database_file_cannot_read_outside_it(tmp_path):
    """A DuckDB extract is the sender's file: its "table" may be a view over ``read_text`` of a file
    on the operator's machine (the keys, another agency's extract). Ingested, that file's text came
    back as rows, quarantined and exported to the sender."""
    work = tmp_path / "inbox"
    work.mkdir()
    secret = tmp_path / "db.key"
    secret.write_text("THE-DATABASE-KEY\n")
    con = duckdb.connect(str(work / "mis.duckdb"))
    columns = ", ".join(f"'{v}' AS {c}" for c, v in ROW.items() if c != "Surname")
    con.execute(f"CREATE VIEW pupils AS SELECT {columns}, content AS Surname FROM read_text('{secret}')")
    con.close()
    done = _table(work, work / "mis.duckdb", "pupils")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "outside the database file" in done.stderr and "THE-DATABASE-KEY" not in done.stdout + done.stderr
