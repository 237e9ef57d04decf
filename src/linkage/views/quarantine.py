"""The quarantine as a data manager works it: every problem, its row's raw cells, and
what to send back to the agency.

Rows come from one relation with the same columns whether it is the store's own
tables (the CLI) or the server's in-memory copy made at start-up (the API, which
runs with the store detached). Columns the ingest path may add later
(``severity``, a stored reason ``code``) are used when present.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from linkage.errors import ConfigError, LinkageError, NotFound
from linkage.model import SHAPE, SOURCES
from linkage.store.schema import t

__all__ = ["EXPORT_COLUMNS", "REASON_CODES", "QuarantineFilter", "QuarantineRow", "current_counts",
           "export_rows", "materialise_quarantine", "quarantine_as_of", "quarantine_rows", "reason_code",
           "row_detail"]

MEMORY_TABLE = "memory.serve_quarantine"

# Reason code -> what it means, matched against the reason text in this order.
REASON_CODES: dict[str, tuple[str, str]] = {
    "malformed_row": (r"cells but \d+ columns", "the row has the wrong number of cells"),
    "header_again": (r"the header row again", "the file's header once more as a row (two exports joined)"),
    "bad_encoding": (r"not valid in the file's encoding", "bytes the file's encoding cannot read"),
    "too_long": (r"characters, more than the", "a cell longer than allowed"),
    "control_characters": (r"control characters", "control characters in a cell"),
    "direction_controls": (r"\(direction controls\)", "characters that reverse the text shown after them"),
    "formula": (r"spreadsheet formula", "a cell a spreadsheet would run as a formula"),
    "missing_id": (r"missing record identifier", "no record identifier"),
    "spreadsheet_shortened": (r"shortened by a spreadsheet", "an identifier a spreadsheet wrote in scientific "
                                                              "notation, its last digits lost"),
    "duplicate_id": (r"duplicate record id", "the record identifier repeats an earlier row with other details"),
    "missing_required": (r"^missing (forename|surname|date of birth)", "a required field is empty"),
    "invalid_name": (r"name longer than|no letters in name", "a name that cannot be a name"),
    "name_encoding": (r"read in the wrong encoding|could not write it in its encoding",
                      "a name an encoding damaged before export (mojibake, or a letter lost as ?)"),
    "implausible_birth_date": (r"date of birth .* (in the future|over \d+)", "a birth date out of range"),
    "invalid_date": (r"not a real date|unrecognised date|unknown month name", "a date that cannot be read"),
    "invalid_sex": (r"unknown sex code", "a sex code the mapping does not know"),
    "invalid_postcode": (r"not a UK postcode", "not a UK postcode"),
    "invalid_upn": (r"UPN .* check letter", "a UPN whose check letter is wrong"),
    "invalid_nhs_number": (r"NHS number .* modulus 11", "an NHS number failing its check digit"),
    "incomplete_event": (r" needs \[", "an event without its required fields"),
}
_COMPILED = [(code, re.compile(p, re.IGNORECASE)) for code, (p, _) in REASON_CODES.items()]
_OPTIONAL = ("severity", "code", "source_record_id", "child_id")
EXPORT_COLUMNS = ["source", "file", "line", "record_id", "column", "value", "reason", "reason_code", "severity"]


def reason_code(reason: str) -> str:
    for code, pattern in _COMPILED:
        if pattern.search(reason):
            return code
    return "other"


@dataclass(frozen=True)
class QuarantineFilter:
    source: str | None = None
    reason: str | None = None        # a reason code, or text found in the reason (any case)
    extract: str = "current"         # current | all

    def __post_init__(self) -> None:
        if self.extract not in ("current", "all"):
            raise LinkageError("extract must be 'current' or 'all'")
        if self.source is not None and self.source not in SOURCES:
            raise LinkageError(f"unknown source {self.source!r}; choose from {list(SOURCES)}")


@dataclass
class QuarantineRow:
    ref: str                # "<extract_id>:<line>", what `quarantine show` takes
    extract_id: int
    source: str
    file_name: str
    line_no: int
    column: str             # the agency's own column name where the mapping knows it
    reason: str
    reason_code: str
    severity: str | None
    current: bool
    record_id: str | None = None
    value: str | None = field(default=None, repr=False)
    record_id_column: str | None = field(default=None, repr=False)
    child_id: str | None = field(default=None, repr=False)   # the linked child whose record id the row has


def _optional(con, relation: str) -> list[str]:
    if relation == MEMORY_TABLE:
        db, schema, table = "memory", "main", "serve_quarantine"
    else:
        db, table = relation.split(".")
        schema = "main"
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [db, schema, table]).fetchall()}
    return [c for c in _OPTIONAL if c in cols]


def _source_sql(con) -> str:
    extra = "".join(f", q.{c}" for c in _optional(con, t("quarantine")))
    return (f"SELECT q.extract_id, q.line_no, q.field, q.reason, q.raw, q.file_name, e.source, e.mapping, "
            f"e.extract_date, e.ingested_at, "
            # Current: from an extract still in use, and not since corrected by an amendment.
            f"(e.superseded_by IS NULL AND q.resolved_at IS NULL) AS current{extra} "
            f"FROM {t('quarantine')} q JOIN {t('extracts')} e USING (extract_id)")


def materialise_quarantine(con) -> int:
    """The server's copy, taken at start-up before the store is detached; each row with the
    linked child its record id names (a field set aside of a child's own record, a correction
    sent for it), so whoever sees the row is in that child's subject access report."""
    rows = _source_sql(con)
    if "source_record_id" in _optional(con, t("quarantine")):
        rows = (f"SELECT q.*, i.child_id FROM ({rows}) q LEFT JOIN {t('identity')} i "
                "ON i.record_key = q.source || ':' || q.source_record_id")
    con.execute(f"CREATE OR REPLACE TABLE {MEMORY_TABLE} AS {rows}")
    con.execute(f"CREATE OR REPLACE TABLE {MEMORY_TABLE}_as_of AS SELECT max(ingested_at) AS as_of "
                f"FROM {t('extracts')}")
    return int(con.execute(f"SELECT count(*) FROM {MEMORY_TABLE}").fetchone()[0])


