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
from linkage.connectors.ingest import CURRENT_RECORDS_SQL
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


def test_the_current_file_read_again_keeps_the_amendments_made_to_it(tmp_path):
    """An amendment corrected rows of this very file: reading the file again (a corrected date
    order) must not silently undo the correction (before: the amendment was superseded with it)."""
    home = tmp_path / "home"
    nov_file = us_file(tmp_path / "nov.csv", BIRTHS)
    ingest(home, nov_file, mapping(tmp_path), "--extract-date", "2026-11-01")
    fix = tmp_path / "fix.csv"            # US001's birth date, corrected by the school; and a new pupil
    fix.write_text("Child Ref;First Name;Last Name;D.O.B.;Post Code;Address\r\n"
                   "US001;Amy;Lee1;07/07/2015;NE1 4ST;1 High St\r\nUS099;Amy;Lee99;08/08/2015;NE1 4ST;9 High St\r\n",
                   encoding="cp1252")
    ingest(home, fix, mapping(tmp_path), "--amend")
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(mapping(tmp_path).read_text() + "# checked\n")
    said = ingest(home, nov_file, fixed)
    ids, extracts = served(home)
    assert ids == {f"US{i:03d}" for i in range(6)} | {"US099"}
    assert sorted(e for e, _ in extracts) == [2, 3]        # the new reading and the amendment, now of it
    from linkage.store import Store

    store = Store(home)
    try:
        assert births(store)["US001"] == date(2015, 7, 7)
        assert store.scalar("SELECT count(*) FROM store.records r JOIN store.extracts e USING (extract_id) "
                            "WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL") == 7
    finally:
        store.close()
    assert "1 amendment(s) made to it still apply" in said
    assert "1 amendment(s) made to it still apply" in said


def test_a_second_table_of_one_database_file_is_read_not_taken_for_the_first(tmp_path):
    """Two schools' tables in one MIS database file: the ingest key was the file and the mapping,
    so the second table was "already ingested; nothing changed" and its children never stored."""
    import duckdb

    home, mis = tmp_path / "home", tmp_path / "mis.duckdb"
    con = duckdb.connect(str(mis))
    for table, first in (("school_a", 0), ("school_b", 10)):
        con.execute(f'CREATE TABLE {table} ("Child Ref" VARCHAR, "First Name" VARCHAR, "Last Name" VARCHAR, '
                    '"D.O.B." VARCHAR, "Post Code" VARCHAR, "Address" VARCHAR)')
        con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)",
                        [(f"US{i:03d}", "Amy", f"Lee{i}", "01/03/2015", "NE1 4ST", f"{i} High St")
                         for i in range(first, first + 3)])
    con.close()
    ingest(home, mis, mapping(tmp_path), "--table", "school_a", "--extract-date", "2026-11-01")
    said = ingest(home, mis, mapping(tmp_path), "--table", "school_b", "--amend")
    assert served(home)[0] == {"US000", "US001", "US002", "US010", "US011", "US012"}
    assert "already ingested" not in said
    # The same table again (DuckDB names match whatever their case) is the same ingest.
    said = ingest(home, mis, mapping(tmp_path), "--table", "SCHOOL_B", "--amend")
    assert "already ingested as social_care extract 2" in said and "table SCHOOL_B" in said


def test_an_amendment_given_again_after_a_new_month_corrects_the_new_month(tmp_path):
    """The school's correction was made to October's extract; November's export still has the
    error. ``--amend fix.csv`` again was "already ingested; nothing changed": the correction never
    reached the current extract. Given again, it amends the extract current now; given twice
    against the same extract, it is the same ingest."""
    home = tmp_path / "home"
    fix = tmp_path / "fix.csv"
    fix.write_text("Child Ref;First Name;Last Name;D.O.B.;Post Code;Address\r\n"
                   "US001;Amy;Lee1;07/07/2015;NE1 4ST;1 High St\r\n", encoding="cp1252")
    ingest(home, us_file(tmp_path / "oct.csv", BIRTHS[:4]), mapping(tmp_path), "--extract-date", "2026-10-01")
    ingest(home, fix, mapping(tmp_path), "--amend")
    ingest(home, us_file(tmp_path / "nov.csv", BIRTHS), mapping(tmp_path), "--extract-date", "2026-11-01")
    said = ingest(home, fix, mapping(tmp_path), "--amend")
    from linkage.store import Store

    store = Store(home)
    try:
        assert births(store)["US001"] == date(2015, 7, 7)
    finally:
        store.close()
    assert "amended extract 3: replaced 1 records" in said
    assert "already ingested as social_care extract 4" in ingest(home, fix, mapping(tmp_path), "--amend")


def test_a_file_that_stopped_at_a_line_end_says_how_many_records_leave(tmp_path):
    """A copy that stopped between two rows cannot be told from a smaller extract; above the
    safety catch's size it replaced the current one with no word of the records it dropped."""
    home = tmp_path / "home"
    ingest(home, us_file(tmp_path / "sep.csv", BIRTHS), mapping(tmp_path), "--extract-date", "2026-09-01")
    said = ingest(home, us_file(tmp_path / "oct.csv", BIRTHS[:4]), mapping(tmp_path), "--extract-date", "2026-10-01")
    assert served(home)[0] == {f"US{i:03d}" for i in range(4)}
    assert "2 record ids of the extract it replaces are not in oct.csv: they leave the current data" in said
    said = ingest(home, us_file(tmp_path / "nov.csv", BIRTHS[:4]), mapping(tmp_path), "--extract-date", "2026-11-01")
    assert "leave the current data" not in said


