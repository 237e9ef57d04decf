"""Row readers for CSV, Parquet and database tables: (row number, cells) pairs.

CSV is read by Python so line numbers are exact and undecodable bytes are kept
(as surrogate escapes) for the validator to report, not dropped by a decoder.
A byte-order mark decides the encoding (UTF-8, UTF-16, UTF-32) over the mapping's, and a
file declared in a one-byte Windows encoding that is wholly valid UTF-8 (with accents) is
read as UTF-8. A file declared UTF-8 that is not, but reads whole as Windows-1252, carries a
``wrong_encoding`` note; a last row cut short carries ``cut_short``: ingest refuses either.
Typed cells from Parquet or DuckDB become text the way an export would write them;
a cell that cannot (a list, a struct, bytes that are not UTF-8) becomes a ``BadCell``
and is reported for that field. A blank row is yielded as ``None`` so it is counted.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from linkage.errors import LinkageError
from linkage.model import SHAPE
from linkage.sqltext import identifier, literal

if TYPE_CHECKING:       # numpy only for a CSV that is ingested (``filescan``), not for every reader
    from linkage.connectors.filescan import Scan

__all__ = ["ONE_BYTE", "BadCell", "ConnectorError", "Extract", "Row", "cell_text", "detect_encoding", "file_sha256",
           "open_extract", "row_cells"]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))     # the row bound below is the one that holds

# No row of any real extract comes near this (a row of a census extract is under 1,000
# characters; free-text notes a few thousand). A quote never closed, or a file that is one
# line, made the csv module gather the rest of the file into one cell, at 4 bytes a character
# and more: a 200 MB file took over a gigabyte before the row was even looked at.
MAX_ROW_CHARACTERS = 1 << 20
# No extract has a thousandth of this many columns (a census extract has under 100). A header of
# 200,000 short names fits in one row's bound, and every column costs work in each step of the
# ingest: such a file is refused before its rows are read.
MAX_COLUMNS = 20_000
# Parquet and DuckDB files are compressed: an 11 KB Parquet file held a 300 MB cell (the ingest
# took a gigabyte). Their rows are bounded by the same length in SQL, before Python fetches them,
# and fetched a few at a time, so a batch is at most this many characters.
_BATCH_CHARACTERS = 1 << 28
_READER_MEMORY = "512MB"
_FIXED_WIDTH = {"boolean", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
                "uinteger", "ubigint", "uhugeint", "float", "double", "decimal", "date", "time", "time_tz",
                "timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns", "timestamp_tz", "interval", "uuid"}


class _BoundedLines:
    """The file's lines for ``csv.reader``, refusing a row longer than ``MAX_ROW_CHARACTERS``.

    A physical line is read at most up to what is left of the row's budget, so neither one
    endless line nor a quoted cell running over endless lines is ever held whole. ``row()``
    starts a new row's budget (the reader reads a row's lines only as it needs them)."""

    def __init__(self, fh, limit: int = MAX_ROW_CHARACTERS) -> None:
        self.fh, self.limit, self.used = fh, limit, 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.fh.readline(self.limit - self.used + 1)
        if not line:
            raise StopIteration
        self.used += len(line)
        if self.used > self.limit:
            raise csv.Error(f"a row longer than {self.limit:,} characters, which no extract has: a quote "
                            "that is never closed, or not a CSV file; nothing was stored")
        return line

    def row(self) -> None:
        self.used = 0

Row = tuple[int, "dict[str, str | None] | None"]

_BOMS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]


class ConnectorError(LinkageError):
    """The file as a whole cannot be read; nothing from it was stored."""


class BadCell(str):
    """A cell that cannot be read as text; its value is the reason, kept in quarantine."""

    @property
    def reason(self) -> str:
        return str(self)


class Extract:
    """An opened extract: its header, an iterator over its rows, and (if known) how many."""

    def __init__(self, columns: list[str], rows: Iterator[Row], total: int | None = None,
                 raw: Iterator[tuple[int, list[str]]] | None = None, tidy: Callable[[], None] = lambda: None):
        self.columns = columns
        self.rows = rows
        self.total = total
        # CSV only: the same rows as the parser gives them, (line, cells), before ``row_cells``;
        # read either ``rows`` or ``raw``, not both (they share the file).
        self.raw = raw
        # Set by the CSV reader: why the file looks saved in another encoding than the mapping's,
        # and (once every row is read) why its last row looks cut off, as by a copy that stopped.
        self.wrong_encoding: str | None = None
        self.cut_short: str | None = None
        # Set by the CSV reader: (path, encoding read with, delimiter) when its header is the
        # file's first line alone, so that another parser may read the rows after it.
        self.csv_file: tuple[Path, str, str] | None = None
        # With ``csv_file``: the file's one read (``filescan.scan``), if the caller made it.
        self.scan: Scan | None = None
        self._tidy = tidy

    def close(self) -> None:
        """Let go of the file and whatever opening it made (a reader's link, its connection),
        whether or not its rows were read: a generator never started never runs its ``finally``."""
        self._tidy()


def file_sha256(path: Path, scanned: Scan | None = None) -> str:
    if scanned is not None:
        return scanned.sha256
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_EXCEL = "open it in Excel and save it as 'CSV UTF-8 (Comma delimited)', then ingest that file"
_UNPACK = "take the CSV out of it (open it and extract the file), then ingest that file"
_NOT_TEXT = [(b"PK\x03\x04", "an Excel workbook (.xlsx) or another Office file", _EXCEL),
             (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls) or another Office file", _EXCEL),
             (b"%PDF", "a PDF document", _EXCEL),
             (b"\x1f\x8b", "a gzip-compressed file", _UNPACK),
             (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", _UNPACK),
             (b"Rar!\x1a\x07", "a RAR archive", _UNPACK),
             (b"PAR1", "a Parquet file", "give it the ending .parquet, and ingest it again")]
_UTF8_WIDE = re.compile("[^\x00-\x7f\udc80-\udcff]")    # a character only valid UTF-8 decodes to
ONE_BYTE = ("cp1252", "windows-1252", "latin-1", "latin1", "iso-8859-1", "iso8859-1", "iso-8859-15", "cp850")


def _utf8_check(path: Path) -> tuple[int | None, bool]:
    """(offset of the first byte that is not UTF-8 or None, whether any non-ASCII byte occurs)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done, wide = 0, False
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return done + exc.start - len(decoder.getstate()[0]), True
            wide = wide or not chunk.isascii()
            done += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return done - len(decoder.getstate()[0]), True
    return None, wide


def detect_encoding(path: Path) -> str:
    """UTF-8 if the whole file is valid UTF-8, else Windows-1252 (as GIAS publishes)."""
    return "cp1252" if _utf8_check(path)[0] is not None else "utf-8"


def _line_of(path: Path, offset: int) -> int:
    with open(path, "rb") as fh:
        return fh.read(offset).count(b"\n") + 1


def _sniff_encoding(path: Path, declared: str, scanned: Scan | None = None) -> tuple[str, str | None]:
    """(the encoding to read with, why the file looks saved in another one than declared, or None).

    A BOM decides; a file of NULs without one, or a workbook or PDF, is refused. ``scanned``:
    the file's one read (``filescan``), whose UTF-8 check is used rather than reading it again.
    """
    if scanned is not None:
        head = scanned.head
    else:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, None
    if head.startswith(b"PK\x03\x04") and not any(m in head for m in (b"[Content_Types]", b"xl/", b"docProps")):
        raise ConnectorError(f"{path.name} is a zip archive, not a CSV file; {_UNPACK}")
    for magic, what, advice in _NOT_TEXT:
        if head.startswith(magic):
            raise ConnectorError(f"{path.name} is {what}, not a CSV file; {advice}")
    name = declared.lower().replace("_", "-")
    if b"\x00" in head and not name.startswith(("utf-16", "utf-32")):
        raise ConnectorError(
            f"{path.name} contains NUL bytes: it looks like UTF-16 without a byte-order mark, or is not a "
            "text file; save it as CSV UTF-8, or set `encoding: utf-16-le` in the mapping")
    if name in ONE_BYTE or name.startswith(("utf-8", "utf8")):
        bad, wide = (scanned.bad_utf8, scanned.wide) if scanned is not None else _utf8_check(path)
        if bad is None and wide and name in ONE_BYTE:
            return "utf-8", None        # re-saved as UTF-8: reading it as declared would garble every accent
        if bad is not None and name.startswith(("utf-8", "utf8")):
            data = path.read_bytes()
            try:
                data.decode("cp1252")
            except UnicodeDecodeError:
                return declared, None   # damaged bytes, not another encoding: those cells are quarantined
            if _UTF8_WIDE.search(data.decode("utf-8", "surrogateescape")):
                return declared, None   # UTF-8 accents beside the bad bytes: a damaged UTF-8 file, as above
            return declared, (f"{path.name} is not UTF-8 (the first byte that is not is on line "
                              f"{_line_of(path, bad)}): it looks saved as Windows-1252, as older Windows "
                              "systems export; set `encoding: cp1252` in the mapping")
    return declared, None


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return n


def _cut_short(path: Path, cells: list[str], width: int) -> str | None:
    """Why the file's last row looks cut off, or None.

    A row short of cells whose file has no final line ending (or that stops inside a quoted
    cell) was cut; so was a last cell holding a line break that no closing quote ends.
    """
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 16))
        tail = fh.read().rstrip(b"\x00")             # UTF-16 and UTF-32 pad ASCII with NULs
    newline = tail[-1:] in (b"\n", b"\r")
    broken = "\n" in cells[-1] or "\r" in cells[-1]
    if broken and tail.rstrip(b"\r\n\x00")[-1:] != b'"':
        return "inside a quoted cell that is never closed"
    if len(cells) < width and not newline:
        return "and no line ending"
    return None