_COLUMNS = ["extract_id", "line_no", "field", "reason", "raw", "file_name", "source", "mapping", "extract_date",
            "ingested_at", "current"]


def _relation(con, memory: bool) -> tuple[str, list[str]]:
    """The relation to read (the server's copy, or the store's tables) and the optional
    columns it has; select ``_select(optional)`` from it."""
    if memory:
        return MEMORY_TABLE, _optional(con, MEMORY_TABLE)
    return f"({_source_sql(con)})", _optional(con, t("quarantine"))


def _select(optional: list[str]) -> str:
    return ", ".join([*_COLUMNS, *optional])


@lru_cache(maxsize=64)
def _mapping_columns(source: str, mapping_name: str) -> tuple[dict[str, str], str | None]:
    """Canonical field -> the agency's column, and the record-id column, from the shipped
    mapping of that name (a custom mapping given at ingest is not kept: then none)."""
    from linkage.connectors.mapping import default_mapping_path, load_mapping

    try:
        path = default_mapping_path(source)
        if Path(mapping_name).name != path.name:
            return {}, None
        m = load_mapping(path)
    except (ConfigError, OSError):
        return {}, None
    columns = dict(m.fields)
    columns["source_record_id"] = m.record_id
    return columns, m.record_id


_SPEC_OUTPUT = re.compile(r"(.+) \[[a-z_]+\]")


def _raw(text: str | None) -> dict:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _row(r: tuple, optional: list[str], with_value: bool) -> QuarantineRow:
    extract_id, line_no, fld, reason, raw_text, file_name, source, mapping, _, _, current, *extra = r
    opt = dict(zip(optional, extra))
    columns, id_column = _mapping_columns(source, mapping)
    raw = _raw(raw_text)
    column = fld if fld in raw or fld not in columns else columns[fld]
    if column not in raw and (spec := _SPEC_OUTPUT.fullmatch(column)) and spec.group(1) in raw:
        column = spec.group(1)          # a mapping spec's output ("Full Name [forename]"): the file's column
    return QuarantineRow(
        ref=f"{extract_id}:{line_no}", extract_id=extract_id, source=source, file_name=file_name, line_no=line_no,
        column=column, reason=reason, reason_code=opt.get("code") or reason_code(reason),
        severity=opt.get("severity"), current=bool(current),
        # The id as ingest read it (a custom mapping's column, or a record id a spec made of two columns).
        record_id=raw.get(id_column) if id_column else opt.get("source_record_id"),
        value=raw.get(column) if with_value else None, record_id_column=id_column, child_id=opt.get("child_id"))


