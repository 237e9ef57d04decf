"""A refused file leaves nothing behind, and a wrong path is said in words.

A Parquet file whose name DuckDB would read as a glob (``*.parquet``) is read through a link
in a private temporary directory, removed when its rows have been read. A file refused before
that (its columns not the mapping's) never started its rows, so the directory and its link to
the agency's file stayed in /tmp, one per refusal. A directory given as the file was
``[Errno 21] Is a directory``. Two exports joined into one file (the second's header a row
in the middle) quarantined that row three times over, as a date ``'DOB'``, a postcode
``'Post Code'`` and a date ``'Moved In'``.
"""

from __future__ import annotations

import tempfile
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.connectors import ConnectorError, ingest_file
from linkage.views.quarantine import reason_code


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    where = tmp_path / "tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


@pytest.mark.parametrize("columns", [{"Someone": ["x"]},                         # refused: no mapped column
                                     {"AdNo": ["1"], "Forename": ["Amy"], "Surname": ["Lee"], "DOB": ["3/25/2015"]}])
def test_a_refused_glob_named_parquet_file_leaves_no_link_behind(store, tmp_path, private_tmp, columns):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pq.write_table(pa.table(columns), inbox / "*.parquet")
    with pytest.raises(ConnectorError):
        ingest_file(store, "education", inbox / "*.parquet", extract_date=date(2026, 10, 1))
    assert list(private_tmp.iterdir()) == []


def test_a_directory_given_as_the_file_is_said_in_one_line(tmp_path):
    out = CliRunner().invoke(app, ["ingest", str(tmp_path), "--source", "education", "--extract-date",
                                   "2026-10-01", "--data-dir", str(tmp_path / "home")])
    assert out.exit_code == 2 and "Traceback" not in out.output and out.output.count("\n") == 1
    assert f"{tmp_path} is a directory: name the extract file in it" in out.output.replace("\n", "")


@pytest.mark.parametrize("columnar", [True, False])
def test_two_exports_joined_into_one_file_quarantine_the_second_header_once_saying_so(store, tmp_path, columnar):
    header = "Child Ref,First Name,Last Name,DOB,Post Code,Address,Notes,NOTES"
    part = lambda a, b: f"{header}\n{a},Amy,Smith,01/03/2015,NE1 4ST,1 High St,x,y\n{b},Ben,Lee,02/03/2015,,,,\n"  # noqa: E731
    (tmp_path / "both.csv").write_text(part("A1", "A2") + part("A3", "A4").replace("Child Ref", "\ufeffCHILD REF"))
    (tmp_path / "m.yaml").write_text("source: social_care\nrecord_id: Child Ref\nfields:\n  forename: First Name\n"
                                     "  surname: Last Name\n  date_of_birth: DOB\n  postcode: Post Code\n")
    r = ingest_file(store, "social_care", tmp_path / "both.csv", tmp_path / "m.yaml", extract_date=date(2026, 10, 1),
                    columnar=columnar)
    assert (r.accepted, r.quarantined) == (4, 1)
    (line, field, reason), = store.rows("SELECT line_no, field, reason FROM store.quarantine")
    assert (line, field) == (4, "row") and "the header row again" in reason and "two exports joined" in reason
    assert reason_code(reason) == "header_again"