def _csv(path: Path, encoding: str, delimiter: str, used: set[str] | None, scanned: Scan | None = None) -> Extract:
    encoding, wrong_encoding = _sniff_encoding(path, encoding, scanned)
    fh = open(path, encoding=encoding, errors="surrogateescape", newline="")
    first = fh.read(1)
    if first == "":
        fh.close()
        raise ConnectorError(f"{path.name} is empty: there is no header row")
    if first != "\ufeff":
        fh.seek(0)
    lines = _BoundedLines(fh)
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    if len(header) > MAX_COLUMNS:
        fh.close()
        raise ConnectorError(_too_wide(path, len(header)))
    # Each column's places in one pass: counting each name in the header was quadratic, and a 1 MB
    # header of 250,000 names took a quarter of an hour of CPU before any row was read.
    places: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        places.setdefault(h, []).append(i)
    dupes = sorted(h for h, at in places.items() if len(at) > 1)
    clash = [h for h in dupes if used is None or h in used]
    if clash:
        fh.close()
        where = "; ".join(f"{h!r} is columns {', '.join(str(i + 1) for i in places[h])}" for h in clash[:5])
        raise ConnectorError(f"{path.name} has duplicate column names ({where}"
                             f"{f'; and {len(clash) - 5} more' if len(clash) > 5 else ''}): the mapping cannot "
                             "tell which to read; rename one in the file")
    for h in dupes:                     # columns the mapping does not read: kept apart, as "Notes (2)"
        for n, i in enumerate(places[h][1:], 2):
            header[i] = f"{h} ({n})"

    def raw() -> Iterator[tuple[int, list[str]]]:
        last: tuple[int, list[str]] | None = None
        with fh:
            start = reader.line_num + 1
            lines.row()
            for cells in reader:
                lines.row()
                yield start, cells
                # The first cell (a record id) is nearly always filled: a whole-row look only when not.
                if cells and (cells[0].strip() or any(c.strip() for c in cells)):
                    last = (start, cells)
                start = reader.line_num + 1
        if last and (why := _cut_short(path, last[1], len(header))):
            extract.cut_short = (
                f"{path.name} ends part-way through its last row (line {last[0]}: {len(last[1])} of "
                f"{len(header)} cells, {why}): it looks cut short, as by a copy or download that did not "
                "finish; copy the whole file again")

    def rows() -> Iterator[Row]:
        for line, cells in raw():
            yield line, row_cells(header, cells)

    wide = encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32"))
    total = None if wide else max(0, (scanned.lines if scanned is not None else _count_lines(path)) - 1)
    extract = Extract(header, rows(), total, raw=raw(), tidy=fh.close)
    extract.wrong_encoding = wrong_encoding
    if reader.line_num == 1:
        extract.csv_file = (path, encoding, delimiter)
        extract.scan = scanned
    return extract


