"""An extract cannot wipe a source: the safety catch, --amend, --force, through the real CLI.

And every failure a data manager met (disk full, short or wrong key, corrupt or locked
database, a missing key file) ends in one clear line and exit 2, never a traceback.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.store import Store
from linkage.synth.extracts import EDU_HEADER

GOOD = {"UPN": "B801200005001", "Surname": "Example", "Forename": "Alexander", "DOB": "14/03/2015",
        "Sex": "M", "Postcode": "SW1A 1AA", "SchoolURN": "100001", "EntryDate": "01/09/2021"}
DATE = "2026-10-01"


def pupils(path: Path, ids, bad: set = frozenset(), blank_lines: int = 0, **overrides) -> Path:
    """An education extract with one pupil per id; ids in ``bad`` have an impossible date of birth."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=EDU_HEADER, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for i in ids:
            w.writerow({**GOOD, "AdNo": str(i), "Forename": f"Pupil{i}x".replace("0", "o"),
                        "DOB": "31/02/2015" if i in bad else GOOD["DOB"], **overrides})
        fh.write("\n" * blank_lines)
    return path


def run(*args: str, home: Path):
    result = CliRunner().invoke(app, [*args, "--data-dir", str(home)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def ingest(path: Path, home: Path, *extra: str, date: str = DATE):
    return run("ingest", str(path), "--source", "education", "--extract-date", date, *extra, home=home)


def current(home: Path) -> list[str]:
    """Record ids of the current education extract."""
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL

    s = Store(home)
    try:
        return sorted(r[0] for r in s.rows(f"SELECT source_record_id FROM ({CURRENT_RECORDS_SQL})"))
    finally:
        s.close()


def one_line_refusal(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture
def base(tmp_path):
    """A current education extract of 100 pupils, 3 of them quarantined."""
    home = tmp_path / "data"
    r = ingest(pupils(tmp_path / "base.csv", range(1, 101), bad={5, 6, 7}), home)
    assert r.exit_code == 0, r.output
    assert "accepted 97" in r.output and "quarantined 3" in r.output
    return home


def test_header_only_extract_is_refused_and_changes_nothing(base, tmp_path):
    before = current(base)
    r = ingest(pupils(tmp_path / "header.csv", []), base, date="2026-11-01")
    one_line_refusal(r, "header.csv", "no data rows", "--force")
    assert current(base) == before


def test_empty_file_is_refused(base, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    one_line_refusal(ingest(tmp_path / "empty.csv", base, date="2026-11-01"), "empty")
    assert len(current(base)) == 97


def test_blank_only_extract_is_refused_and_blank_rows_are_counted(base, tmp_path):
    r = ingest(pupils(tmp_path / "blank.csv", [], blank_lines=4), base, date="2026-11-01")
    one_line_refusal(r, "no data rows", "4 blank rows")


def test_all_quarantined_extract_is_refused_naming_the_numbers(base, tmp_path):
    r = ingest(pupils(tmp_path / "broken.csv", range(1, 101), bad=set(range(1, 101))), base, date="2026-11-01")
    one_line_refusal(r, "100 of 100 rows", "quarantined", "50%", "--force")
    assert len(current(base)) == 97
    s = Store(base)
    assert s.scalar("SELECT count(*) FROM store.quarantine") == 3      # nothing from the refused file
    s.close()


def test_partial_extract_is_refused_and_amend_or_force_is_offered(base, tmp_path):
    r = ingest(pupils(tmp_path / "corrected.csv", [5, 6, 7]), base, date="2026-11-01")
    one_line_refusal(r, "3 accepted rows against 97", "--amend", "--force")
    assert len(current(base)) == 97


def test_corrected_rows_resubmitted_with_amend_replace_only_those_ids_and_resolve_quarantine(base, tmp_path):
    fixed = pupils(tmp_path / "fixed.csv", [5, 6, 7, 8], Surname="Corrected")
    r = ingest(fixed, base, "--amend")
    assert r.exit_code == 0, r.output
    assert "replaced 1 records, added 3" in r.output and "resolved 3 quarantine rows" in r.output
    assert current(base) == sorted(str(i) for i in range(1, 101))
    s = Store(base)
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL

    assert dict(s.rows(f"SELECT source_record_id, surname FROM ({CURRENT_RECORDS_SQL}) "
                       "WHERE source_record_id IN ('4', '8')")) == {"4": "Example", "8": "Corrected"}
    # History kept: the quarantine rows are still there, marked resolved by the amendment.
    rows = s.rows("SELECT source_record_id, resolved_by_extract IS NOT NULL, resolved_at IS NOT NULL "
                  "FROM store.quarantine ORDER BY 1")
    assert rows == [("5", True, True), ("6", True, True), ("7", True, True)]
    # The replaced record is kept, superseded by the amendment, and its events drop out with it.
    assert s.scalar("SELECT count(*) FROM store.records WHERE source_record_id = '8'") == 2
    assert s.scalar(f"SELECT count(*) FROM store.edu_enrolment e JOIN ({CURRENT_RECORDS_SQL}) r "
                    "USING (record_key, extract_id)") == 100
    s.close()


def test_second_schools_file_on_the_same_date_needs_amend(base, tmp_path):
    other = pupils(tmp_path / "school2.csv", range(1001, 1101), SchoolURN="100002")
    one_line_refusal(ingest(other, base), "same extract date", "--amend")
    assert len(current(base)) == 97
    assert ingest(other, base, "--amend").exit_code == 0
    assert len(current(base)) == 197


def test_force_makes_a_small_extract_current(base, tmp_path):
    r = ingest(pupils(tmp_path / "small.csv", [1, 2]), base, "--force", date="2026-11-01")
    assert r.exit_code == 0, r.output
    assert current(base) == ["1", "2"]


def test_a_whole_extract_supersedes_the_previous_one_with_its_amendments(base, tmp_path):
    assert ingest(pupils(tmp_path / "fix.csv", [5]), base, "--amend").exit_code == 0
    assert ingest(pupils(tmp_path / "next.csv", range(1, 91)), base, date="2026-11-01").exit_code == 0
    assert current(base) == sorted(str(i) for i in range(1, 91))
    s = Store(base)
    assert s.rows("SELECT file_name, superseded_by IS NOT NULL FROM store.extracts ORDER BY extract_id") == [
        ("base.csv", True), ("fix.csv", True), ("next.csv", False)]
    s.close()


def test_amend_without_a_current_extract_is_refused(tmp_path):
    one_line_refusal(ingest(pupils(tmp_path / "x.csv", [1]), tmp_path / "data", "--amend"), "no current")


def test_already_ingested_names_the_source_and_file_it_was_ingested_as(base, tmp_path):
    copy = tmp_path / "copy-of-base.csv"
    shutil.copy(tmp_path / "base.csv", copy)
    r = ingest(copy, base)
    assert r.exit_code == 0 and "already ingested as education extract 1 (file base.csv" in r.output
    other = run("ingest", str(copy), "--source", "health", "--extract-date", DATE, home=base)
    one_line_refusal(other, "already ingested as education", "not health")


def test_blank_rows_are_counted_so_the_numbers_add_up(tmp_path):
    r = ingest(pupils(tmp_path / "b.csv", range(1, 11), bad={3}, blank_lines=2), tmp_path / "data")
    assert "read 12, accepted 9, quarantined 1, blank rows skipped 2" in r.output
    s = Store(tmp_path / "data")
    assert s.rows("SELECT rows_read, accepted, quarantined, blank_rows FROM store.extracts") == [(12, 9, 1, 2)]
    s.close()


def test_the_realistic_case_62_corrected_rows_against_a_whole_school_census(tmp_path, synth_month1):
    """The education extract fell from thousands of records to 62: now refused, then amended."""
    home = tmp_path / "data"
    assert ingest(synth_month1 / "education.csv", home).exit_code == 0
    n = len(current(home))
    with open(synth_month1 / "education.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:62]
    part = tmp_path / "resubmitted.csv"
    with open(part, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    one_line_refusal(ingest(part, home, date="2026-10-15"), f"62 accepted rows against {n}")
    assert len(current(home)) == n
    assert ingest(part, home, "--amend").exit_code == 0
    assert len(current(home)) == n


# --- failures as one line, in a real process ------------------------------------------------

def cli_process(*args: str, home: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "LINKAGE_HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, "-m", "linkage.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=300)


def one_line_failure(p: subprocess.CompletedProcess, *words: str) -> str:
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def made(tmp_path):
    """A data directory with an encrypted database holding one extract."""
    home = tmp_path / "data"
    assert ingest(pupils(tmp_path / "base.csv", range(1, 21)), home).exit_code == 0
    return home


def test_short_key_is_one_line(made):
    p = cli_process("status", home=made, env={"LINKAGE_DB_KEY": "short"})
    one_line_failure(p, "LINKAGE_DB_KEY", "at least 32 characters")


def test_empty_key_counts_as_unset(made):
    """A setting read, not a failure's one line: in this process (``tests/incli.py``)."""
    import incli

    p = incli.run("status", "--data-dir", str(made), env={"LINKAGE_DB_KEY": ""})
    assert p.returncode == 0, p.stderr


def test_wrong_key_says_the_key_does_not_open_the_database(made):
    p = cli_process("status", home=made, env={"LINKAGE_DB_KEY": "k" * 40})
    one_line_failure(p, "the database key does not open this database")


def test_missing_key_file_never_mints_a_new_key_over_an_encrypted_database(made):
    (made / "keys" / "db.key").unlink()
    p = cli_process("status", home=made)
    one_line_failure(p, "key", "missing", "restore")
    assert not (made / "keys" / "db.key").exists()


def test_corrupt_block_is_reported_as_corrupt_with_how_to_restore(made):
    db = made / "linkage.duckdb"
    data = bytearray(db.read_bytes())
    for i in range(8, 4096):          # the main header
        data[i] ^= 0x5A
    db.write_bytes(bytes(data))
    line = one_line_failure(cli_process("status", home=made), "corrupt", "restore", "backup")
    assert "another" not in line


def test_corrupt_data_block_is_reported_as_corrupt_not_a_wrong_key(made):
    db = made / "linkage.duckdb"
    data = bytearray(db.read_bytes())
    for i in range(3 * 262144, len(data)):          # every block after the headers
        data[i] ^= 0x5A
    db.write_bytes(bytes(data))
    line = one_line_failure(cli_process("status", home=made), "corrupt", "restore")
    assert "key does not open" not in line and "another" not in line


def test_locked_database_names_another_linkage_command(made):
    holder = Store(made)
    try:
        line = one_line_failure(cli_process("status", home=made), "another linkage command", "writing to")
        assert "server" not in line          # servers read published snapshots, not the live database
    finally:
        holder.close()


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    try:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True).returncode == 0
    except OSError:
        return False


def test_disk_full_is_one_line_and_stores_nothing(tmp_path):
    disk = tmp_path / "small-disk"
    if not _mount_tmpfs(disk, "1m"):
        pytest.skip("needs root to mount a 1 MB tmpfs")
    try:
        big = pupils(tmp_path / "big.csv", range(1, 40_001))
        one_line_failure(cli_process("ingest", str(big), "--source", "education", "--extract-date", DATE,
                                     home=disk / "data"), "disk", "full", "nothing from this run was saved")
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_failed_run_is_compacted_on_the_next_open_and_by_vacuum(tmp_path):
    """159 MB grew to 237 MB after killed runs: the next open rewrites the file without the dead space."""
    home = tmp_path / "data"
    assert ingest(pupils(tmp_path / "base.csv", range(1, 51)), home).exit_code == 0
    s = Store(home)
    size = s.path.stat().st_size
    with pytest.raises(KeyboardInterrupt):          # as if killed half-way through a large ingest
        with s.transaction():
            s.execute("INSERT INTO store.records (record_key, extract_id, source, source_record_id, forename, "
                      "surname, date_of_birth, extract_date) SELECT 'k' || range, 99, 'education', "
                      "range::VARCHAR, md5(range::VARCHAR), md5(range::VARCHAR || 'x'), DATE '2015-01-01', "
                      "DATE '2026-10-01' FROM range(300000)")
            raise KeyboardInterrupt
    s.close()
    grown = (home / "linkage.duckdb").stat().st_size
    assert grown > 3 * size
    r = run("status", home=home)
    assert r.exit_code == 0 and "compacted" in r.output
    assert (home / "linkage.duckdb").stat().st_size < grown / 3
    assert len(current(home)) == 50
    v = run("vacuum", home=home)
    assert v.exit_code == 0 and "compacted" in v.output
    assert len(current(home)) == 50
    assert sorted(p.name for p in home.iterdir() if p.name.startswith("linkage")) == ["linkage.duckdb"]


# --- as shipped -----------------------------------------------------------------------------

def test_the_shipped_env_file_loads_as_is_and_matches_the_readme(monkeypatch):
    import re

    from conftest import REPO
    from linkage.config import Settings

    values = {}
    for line in (REPO / "deploy" / "linkage.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
            monkeypatch.setenv(key.strip(), value.strip())
    s = Settings()
    assert s.db_key is None
    readme = (REPO / "README.md").read_text()
    for name, value in (("MATCH_THRESHOLD", s.match_threshold), ("REVIEW_LOWER", s.review_lower),
                        ("INGEST_MAX_QUARANTINED", s.ingest_max_quarantined),
                        ("INGEST_MIN_RELATIVE_SIZE", s.ingest_min_relative_size)):
        assert getattr(Settings.model_fields[name.lower()], "default") == value, name
        assert re.search(rf"\*\*{value}\*\*\s*\n?\s*\(`LINKAGE_{name}`\)", readme), name
    monkeypatch.setenv("LINKAGE_DB_KEY", "")
    assert Settings().db_key is None


@pytest.mark.e2e
def test_make_demo_leaves_the_model_where_the_readme_says(tmp_path):
    # `make demo`'s command and difficulty on 300 children (it still trains, links and reports;
    # 600 cost twice the CPU and proved nothing more)
    r = CliRunner().invoke(app, ["demo", "--children", "300", "--work-dir", str(tmp_path / "demo")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "demo" / "data" / "model.json").is_file()


def test_evaluate_names_a_missing_truth_file_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nofile.csv"), "--data-dir", str(tmp_path / "home")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'nofile.csv'}: no such file or directory"


def test_a_snapshot_past_the_file_size_limit_is_reported_in_one_line(tmp_path):
    """``ulimit -f``: the copy fails with EFBIG (Python ignores SIGXFSZ); the run's data is kept."""
    import resource

    home = tmp_path / "home"
    store = Store(home)
    store.connection.execute("INSERT INTO store.term_frequencies SELECT 'c', md5(i::VARCHAR) || md5((i + 1)::VARCHAR), "
                             "random() FROM range(100000) t(i)")
    store.connection.execute("CHECKPOINT store")
    size = (home / "linkage.duckdb").stat().st_size
    store.close()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, hard))
    try:
        result = CliRunner().invoke(app, ["publish", "--data-dir", str(home)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    assert "outgrew the largest file this process may write (ulimit -f" in line and "snapshots" in line, line
    assert "Errno" not in line and "FATAL" not in line and "IO Error" not in line
    assert not list((home / "snapshots").glob("*.duckdb*"))
