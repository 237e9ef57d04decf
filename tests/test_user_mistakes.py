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


def _nhs(n: int) -> str:
    """A valid NHS number (modulus 11) from a nine-digit stem."""
    stem = f"{943476000 + n:09d}"
    check = 11 - sum(int(d) * w for d, w in zip(stem, range(10, 1, -1))) % 11
    return stem + str(0 if check == 11 else check) if check != 10 else _nhs(n + 1000)


def _health(path: Path, nhs: str = "nhs") -> Path:
    """A PDS-like extract of twelve children; ``nhs``: "nhs" numbers, "blank" cells, "gone" column."""
    head = "id,name.given,name.family,birthDate" + (",nhsNumber" if nhs != "gone" else "")
    rows = [f"P{i:03d},Amy{i},Jones,2015-03-{1 + i:02d}" + {"nhs": f",{_nhs(i)}", "blank": ",", "gone": ""}[nhs]
            for i in range(12)]
    path.write_text("\n".join([head, *rows]) + "\n")
    return path


@pytest.mark.parametrize("how", ["gone", "blank"])
def test_a_month_whose_export_lost_a_column_is_refused_and_last_month_stays(tmp_path, how):
    """Next month's export without the NHS-number column (a changed report, a renamed heading)
    became the current extract with a warning row: every NHS number of the source went from
    linking at once. Now it is refused in one line naming the field and its column."""
    home = tmp_path / "home"
    oct_ = _health(tmp_path / "oct.csv")
    assert cli(home, "ingest", "--source", "health", str(oct_), "--extract-date", "2026-10-01").exit_code == 0
    nov = _health(tmp_path / "nov.csv", how)
    done = cli(home, "ingest", "--source", "health", str(nov), "--extract-date", "2026-11-01")
    assert done.exit_code == 2, done.output
    line = " ".join(done.output.split())          # one line, wrapped to the terminal by rich
    assert len(done.output.strip().splitlines()) <= 3 and "Traceback" not in done.output, done.output
    assert "nov.csv holds no nhs_number" in line and "column nhsNumber" in line and "nothing was stored" in line
    assert ("absent from the file" if how == "gone" else "blank or refused in every row") in line, line
    status = cli(home, "status", "--format", "csv")
    assert "health,oct.csv,2026-10-01,12,12" in status.output, status.output
    forced = cli(home, "ingest", "--source", "health", str(nov), "--extract-date", "2026-11-01", "--force")
    assert forced.exit_code == 0, forced.output
    assert "health,nov.csv,2026-11-01,12,12" in cli(home, "status", "--format", "csv").output


def test_status_names_the_whole_extract_not_the_last_amendment(home, tmp_path):
    """An AP roll of a few pupils read with --amend beside the census showed as the source's
    current extract in `linkage status`: the census looked replaced, and was ingested again."""
    roll = tmp_path / "ap_roll.csv"
    roll.write_text(EXTRACT.splitlines()[0] + "\nLA0100,Zed,Smith,01/04/2015,SW1A 1AA,\n")
    assert cli(home, "ingest", "--source", "social_care", "--amend", str(roll)).exit_code == 0
    done = cli(home, "status", "--format", "csv")
    assert "social_care,cin.csv + 1 amendment,2026-10-01,7,7,7,0,0" in done.output, done.output


def test_serve_on_a_port_in_use_is_one_line_before_anything_loads(tmp_path):
    """A second `linkage serve` (the first left running in another terminal) loaded everything,
    then printed uvicorn's ERROR among INFO lines and exited 3."""
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "linkage.cli", "serve", "--port", str(port), "--data-dir",
                               str(tmp_path / "home")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: cannot serve on 127.0.0.1:{port}: the port is already in use (another `linkage serve`, or another "
        "program): stop it, or choose another --port"), done.stderr
    assert "Traceback" not in done.stderr and "INFO" not in done.stderr, done.stderr
    assert "DeprecationWarning" not in done.stderr and "site-packages" not in done.stderr, done.stderr


@pytest.mark.parametrize("text,said", [
    ("source: health\nrecord_id: id\nfields:\n\tforename: name.given\n",
     "line 4, column 1 holds a tab: YAML indents with spaces only"),
    ("source: health\nrecord_id: id\nfields:\n  forename: \"name.given\n  surname: name.family\n",
     "line 6, column 1: found unexpected end of stream (while scanning a quoted scalar that starts at line 4, column 13)"),
    ("source: health\nrecord_id: id\nfields:\n  forename name.given\n  surname: name.family\n",
     "line 5, column 10: mapping values are not allowed here (a ':' missing on the line above"),
])
def test_a_mapping_that_is_not_yaml_says_where_in_the_editors_terms(tmp_path, text, said):
    """A tab, an unclosed quote or a missing colon in a copied mapping printed PyYAML's text:
    ``in "<unicode string>"``, a caret, and nothing of tabs (the commonest fault)."""
    from linkage.connectors.mapping import load_mapping
    from linkage.errors import ConfigError

    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(f"mapping {path} is not valid YAML: {said}"), str(caught.value)
    assert "<unicode string>" not in str(caught.value) and "^" not in str(caught.value)


def test_an_identifier_typed_as_people_type_it_is_read_as_issued():
    """`linkage resolve c-7m2q9xk4b1tzp` (or read off paper with O for 0) said the child "was never
    issued here"; `review show RV-...` had "no pair". Crockford's base32 is read as its spec says
    (case, spaces and hyphens ignored, O as 0, I and L as 1) when the check character confirms it."""
    from linkage.identity.ids import mint_child_ids, typed_child_id, typed_pair_id

    for cid in mint_child_ids(200):
        typed = cid.lower().replace("0", "o").replace("1", "l")
        assert typed_child_id(f" {typed[:6]} {typed[6:]} ") == cid, (cid, typed)
        assert typed_child_id(cid) == cid
    wrong = mint_child_ids(1)[0]
    wrong = wrong[:-2] + ("2" if wrong[-2] != "2" else "3") + wrong[-1]         # one character mistyped
    assert typed_child_id(wrong) == wrong                   # not "corrected": reported as typed
    assert typed_child_id("C-NOPE") == "C-NOPE"
    assert typed_pair_id(" RV-49BFC51EAA30CDF7\n") == "rv-49bfc51eaa30cdf7"
    assert typed_pair_id("rv-nope") == "rv-nope"