def test_an_amendment_given_again_after_its_file_was_read_again_is_the_same_ingest(tmp_path):
    """The current file read again under a corrected mapping carries its amendments to the new
    reading. The amendment's key named the extract it first amended, so the same ``--amend
    fix.csv`` given again was taken for a new one: a second amendment row, re-applied. It is the
    amendment already there; a new month's extract (not a re-reading) still takes it afresh."""
    home = tmp_path / "home"
    nov_file = us_file(tmp_path / "nov.csv", BIRTHS)
    ingest(home, nov_file, mapping(tmp_path), "--extract-date", "2026-09-01")
    fix = tmp_path / "fix.csv"
    fix.write_text("Child Ref;First Name;Last Name;D.O.B.;Post Code;Address\r\n"
                   "US001;Amy;Lee1;07/07/2015;NE1 4ST;1 High St\r\n", encoding="cp1252")
    ingest(home, fix, mapping(tmp_path), "--amend")                       # extract 2, amending 1
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(mapping(tmp_path).read_text() + "# checked\n")
    assert "1 amendment(s) made to it still apply" in ingest(home, nov_file, fixed)   # extract 3; 2 amends 3
    for _ in range(2):                 # read again twice: the key must follow each re-reading
        said = ingest(home, fix, mapping(tmp_path), "--amend")
        assert "already ingested as social_care extract 2" in said, said
    assert sorted(e for e, _ in served(home)[1]) == [2, 3]
    fixed.write_text(fixed.read_text() + "# and again\n")
    ingest(home, nov_file, fixed)                                          # extract 4; 2 amends 4
    assert "already ingested as social_care extract 2" in ingest(home, fix, mapping(tmp_path), "--amend")
    from linkage.store import Store

    store = Store(home)
    try:
        assert store.scalar("SELECT count(*) FROM store.extracts WHERE amends IS NOT NULL") == 1
        assert births(store)["US001"] == date(2015, 7, 7)
    finally:
        store.close()
    # A new month's extract is not this file: the same correction amends it afresh.
    ingest(home, us_file(tmp_path / "oct.csv", BIRTHS[:5]), mapping(tmp_path), "--extract-date", "2026-10-01")
    assert "amended extract 5" in ingest(home, fix, mapping(tmp_path), "--amend")


def test_the_file_read_again_under_the_mapping_it_was_first_read_with_puts_that_reading_back(tmp_path):
    """A corrected mapping that was wrong after all (names swapped), and the first mapping put
    back: the file under it was "already ingested as extract 1; nothing changed" while the wrong
    reading stayed current. A file whose reading under this mapping another reading of the same
    file replaced is read again, as under any other mapping."""
    home = tmp_path / "home"
    nov_file = us_file(tmp_path / "nov.csv", BIRTHS)
    ingest(home, nov_file, mapping(tmp_path), "--extract-date", "2026-09-01")
    swapped = tmp_path / "swapped.yaml"
    swapped.write_text(mapping(tmp_path).read_text().replace("forename: First Name", "forename: Last Name")
                       .replace("surname: Last Name", "surname: First Name"))
    ingest(home, nov_file, swapped)
    said = ingest(home, nov_file, mapping(tmp_path))           # the first mapping, put back
    assert "already ingested" not in said and "was stored before as extract" in said
    from linkage.store import Store

    store = Store(home)
    try:
        assert store.rows(f"SELECT DISTINCT forename FROM ({CURRENT_RECORDS_SQL})") == [("Amy",)]
    finally:
        store.close()
    assert served(home)[1] == [(3, date(2026, 9, 1))]
    assert "already ingested as social_care extract 3" in ingest(home, nov_file, mapping(tmp_path))


def test_an_amendment_read_again_under_its_first_mapping_puts_that_reading_back(tmp_path):
    """The same for an amendment: read under a mapping that swapped the names, then under the
    first mapping again, it was "already ingested" and the swapped names stayed current."""
    home = tmp_path / "home"
    ingest(home, us_file(tmp_path / "nov.csv", BIRTHS), mapping(tmp_path), "--extract-date", "2026-09-01")
    fix = tmp_path / "fix.csv"
    fix.write_text("Child Ref;First Name;Last Name;D.O.B.;Post Code;Address\r\n"
                   "US001;Amy;Lee1;07/07/2015;NE1 4ST;1 High St\r\n", encoding="cp1252")
    swapped = tmp_path / "swapped.yaml"
    swapped.write_text(mapping(tmp_path).read_text().replace("forename: First Name", "forename: Last Name")
                       .replace("surname: Last Name", "surname: First Name"))
    ingest(home, fix, mapping(tmp_path), "--amend")
    ingest(home, fix, swapped, "--amend")
    said = ingest(home, fix, mapping(tmp_path), "--amend")
    assert "already ingested" not in said and "amended extract 1: replaced 1 records" in said
    from linkage.store import Store

    store = Store(home)
    try:
        assert store.rows(f"SELECT forename FROM ({CURRENT_RECORDS_SQL}) WHERE source_record_id = 'US001'") == [
            ("Amy",)]
    finally:
        store.close()
    assert "already ingested as social_care extract 4" in ingest(home, fix, mapping(tmp_path), "--amend")