def row_cells(header: list[str], cells: list[str]) -> dict[str, str | None] | None:
    """A CSV row as its cells by column (blank cells None); None for a blank row. A row of the wrong
    shape says so under ``SHAPE`` and keeps its cells in order (those past the header as ``(extra
    cell N)``): the quarantine shows them as sent, and names the record an amendment corrects."""
    if not cells or all(not c.strip() for c in cells):
        return None
    kept = {h: (c if c.strip() != "" else None) for h, c in zip(header, cells)}
    if len(cells) != len(header):
        extra = {f"(extra cell {n})": (c if c.strip() != "" else None)
                 for n, c in enumerate(cells[len(header):], len(header) + 1)}
        return {SHAPE: f"{len(cells)} cells but {len(header)} columns", **kept, **extra}
    return kept


def cell_text(value: Any) -> str | None:
    """A typed cell as the text an export would hold, or a ``BadCell`` saying why it cannot be."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return BadCell("bytes that are not valid UTF-8")
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None if math.isnan(value) else BadCell(f"not a finite number: {value}")
        text = str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    elif isinstance(value, Decimal):
        text = format(value, "f")
        text = text.rstrip("0").rstrip(".") if "." in text else text
    elif isinstance(value, datetime):
        text = value.date().isoformat()
    elif isinstance(value, (date, time)):
        text = value.isoformat()
    elif isinstance(value, (list, tuple, dict, set)):
        kind = "a struct" if isinstance(value, dict) else "a list"
        return BadCell(f"{kind}, not a single value: {str(value)[:80]}")
    else:
        text = str(value)
    return text if text.strip() != "" else None


def _too_wide(path: Path, width: int) -> str:
    return (f"{path.name} has {width:,} columns; no extract has more than {MAX_COLUMNS:,}: is it the right file? "
            "Nothing was stored")


def _sum(terms: list[str]) -> str:
    """``a + b + ...`` as a balanced tree: a chain of a thousand columns passed DuckDB's expression
    depth limit, so an honest Parquet file of 1,000 text columns could not be read at all."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_sum(terms[:half])} + {_sum(terms[half:])})"


