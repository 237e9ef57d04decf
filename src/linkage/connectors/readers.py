"""Row readers for CSV, Parquet and database tables: (row number, cells) pairs.

CSV is read by Python so line numbers are exact and undecodable bytes are kept
(as surrogate escapes) for the validator to report, not dropped by a decoder.
A byte-order mark decides the encoding (UTF-8, UTF-16, UTF-32) over the mapping's.
Typed cells from Parquet or DuckDB become text the way an export would write them;
a cell that cannot (a list, a struct, bytes that are not UTF-8) becomes a ``BadCell``
and is reported for that field. A blank row is yielded as ``None`` so it is counted.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import math
import sys
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from linkage.errors import LinkageError

__all__ = ["BadCell", "ConnectorError", "Extract", "Row", "cell_text", "file_sha256", "open_extract", "row_cells"]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

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
                 raw: Iterator[tuple[int, list[str]]] | None = None):
        self.columns = columns
        self.rows = rows
        self.total = total
        # CSV only: the same rows as the parser gives them, (line, cells), before ``row_cells``;
        # read either ``rows`` or ``raw``, not both (they share the file).
        self.raw = raw


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sniff_encoding(path: Path, declared: str) -> str:
    """The encoding a BOM names, else the mapping's; a file of NULs without a BOM is refused."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head and not declared.lower().replace("_", "-").startswith(("utf-16", "utf-32")):
        raise ConnectorError(
            f"{path.name} contains NUL bytes: it looks like UTF-16 without a byte-order mark, or is not a "
            "text file; save it as CSV UTF-8, or set `encoding: utf-16-le` in the mapping")
    return declared


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return n


def _csv(path: Path, encoding: str, delimiter: str) -> Extract:
    encoding = _sniff_encoding(path, encoding)
    fh = open(path, encoding=encoding, errors="surrogateescape", newline="")
    first = fh.read(1)
    if first == "":
        fh.close()
        raise ConnectorError(f"{path.name} is empty: there is no header row")
    if first != "\ufeff":
        fh.seek(0)
    reader = csv.reader(fh, delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        fh.close()
        raise ConnectorError(f"{path.name} has duplicate column names: {dupes}")

    def raw() -> Iterator[tuple[int, list[str]]]:
        with fh:
            start = reader.line_num + 1
            for cells in reader:
                yield start, cells
                start = reader.line_num + 1

    def rows() -> Iterator[Row]:
        for line, cells in raw():
            yield line, row_cells(header, cells)

    wide = encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32"))
    return Extract(header, rows(), None if wide else max(0, _count_lines(path) - 1), raw=raw())


def row_cells(header: list[str], cells: list[str]) -> dict[str, str | None] | None:
    """A CSV row as its cells by column (blank cells None); None for a blank row; a wrong shape said."""
    if not cells or all(not c.strip() for c in cells):
        return None
    if len(cells) != len(header):
        return {"__shape__": f"{len(cells)} cells but {len(header)} columns"}
    return {h: (c if c.strip() != "" else None) for h, c in zip(header, cells)}


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


def _relation(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Extract:
    """Rows of a query; the generator owns the connection and closes it at the end."""
    total = con.execute(f"SELECT count(*) FROM ({sql})", params or []).fetchone()[0]
    cur = con.execute(sql, params or [])
    columns = [d[0] for d in cur.description]

    def rows() -> Iterator[Row]:
        n = 0
        with con:
            while batch := cur.fetchmany(10_000):
                for values in batch:
                    n += 1
                    cells = {c: cell_text(v) for c, v in zip(columns, values)}
                    yield n, (cells if any(v is not None for v in cells.values()) else None)

    return Extract(columns, rows(), total)


def open_extract(path: Path, encoding: str = "utf-8", delimiter: str = ",",
                 table: str | None = None) -> Extract:
    """CSV by default; ``.parquet``; or ``table`` inside a DuckDB database file."""
    path = Path(path)
    if not path.exists():
        raise ConnectorError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise ConnectorError(f"{path.name} is empty: there is no header row")
    suffix = path.suffix.lower()
    con = duckdb.connect(":memory:")
    try:
        if table is not None or suffix in (".duckdb", ".db"):
            if not table:
                raise ConnectorError("name the table to read with --table")
            con.execute(f"ATTACH '{path.as_posix()}' AS src (READ_ONLY)")
            return _relation(con, f'SELECT * FROM src."{table.replace(chr(34), "")}"')
        if suffix == ".parquet":
            return _relation(con, "SELECT * FROM read_parquet(?)", [path.as_posix()])
    except duckdb.Error as exc:
        raise ConnectorError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    con.close()
    try:
        return _csv(path, encoding, delimiter)
    except UnicodeError as exc:
        raise ConnectorError(f"cannot read {path.name} as {encoding}: {exc}") from None
    except csv.Error as exc:
        raise ConnectorError(f"cannot read {path.name} as CSV: {exc}") from None
