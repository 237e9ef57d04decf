"""A busy data manager's mistakes outside ingest, each ending in one line with nothing lost.

Exports named over the wrong file, a month's extract that lost a column, a review decision sent
twice or over another reviewer's: none may silently destroy what was there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkage.cli import app

EXTRACT = "LAchildID,Forename,Surname,PersonBirthDate,HOME_POST,NHSNumber\n" + "".join(
    f"LA{i:04d},Amy{i},Smith,0{1 + i % 9}/03/2015,SW1A 1AA,\n" for i in range(6))


def cli(home: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--data-dir", str(home)])


@pytest.fixture
def home(tmp_path) -> Path:
    """A data directory with one small social-care extract ingested (no link needed to export)."""
    home = tmp_path / "home"
    extract = tmp_path / "cin.csv"
    extract.write_text(EXTRACT)
    done = cli(home, "ingest", "--source", "social_care", str(extract), "--extract-date", "2026-10-01")
    assert done.exit_code == 0, done.output
    return home


EXPORTS = {"export-ids": lambda out: ["export-ids", str(out)],
           "quarantine export": lambda out: ["quarantine", "export", str(out)],
           "audit checkpoints": lambda out: ["audit", "checkpoints", str(out)]}


@pytest.mark.parametrize("export", list(EXPORTS))
def test_an_export_named_over_an_extract_is_refused_and_the_file_kept(home, tmp_path, export):
    """``linkage export-ids education.csv`` (the extract's name, typed or tab-completed by mistake)
    replaced the extract without a word; so did every other export. Now only an earlier export of
    the same kind (or an empty file) is replaced; anything else needs --force."""
    args = EXPORTS[export]
    victim = tmp_path / "cin.csv"
    before = victim.read_bytes()
    done = cli(home, *args(victim))
    assert done.exit_code == 2, done.output
    assert "already exists and is not an earlier" in done.output and "--force" in done.output, done.output
    assert len(done.output.strip().splitlines()) == 1 and "Traceback" not in done.output, done.output
    assert victim.read_bytes() == before, "the extract was overwritten"

    out = tmp_path / "export.out"
    assert cli(home, *args(out)).exit_code == 0
    first = out.read_bytes()
    again = cli(home, *args(out))                   # last month's export, replaced as before
    assert again.exit_code == 0, again.output
    assert out.read_bytes()[:40] == first[:40]

    forced = cli(home, *args(victim), "--force")
    assert forced.exit_code == 0, forced.output
    assert victim.read_bytes() != before


def test_an_export_into_a_missing_directory_or_onto_a_device_is_one_line(home, tmp_path):
    """A directory that does not exist was reported with the hidden temporary file's name
    (``[Errno 2] ... '.ids.csv.rtvq3ccg.part'``); a device was renamed over (as root, /dev/null)."""
    done = cli(home, "export-ids", str(tmp_path / "no-such-dir" / "ids.csv"))
    assert done.exit_code == 2 and done.output.strip() == (
        f"error: cannot write {tmp_path / 'no-such-dir' / 'ids.csv'}: there is no directory "
        f"{tmp_path / 'no-such-dir'}"), done.output
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = cli(home, "export-ids", str(fifo), "--force")
    assert done.exit_code == 2 and "not a regular file" in done.output, done.output
    assert Path(fifo).is_fifo()