def _bounded(con: duckdb.DuckDBPyConnection, sql: str, params: list, path: Path) -> str:
    """``sql`` refusing (a DuckDB error) any row whose text is longer than ``MAX_ROW_CHARACTERS``."""
    shape = con.sql(f"SELECT * FROM ({sql}) LIMIT 0", params=params)
    if len(shape.columns) > MAX_COLUMNS:
        raise ConnectorError(_too_wide(path, len(shape.columns)))
    lengths = []
    for name, kind in zip(shape.columns, shape.types):
        col = identifier(name)
        if kind.id == "varchar":
            lengths.append(f"coalesce(strlen({col}), 0)")
        elif kind.id in ("blob", "bit"):
            lengths.append(f"coalesce(octet_length({col}), 0)")
        elif kind.id not in _FIXED_WIDTH:          # lists, structs, maps, unions: as text
            lengths.append(f"coalesce(strlen(CAST({col} AS VARCHAR)), 0)")
    if not lengths:
        return sql
    refusal = literal(f"a row longer than {MAX_ROW_CHARACTERS:,} characters, which no extract has; "
                      "nothing was stored")
    return (f"SELECT * FROM ({sql}) WHERE CASE WHEN {_sum(lengths)} > {MAX_ROW_CHARACTERS} "
            f"THEN error({refusal}) ELSE true END")


def _one_file(path: Path) -> tuple[str, Callable[[], None]]:
    """A name for ``path`` that DuckDB's readers take as that one file, and how to tidy up after.

    ``read_parquet`` reads its argument as a glob: an extract an agency named ``*.parquet``,
    ingested where it landed, read every other agency's Parquet file beside it as its own rows.
    A name with a glob character is read through a link of a plain name in a private directory.
    """
    text = path.resolve().as_posix()
    if not any(c in text for c in "*?[]{}"):
        return text, lambda: None
    where = tempfile.mkdtemp(prefix="linkage-read-")
    link = os.path.join(where, "extract" + path.suffix.lower())
    os.symlink(text, link)
    return link, lambda: shutil.rmtree(where, ignore_errors=True)


