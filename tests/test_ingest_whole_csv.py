"""Arrow's CSV reader reads a whole extract only where it reads exactly what ``csv.reader`` reads.

``columnar._whole`` replaces the Python loop over rows for files whose every row is one line
of the header's width. Files of that kind (quoted commas, doubled quotes, CRLF, no final line
ending, a byte-order mark, ASCII declared cp1252, refused characters, formulas, repeated ids)
must be taken by it and stored exactly as the row-by-row ingest stores them; files of any
other kind (a blank line, a quoted line break, a bare carriage return, a cell too long, a
short row, bytes that are not UTF-8, accents declared cp1252) must be left to Python.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_columnar import MESSY, _ingest, _nhs, _pool, assert_same_both_ways

from linkage.connectors import default_mapping_path, load_mapping
from linkage.connectors.columnar import _whole
from linkage.connectors.readers import open_extract

# What may be in a cell of a file Arrow reads: every messy value that is not a line break, a
# lone surrogate (bytes that are not UTF-8) or longer than a cell may be.
ONE_LINE = [v for v in MESSY if "\n" not in v and "\r" not in v and "\udce9" not in v and len(v) <= 500]
ONE_LINE += ['say "hi"', "a, b", '"', "\u202eevil", "Zoë"]


def _taken(source: str, path: Path) -> bool:
    mapping = load_mapping(default_mapping_path(source))
    extract = open_extract(path, mapping.encoding, mapping.delimiter, None, set(mapping.all_columns()))
    try:
        return _whole(extract) is not None
    finally:
        extract.close()


@st.composite
def one_line_extracts(draw, source: str) -> bytes:
    pools = _pool(source)
    header = list(pools)
    rows = []
    for n in range(draw(st.integers(1, 40))):
        cells = [draw(st.sampled_from(pools[h][:2])) for h in header]
        if draw(st.booleans()):
            for i in draw(st.lists(st.integers(0, len(header) - 1), min_size=1, max_size=4)):
                cells[i] = draw(st.sampled_from(pools[header[i]] + ONE_LINE))
        else:
            cells[0] = f"C{n}"
        rows.append(cells)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")                  # no line ending after the last row
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")


@pytest.mark.parametrize("source", ["education", "social_care", "health"])
def test_one_line_rows_are_read_by_arrow_as_python_reads_them(source, tmp_path_factory):
    runs = iter(range(10_000))

    @settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=one_line_extracts(source))
    def check(data: bytes) -> None:
        where = tmp_path_factory.mktemp(f"{source}{next(runs)}")
        path = where / f"{source}.csv"
        path.write_bytes(data)
        assert _taken(source, path)
        assert_same_both_ways(where, source, path)

    check()


HEADER = "id,nhsNumber,name.given,name.family,birthDate\n"
GOOD = f"P1,{_nhs('733310361')},Ann,Lee,2015-03-01\n"
LAST = f"P3,{_nhs('558453521')},Cy,Lee,2015-03-01\n"


@pytest.mark.parametrize("body, why", [
    (GOOD + "\n" + LAST, "a blank line"),
    (GOOD + ",,,,\n" + LAST, "a row of blank cells: Arrow reads it, and it is still one line"),
    (GOOD + 'P2,,"Bo\nb",Lee,2015-03-01\n' + LAST, "a quoted line break"),
    (GOOD + 'P2,,"Bo\rb",Lee,2015-03-01\n' + LAST, "a carriage return Python ends a line at"),
    (GOOD + f"P2,,{'x' * 501},Lee,2015-03-01\n" + LAST, "a cell longer than a cell may be"),
    (GOOD + "P2,,Bob,Lee\n" + LAST, "a short row"),
    (GOOD + "P2,,Bob,Lee,2015-03-01,extra\n" + LAST, "a long row"),
])
def test_other_files_are_left_to_python(body, why, tmp_path):
    path = tmp_path / "health.csv"
    path.write_text(HEADER + body, encoding="utf-8", newline="")
    assert _taken("health", path) == (why.startswith("a row of blank cells")), why
    old = _ingest(tmp_path / "old", "health", path, columnar=False)
    new = _ingest(tmp_path / "new", "health", path, columnar=True)
    assert new == old, why


def test_bytes_not_utf8_and_accents_in_a_one_byte_file_are_left_to_python(tmp_path):
    path = tmp_path / "health.csv"
    path.write_bytes((HEADER + GOOD).encode() + b"P2,,Zo\xeb,Lee,2015-03-01\n" + LAST.encode())
    assert not _taken("health", path)               # declared UTF-8: a damaged byte
    mapping = load_mapping(default_mapping_path("health"))
    ascii_path = tmp_path / "ascii.csv"
    ascii_path.write_text(HEADER + GOOD + LAST, encoding="ascii")
    for name, file, taken in (("cp1252", path, False), ("cp1252", ascii_path, True)):
        extract = open_extract(file, name, mapping.delimiter, None, set(mapping.all_columns()))
        try:
            assert (_whole(extract) is not None) == taken, (name, file.name)
        finally:
            extract.close()


def test_a_row_with_a_refused_character_keeps_its_line_and_reason(tmp_path):
    path = tmp_path / "health.csv"
    path.write_text(HEADER + GOOD + "P2,,Bo\x01b,Lee,2015-03-01\n" + '"P4",,"Di, Ann",Lee,2015-03-01\n' + LAST,
                    encoding="utf-8")
    assert _taken("health", path)
    old = _ingest(tmp_path / "old", "health", path, columnar=False)
    new = _ingest(tmp_path / "new", "health", path, columnar=True)
    assert new == old
    assert new[0][1:3] == (3, 1)                   # accepted, quarantined
    assert [line for line, _, _ in new[0][5] if line] == [3]     # line 0: the optional columns absent


def test_rows_that_are_not_whole_lines_are_found_a_chunk_at_a_time(tmp_path):
    """The fast reader's pre-check, across chunk edges: a quoted line break, a quote never closed
    (also on the last line), or a line past the row bound sends the file to Python's reader (which
    stops such a row without reading it whole: tests/security/test_huge_rows.py)."""
    from linkage.connectors.filescan import scan

    def whole(text: bytes, limit: int = 100) -> bool:
        path = tmp_path / "x.csv"
        path.write_bytes(text)
        found = scan(path, limit, chunk=7)
        assert (found.data == text) if found.whole_rows else found.data is None
        return found.whole_rows

    assert whole(b'a,b\n1,"x"\n2,"y ""q"""\n3,z')
    assert not whole(b'a,b\n1,"x\ny"\n')
    assert not whole(b'a,b\n1,"x')
    assert not whole(b"a,b\n1," + b"A" * 200 + b"\n2,b\n")
    assert not whole(b"a,b\n1," + b"A" * 200)
