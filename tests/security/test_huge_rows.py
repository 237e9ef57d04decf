"""A malicious extract whose one row never ends, against the real ``linkage ingest``.

The csv module gathers a cell until its closing quote (or a line until its newline) whatever its
length, at four bytes a character and more: a quote left open near the top of a 200 MB file (or a
file that is one long line) took the rest of the file into one cell, and the ingest process grew
past a gigabyte before the row was looked at; a few such files on a shared server exhaust its
memory. A row is now refused past ``MAX_ROW_CHARACTERS`` (1 Mi characters, a thousand times
any real row), with one line naming the row, before more of it is read.

Parquet and DuckDB files are compressed: an 11 KB Parquet file held a 300 MB cell and its ingest
took a gigabyte; a 34 KB one held a 1 GB cell (1.2 GB). Their rows are bounded in SQL before
Python fetches them, and DuckDB's own memory while reading is capped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import EXTRACT_DATE

pytestmark = pytest.mark.e2e

HEADER = "AdNo,UPN,Surname,Forename,DOB,Sex,Postcode,SchoolURN,EntryDate\n"
GOOD = "1,B801200005001,Example,Alexander,14/03/2015,M,SW1A 1AA,100001,01/09/2021\n"
SIZE = 150 * 1024 * 1024        # characters of the endless row

# Run in a fresh interpreter so its peak memory is the ingest's alone (not pytest's other children).
_MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
sys.stdout.write(done.stdout + done.stderr)
"""


def _write(path: Path, tail: str) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER + GOOD + tail)
        block = ("A" * 1023 + "\n") if tail.endswith('"') else "A" * 1024   # over many lines, or one
        for _ in range(SIZE // 1024):
            fh.write(block)
    return path


def _ingest(home: Path, file: Path, *more: str) -> tuple[int, int, str]:
    """(exit code, peak resident MiB of the ingest, what it said)."""
    cmd = [sys.executable, "-m", "linkage.cli", "ingest", str(file), "--source", "education",
           "--extract-date", EXTRACT_DATE.isoformat(), "--data-dir", str(home), *more]
    done = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LINKAGE_HOME": str(home)})
    code, peak, said = done.stdout.split("\n", 2)
    return int(code), int(peak), said


def _baseline(tmp_path: Path) -> int:
    small = tmp_path / "small.csv"
    small.write_text(HEADER + GOOD, encoding="utf-8")
    code, peak, said = _ingest(tmp_path / "base", small)
    assert code == 0, said
    return peak


@pytest.mark.parametrize("tail", ['2,"', "2,"], ids=["a quote never closed", "one endless line"])
def test_a_row_that_never_ends_is_refused_without_reading_it_whole(tmp_path, tail):
    file = _write(tmp_path / "pupils.csv", tail)
    base = _baseline(tmp_path)
    code, peak, said = _ingest(tmp_path / "data", file)
    assert peak < base + 100, f"the ingest grew {peak - base} MiB over a small file's for one row"
    assert code == 2 and "row 2" in said and "longer than" in said and "Traceback" not in said, said


# The cell built a kibibyte at a time: the same value and the same file, byte for byte, as
# repeat('A', n), made in half the CPU (a gigabyte one character at a time took DuckDB 12 s).
_BOMB = ("SELECT * FROM (VALUES ('1', 'B801200005001', 'Example', 'Alexander', '14/03/2015', 'M', 'SW1A 1AA', "
         "'100001', '01/09/2021')) t(AdNo, UPN, Surname, Forename, DOB, Sex, Postcode, SchoolURN, EntryDate) "
         "UNION ALL SELECT '2', 'B801200005002', 'Example', repeat(repeat('A', 1024), {kib}), '14/03/2015', 'M', "
         "'SW1A 1AA', '100001', '01/09/2021'")


@pytest.mark.parametrize("cell", [300 << 20, 1 << 30], ids=["300 MB (the row bound)", "1 GB (the reader's memory)"])
def test_a_parquet_file_whose_cell_unpacks_to_a_gigabyte_is_refused(tmp_path, cell):
    file = tmp_path / "pupils.parquet"
    con = duckdb.connect()
    con.execute(f"COPY ({_BOMB.format(kib=cell >> 10)}) TO '{file}' (FORMAT parquet, COMPRESSION zstd)")
    con.close()
    assert file.stat().st_size < 1 << 20      # tens of kilobytes on disk
    base = _baseline(tmp_path)
    code, peak, said = _ingest(tmp_path / "data", file, "--force")
    assert peak < base + 600, f"the ingest grew {peak - base} MiB over a small file's for one cell"
    assert code == 2 and "Traceback" not in said and "nothing was stored" in said, said
