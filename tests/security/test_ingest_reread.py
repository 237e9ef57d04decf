"""Last month's file read again under a corrected mapping must not replace this month's extract.

Session 21 made the ingest key the file and its mapping, so a corrected mapping reads a file
again. But the file read again took today's date (``--extract-date`` defaults to today), so
October's file, put right under a mapping edited in November (or any edit: a comment, a new
optional column, when an old ingest command is run again), became the current extract over
November's: every child only in November's file dropped out of what is linked and served,
silently ("read 379, accepted 379"). Now a file stored before keeps the date it was stored
with unless told otherwise; read again, it replaces its own older reading and nothing newer,
and the command says so.
"""

from __future__ import annotations

from datetime import date

from typer.testing import CliRunner

from linkage.cli import app
from test_ingest_date_order import births, us_file
from test_ingest_mistakes import mapping

BIRTHS = ["01/03/2015", "02/03/2015", "05/04/2016", "10/11/2013", "11/12/2012", "12/01/2011"]


def served(home) -> tuple[set[str], list[tuple]]:
    """The current records' ids and the current extracts (id, date)."""
    from linkage.store import Store

    store = Store(home)
    try:
        return set(births(store)), store.rows("SELECT extract_id, extract_date FROM store.extracts "
                                              "WHERE superseded_by IS NULL")
    finally:
        store.close()


def ingest(home, path, mapping_path, *more: str):
    out = CliRunner().invoke(app, ["ingest", str(path), "--source", "social_care", "--mapping", str(mapping_path),
                                   "--data-dir", str(home), *more])
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output
    return out.output


def test_last_months_file_under_a_corrected_mapping_does_not_replace_this_months(tmp_path):
    home = tmp_path / "home"
    oct_file = us_file(tmp_path / "oct.csv", BIRTHS[:4])
    nov_file = us_file(tmp_path / "nov.csv", BIRTHS)             # two children more in November
    ingest(home, oct_file, mapping(tmp_path), "--extract-date", "2026-10-01")
    ingest(home, nov_file, mapping(tmp_path), "--extract-date", "2026-11-01")
    fixed = tmp_path / "fixed.yaml"          # the mapping put right (here: only a comment added)
    fixed.write_text(mapping(tmp_path).read_text() + "# column names checked with the school\n")
    said = ingest(home, oct_file, fixed)     # no --extract-date: as the October command, run again
    six = {f"US{i:03d}" for i in range(6)}
    assert served(home) == (six, [(2, date(2026, 11, 1))])           # November's six, not October's four
    assert "was stored before as extract 1 under another mapping" in said and "2026-10-01" in said
    assert "stays current" in said
    # November's own file, put right the same way, replaces November's reading of it and stays current.
    said = ingest(home, nov_file, fixed)
    assert "stays current" not in said
    assert served(home) == (six, [(4, date(2026, 11, 1))])
