"""Load a reference file into the store: every row checked, the register replaced whole.

The same discipline as ingest: a file that cannot be read at all (missing, wrong
header) is refused in one line; bad rows are reported with their line and reason and
left out. A file that is mostly bad is refused too, so loading the wrong file never
wipes a good register.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from linkage.connectors.readers import ConnectorError, detect_encoding, file_sha256, open_extract
from linkage.errors import Problem
from linkage.model import SHAPE
from linkage.reference.establishments import COLUMNS as GIAS_COLUMNS
from linkage.reference.establishments import Establishment, parse_establishment
from linkage.reference.gp_practices import GpPractice, is_header, parse_gp_practice
from linkage.store import Store
from linkage.store.reference import replace_reference

__all__ = ["KINDS", "LoadResult", "detect_encoding", "load_reference", "read_reference"]

KINDS = ("establishments", "gp_practices")
_SHOWN = 20


@dataclass
class LoadResult:
    kind: str
    file_name: str
    rows_read: int
    accepted: int
    rejected: int
    load_id: int | None = None
    problems: list[tuple[int, str, str]] = field(default_factory=list)   # the first few: line, field, reason
    warnings: list[tuple[int, str, str]] = field(default_factory=list)   # kept rows with a cell left empty
    warned: int = 0
    notes: list[str] = field(default_factory=list)


def _headerless(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding=encoding, errors="surrogateescape", newline="") as fh:
        if fh.read(1) != "\ufeff":
            fh.seek(0)
        reader = csv.reader(fh)
        start = 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if cells and any(c.strip() for c in cells):
                yield line, cells


def _rows(kind: str, path: Path, unknown: set[str]) -> Iterator[tuple[int, Any, list[Problem]]]:
    """(line, Establishment | GpPractice | problems, warnings) for each row of the file."""
    encoding = detect_encoding(path)
    if kind == "establishments":
        extract = open_extract(path, encoding)
        missing = [c for c in GIAS_COLUMNS if c not in extract.columns]
        if missing:
            extract.close()
            raise ConnectorError(f"{path.name} is not a GIAS establishment export: it lacks columns {missing} "
                                 f"(it has {extract.columns[:12]})")
        for line, raw in extract.rows:
            warnings: list[Problem] = []
            if SHAPE in raw:
                yield line, [Problem("row", raw[SHAPE])], warnings
            else:
                yield line, parse_establishment(raw, unknown, warnings), warnings
        if extract.cut_short:
            raise ConnectorError(f"{extract.cut_short}; the establishments already loaded are kept")
    else:
        for line, cells in _headerless(path, encoding):
            if line == 1 and is_header(cells):
                continue
            warnings = []
            yield line, parse_gp_practice(cells, warnings), warnings


def _key(item: Establishment | GpPractice) -> tuple[str, str]:
    return ("URN", item.urn) if isinstance(item, Establishment) else ("Organisation Code", item.ods_code)


def _record(item: Establishment | GpPractice) -> dict[str, Any]:
    rec = asdict(item)
    if isinstance(item, Establishment):
        rec["is_ap"] = item.is_ap
    return rec


def read_reference(kind: str, path: Path) -> tuple[list[Establishment | GpPractice], LoadResult]:
    """Every good row of a reference file and the account of the bad ones; nothing stored."""
    if kind not in KINDS:
        raise ConnectorError(f"unknown reference data {kind!r}; choose from {list(KINDS)}")
    path = Path(path)
    if not path.is_file():
        raise ConnectorError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise ConnectorError(f"{path.name} is empty")
    good: list[Establishment | GpPractice] = []
    seen: dict[str, int] = {}
    result = LoadResult(kind, path.name, 0, 0, 0)
    unknown_types: set[str] = set()
    for line, parsed, warnings in _rows(kind, path, unknown_types):
        result.rows_read += 1
        if not isinstance(parsed, list):
            column, key = _key(parsed)
            if key in seen:
                parsed = [Problem(column, f"duplicate {column} {key}, first at line {seen[key]}")]
            else:
                seen[key] = line
        if isinstance(parsed, list):
            result.rejected += 1
            result.problems.extend((line, p.field, p.reason) for p in parsed[:_SHOWN - len(result.problems)])
            continue
        good.append(parsed)
        if warnings:
            result.warned += 1
            result.warnings.extend((line, w.field, w.reason) for w in warnings[:_SHOWN - len(result.warnings)])
    result.accepted = len(good)
    if unknown_types:
        result.notes.append(f"establishment types linkage does not know, classed as other: "
                            f"{sorted(unknown_types)[:10]}")
    return good, result


def load_reference(store: Store, kind: str, path: Path) -> LoadResult:
    """Check a reference file and, unless it is mostly bad, replace the stored register with it."""
    good, result = read_reference(kind, path)
    if result.accepted == 0 or result.rejected > result.accepted:
        first = result.problems[0] if result.problems else (0, "file", "no rows")
        raise ConnectorError(f"{result.file_name}: {result.rejected} of {result.rows_read} rows are bad, so the "
                             f"{kind.replace('_', ' ')} already loaded are kept (line {first[0]}: {first[1]}: "
                             f"{first[2]})")
    result.load_id = replace_reference(store, kind, [_record(g) for g in good], file_name=result.file_name,
                                       sha256=file_sha256(Path(path)), rows_read=result.rows_read,
                                       rejected=result.rejected)
    return result