def _relation(con: duckdb.DuckDBPyConnection, path: Path, sql: str, params: list | None = None,
              done: Callable[[], None] = lambda: None) -> Extract:
    """Rows of a query, none longer than ``MAX_ROW_CHARACTERS`` (a longer one is refused as the
    file is opened, when they are counted); the generator owns the connection and closes it,
    then calls ``done``."""
    sql = _bounded(con, sql, params or [], path)
    total = con.execute(f"SELECT count(*) FROM ({sql})", params or []).fetchone()[0]
    cur = con.execute(sql, params or [])
    columns = [d[0] for d in cur.description]

    def rows() -> Iterator[Row]:
        n = 0
        try:
            with con:
                while batch := cur.fetchmany(_BATCH_CHARACTERS // MAX_ROW_CHARACTERS):
                    for values in batch:
                        n += 1
                        cells = {c: cell_text(v) for c, v in zip(columns, values)}
                        yield n, (cells if any(v is not None for v in cells.values()) else None)
        finally:
            done()

    def tidy() -> None:
        con.close()
        done()

    return Extract(columns, rows(), total, tidy=tidy)


def open_extract(path: Path, encoding: str = "utf-8", delimiter: str = ",",
                 table: str | None = None, used: set[str] | None = None, scanned: Scan | None = None) -> Extract:
    """CSV by default; ``.parquet``; or ``table`` inside a DuckDB database file.

    ``used``: the columns that will be read; a CSV header naming one of them twice is refused
    (any duplicate, if None), and others named twice are told apart as ``Name (2)``.
    ``scanned``: a CSV file's one read (``filescan.scan``), used instead of reading it again.
    """
    path = Path(path)
    if not path.exists():
        raise ConnectorError(f"{path} does not exist")
    if path.is_dir():
        raise ConnectorError(f"{path} is a directory: name the extract file in it")
    if path.stat().st_size == 0:
        raise ConnectorError(f"{path.name} is empty: there is no header row")
    suffix = path.suffix.lower()
    # DuckDB's own share while reading (it decompresses a cell whole to measure it): bounded too.
    con = duckdb.connect(":memory:", config={"memory_limit": _READER_MEMORY})
    try:
        if table is not None or suffix in (".duckdb", ".db"):
            if not table:
                raise ConnectorError("name the table to read with --table")
            con.execute(f"ATTACH {literal(path.as_posix())} AS src (READ_ONLY)")
            # The file is the sender's: a view in it ran with the operator's access (read_text of the
            # keys, another agency's extract, a URL) and its rows came back in the quarantine export.
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            return _relation(con, path, f"SELECT * FROM src.{identifier(table)}")
        if suffix == ".parquet":
            name, tidy = _one_file(path)
            try:
                return _relation(con, path, "SELECT * FROM read_parquet(?)", [name], tidy)
            except BaseException:
                tidy()
                raise
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.PermissionException):
            raise ConnectorError(f"cannot read {path.name}: its table {table!r} reads files or addresses outside "
                                 "the database file (a view over them); ask for the rows as a table") from None
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise ConnectorError(f"cannot read {path.name}: one of its cells, uncompressed, is larger than the "
                                 f"{_READER_MEMORY} a reader may take, which no extract has; nothing was stored") from None
        if suffix == ".parquet" and "magic bytes" in str(exc):
            raise ConnectorError(f"{path.name} is not a whole Parquet file (its end is missing: cut short, as by "
                                 "a copy or download that did not finish, or not Parquet); copy it again") from None
        raise ConnectorError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    con.close()
    try:
        return _csv(path, encoding, delimiter, used, scanned)
    except UnicodeError as exc:
        raise ConnectorError(f"cannot read {path.name} as {encoding}: {exc}") from None
    except csv.Error as exc:
        raise ConnectorError(f"cannot read {path.name} as CSV: {exc}") from None
