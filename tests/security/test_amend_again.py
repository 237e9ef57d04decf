"""A correction file refused again lists each of its rows once, however often it was sent.

A school's corrections (``--amend fix.csv``) held a row still missing its date of birth. The file,
opened and saved again by a spreadsheet (CRLF, every cell quoted: other bytes, so another ingest),
or corrected a second time and still wrong, was refused again: and the quarantine then listed that
row once per attempt, each "current", and the export sent back to the school asked for it twice.
An amendment's refused row is the agency's latest word on its record: earlier refusals of that
record are resolved by it. A warning (a field set aside from a record still stored) stays.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkage.cli import app

pytestmark = pytest.mark.e2e


def cli(home: Path, *args: str) -> str:
    """The command, run in this process (what the quarantine holds is the subject, not the process:
    six interpreters and their imports were most of this test's time), COLUMNS unset."""
    done = CliRunner(env={"COLUMNS": None}).invoke(app, [*args, "--data-dir", str(home)], catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    return done.stdout


def write(path: Path, header: list[str], rows: list[dict], resaved: bool = False) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header, quoting=csv.QUOTE_ALL if resaved else csv.QUOTE_MINIMAL,
                           lineterminator="\r\n" if resaved else "\n")
        w.writeheader()
        w.writerows(rows)
    return path


def test_a_correction_refused_again_is_listed_and_sent_back_once(tmp_path, synth_month1):
    home = tmp_path / "data"
    with open(synth_month1 / "education.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    cli(home, "ingest", "--source", "education", str(synth_month1 / "education.csv"), "--extract-date", "2026-10-01")
    broken, warned = dict(rows[2], DOB=""), dict(rows[3], Postcode="NOT A POSTCODE")
    attempts = [write(tmp_path / "fix.csv", header, [broken, warned]),
                write(tmp_path / "fix-saved-again.csv", header, [broken, warned], resaved=True),
                write(tmp_path / "fix-2.csv", header, [dict(broken, Forename=broken["Forename"] + "e"), warned])]
    for path in attempts:
        cli(home, "ingest", "--source", "education", "--amend", str(path))
    listed = json.loads(cli(home, "quarantine", "list", "--format", "json"))
    problems = [(q["record_id"], q["column"]) for q in listed]
    assert sorted(problems) == sorted([(broken["AdNo"], "DOB"), (warned["AdNo"], "Postcode")]), listed
    assert {q["file"] for q in listed} == {"fix-2.csv"}                # the latest attempt's rows
    cli(home, "quarantine", "export", str(tmp_path / "back.csv"), "--source", "education")
    with open(tmp_path / "back.csv", newline="", encoding="utf-8") as fh:
        sent = [r for r in csv.DictReader(fh)]
    assert len(sent) == 2, sent
