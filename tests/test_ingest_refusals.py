"""A refused file leaves nothing behind, and a wrong path is said in words.

A Parquet file whose name DuckDB would read as a glob (``*.parquet``) is read through a link
in a private temporary directory, removed when its rows have been read. A file refused before
that (its columns not the mapping's) never started its rows, so the directory and its link to
the agency's file stayed in /tmp, one per refusal. A directory given as the file was
``[Errno 21] Is a directory``.
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