def _matches(row: QuarantineRow, f: QuarantineFilter) -> bool:
    if f.reason is None:
        return True
    want = f.reason.strip().casefold()
    return want == row.reason_code.casefold() or want in row.reason.casefold()


def quarantine_rows(con, f: QuarantineFilter, memory: bool = False, with_value: bool = False,
                    limit: int | None = None, offset: int = 0) -> tuple[int, list[QuarantineRow]]:
    """(total matching, one page of rows), ordered by source, extract and line."""
    relation, optional = _relation(con, memory)
    where, params = [], []
    if f.extract == "current":
        where.append("current")
    if f.source:
        where.append("source = ?")
        params.append(f.source)
    rows = con.execute(f"SELECT {_select(optional)} FROM {relation} "
                       + (f"WHERE {' AND '.join(where)} " if where else "")
                       + "ORDER BY source, extract_id, line_no, field, reason", params).fetchall()
    hits = [row for row in (_row(r, optional, with_value) for r in rows) if _matches(row, f)]
    end = None if limit is None else offset + limit
    return len(hits), hits[offset:end]


def export_rows(rows: list[QuarantineRow]) -> tuple[list[str], list[list]]:
    """Header and rows for the agency: the line, its own column name, the value it sent
    and the reason; the record-id column is headed with the agency's own name for it
    when every row shares one (one source, one mapping)."""
    header = list(EXPORT_COLUMNS)
    id_columns = {r.record_id_column for r in rows}
    if len(id_columns) == 1 and None not in id_columns:
        header[header.index("record_id")] = id_columns.pop()
    body = [[r.source, r.file_name, r.line_no, r.record_id, r.column, r.value, r.reason, r.reason_code,
             r.severity or ""] for r in rows]
    return header, body


def row_detail(con, ref: str, memory: bool = False) -> dict:
    """One quarantined row: where it came from, every problem, and every raw cell."""
    try:
        extract_id, line_no = (int(p) for p in ref.split(":"))
    except ValueError:
        raise LinkageError(f"{ref!r} is not a quarantine reference (EXTRACT:LINE, as `quarantine list` shows)") \
            from None
    relation, optional = _relation(con, memory)
    rows = con.execute(f"SELECT {_select(optional)} FROM {relation} WHERE extract_id = ? AND line_no = ? "
                       "ORDER BY field, reason", [extract_id, line_no]).fetchall()
    if not rows:
        raise NotFound(f"no quarantined row {ref}")
    first = rows[0]
    problems = [_row(r, optional, True) for r in rows]
    raw = _raw(first[4])
    flagged = {p.column for p in problems}
    return {"ref": ref, "source": first[6], "file_name": first[5], "line_no": first[1],
            "extract_date": first[8], "ingested_at": first[9], "current": bool(first[10]),
            "record_id": problems[0].record_id,
            "problems": [{"column": p.column, "reason": p.reason, "reason_code": p.reason_code,
                          "severity": p.severity} for p in problems],
            "cells": [{"column": c, "value": v, "problem": c in flagged} for c, v in raw.items()
                      if c != SHAPE or len(raw) == 1]}        # a row stored before its cells were kept: the shape


def current_counts(con, memory: bool = False) -> dict:
    """Quarantined rows (and problems) of current extracts only; by severity when recorded."""
    relation, optional = _relation(con, memory)
    rows = con.execute(f"SELECT count(DISTINCT (extract_id, line_no)), count(*) FROM {relation} "
                       "WHERE current").fetchone()
    out = {"rows": int(rows[0]), "problems": int(rows[1]), "by_severity": {}}
    if "severity" in optional:
        out["by_severity"] = {str(s): int(n) for s, n in con.execute(
            f"SELECT coalesce(severity, 'unknown'), count(DISTINCT (extract_id, line_no)) FROM {relation} "
            "WHERE current GROUP BY 1 ORDER BY 1").fetchall()}
    return out


def quarantine_as_of(con, memory: bool = False):
    """When the newest extract in the relation was ingested: what an answer reflects."""
    if memory:
        return con.execute(f"SELECT as_of FROM {MEMORY_TABLE}_as_of").fetchone()[0]
    return con.execute(f"SELECT max(ingested_at) FROM {t('extracts')}").fetchone()[0]
