"""Row readers for CSV, Parquet and database tables: (row number, cells) pairs.

CSV is read by Python so line numbers are exact and undecodable bytes are kept
(as surrogate escapes) for the validator to report, not dropped by a decoder.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb

from linkage.errors import LinkageError

__all__ = ["ConnectorError", "Extract", "file_sha256", "open_extract"]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class ConnectorError(LinkageError):
    """The file as a whole cannot be read; nothing from it was stored."""


class Extract:
    """An opened extract: its header and an iterator over its rows."""

    def __init__(self, columns: list[str], rows: Iterator[tuple[int, dict[str, str | None]]]):
        self.columns = columns
        self.rows = rows


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _csv(path: Path, encoding: str, delimiter: str) -> Extract:
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

    def rows() -> Iterator[tuple[int, dict[str, str | None]]]:
        with fh:
            start = reader.line_num + 1
            for cells in reader:
                line = start
                start = reader.line_num + 1
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    yield line, {"__shape__": f"{len(cells)} cells but {len(header)} columns"}
                    continue
                yield line, {h: (c if c.strip() != "" else None) for h, c in zip(header, cells)}

    return Extract(header, rows())


def _relation(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Extract:
    """Rows of a query; the generator owns the connection and closes it at the end."""
    cur = con.execute(sql, params or [])
    columns = [d[0] for d in cur.description]

    def rows() -> Iterator[tuple[int, dict[str, str | None]]]:
        n = 0
        with con:
            while batch := cur.fetchmany(10_000):
                for values in batch:
                    n += 1
                    yield n, {c: (None if v is None or str(v).strip() == "" else str(v))
                              for c, v in zip(columns, values)}

    return Extract(columns, rows())


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
        raise ConnectorError(f"cannot read {path.name}: {exc}") from None
    return _csv(path, encoding, delimiter)
