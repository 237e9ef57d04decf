"""Columnar ingest of a CSV extract: each distinct value is validated once, not each row.

A row whose every cell passes (the very rules ``Connector.parse_row`` applies, asked once
per distinct value of a column) is assembled column by column into Arrow tables. Any row
with a problem of any kind (a bad or set-aside field, the wrong number of cells, a
character a cell may not hold, a record id given twice, a blank row) goes through
``parse_row`` one by one, in file order, so what it reports, quarantines and stores is
exactly what the row-by-row ingest did. Clean rows produce no quarantine rows, so the two
halves never need each other's results.
"""

from __future__ import annotations

import csv
import functools
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import TypeAdapter, ValidationError

from linkage.connectors.base import (
    _NAME_FIELDS,
    _OPTIONAL_FIELDS,
    Connector,
    _event_value,
    _Problems,
    birth_date,
    name_value,
)
from linkage.connectors.dateorder import DateOrder
from linkage.connectors.filescan import scan
from linkage.connectors.mapping import REQUIRED_FIELDS, Mapping
from linkage.connectors.readers import MAX_ROW_CHARACTERS, ONE_BYTE, BadCell, row_cells
from linkage.errors import Problem
from linkage.model import EVENT_TYPES, PersonRecord
from linkage.store.schema import STD_NAME_FIELDS, columns_of
from linkage.validation import looks_like_formula, normalise_name
from linkage.validation.columns import (
    plain_addresses,
    plain_names,
    plain_record_ids,
    plain_valid_nhs_numbers,
    plain_valid_postcodes,
    plain_valid_upns,
)
from linkage.validation.identifiers import is_scientific
from linkage.validation.text import MAX_FIELD_LENGTH, REFUSED_CHARACTER

__all__ = ["Columnar", "read_columnar"]

# Optional fields whose commonest valid values Arrow recognises (``Connector.field_value``'s rules).
_PLAIN = {"address": plain_addresses, "postcode": plain_valid_postcodes, "upn": plain_valid_upns,
          "former_upn": plain_valid_upns, "nhs_number": plain_valid_nhs_numbers}
_BAD = object()             # a value that would raise a problem: its row goes through parse_row
_ARROW = {"VARCHAR": pa.string(), "DATE": pa.date32(), "BIGINT": pa.int64(), "DOUBLE": pa.float64()}


@dataclass
class Columnar:
    """Clean rows as Arrow tables (no ``extract_id`` yet), and the rows ``parse_row`` must see."""

    records: pa.Table | None
    events: dict[str, list[pa.Table]] = field(default_factory=dict)
    slow: list[tuple[int, dict[str, str | None] | None]] = field(default_factory=list)
    rows_read: int = 0


def _checked(rule: Callable[[_Problems, str], Any]) -> Callable[[str | None], Any]:
    """``rule`` on one non-blank value: its result, or ``_BAD`` if it reported any problem."""
    def run(value: str | None) -> Any:
        if value is None:
            return None
        p = _Problems(set())
        out = rule(p, value)
        return _BAD if (p.errors or p.warnings) else out
    return run


def _blank(value: str | None) -> str | None:
    return value if value is not None and value.strip() != "" else None


class _Column:
    """A rule's results for every row, worked out once per distinct value (Arrow does the rest)."""

    def __init__(self, rule: Callable[[Any], Any], column: pa.Array, sql_type: str = "VARCHAR",
                 blank: bool = True, plain: Callable[[pa.Array], pa.Array] | None = None) -> None:
        """``plain(values)``: True where a value is certainly clean and is what ``rule`` would
        return (``validation.columns``); ``rule`` is asked only about the others."""
        coded = column.dictionary_encode()
        # A null cell (a name the connector's split_names left empty) is not in the dictionary:
        # the rule must still judge it, or a missing required name would pass as clean.
        none = rule(None) if column.null_count else None
        if plain is not None and _ARROW.get(sql_type) == coded.dictionary.type == pa.string():
            bad, values = self._asked(rule, coded.dictionary, plain(coded.dictionary), blank)
        else:
            distinct = coded.dictionary.to_pylist()
            sure = plain(coded.dictionary).to_pylist() if plain is not None else itertools.repeat(False)
            results = [v if known else rule(_blank(v) if blank else v) for v, known in zip(distinct, sure)]
            bad = pa.array([r is _BAD for r in results], pa.bool_())
            values = _arrow([None if r is _BAD else r for r in results], sql_type)
        self.bad = bad.take(coded.indices).fill_null(none is _BAD)
        values = values.take(coded.indices)
        if none is not None and none is not _BAD:
            values = values.fill_null(_arrow([none], sql_type)[0])
        self.values = values

    @staticmethod
    def _asked(rule: Callable[[Any], Any], distinct: pa.Array, sure: pa.Array, blank: bool) -> tuple[pa.Array, pa.Array]:
        """Each distinct text value's verdict and value, ``rule`` asked only of those ``sure`` leaves
        open: a value certainly clean is its own result, kept in Arrow (a million distinct record
        ids or addresses each taken through Python and back cost most of their column's time)."""
        open_ = pc.invert(pc.fill_null(sure, False))
        at = np.flatnonzero(open_.to_numpy(zero_copy_only=False))
        results = [rule(_blank(v) if blank else v) for v in distinct.take(at).to_pylist()]
        bad = np.zeros(len(distinct), dtype=bool)
        bad[at] = [r is _BAD for r in results]
        if not len(at):
            return pa.array(bad, pa.bool_()), distinct
        asked = _arrow([None if r is _BAD else r for r in results], "VARCHAR")
        return pa.array(bad, pa.bool_()), pc.replace_with_mask(distinct, open_, asked)


def _empty(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _record_id(value: str | None) -> Any:
    rid = (value or "").strip()
    return rid if rid and not looks_like_formula(rid) and not is_scientific(rid) else _BAD


def _required(rule: Callable[[str | None], Any]) -> Callable[[str | None], Any]:
    return lambda v: _BAD if v is None else rule(v)


def _event_rule(model: type, canon: str) -> Callable[[str | None], Any]:
    """One event cell as parse_row stores it, or ``_BAD`` (a problem, or a field pydantic refuses)."""
    adapter = TypeAdapter(model.model_fields[canon].annotation)

    def run(value: str | None) -> Any:
        if value is None:
            return None
        parsed = _event_value(model, canon, value)
        if isinstance(parsed, Problem) or (isinstance(parsed, str) and looks_like_formula(parsed)):
            return _BAD
        try:
            return adapter.validate_python(parsed)
        except ValidationError:
            return _BAD
    return run


def _take(rows: Iterator[tuple[int, list[str]]], width: int, progress, total: int | None,
          ) -> tuple[list[int], list[list[str]], list[tuple[int, list[str]]], int]:
    """Split the file: rows that may be clean (right width, every character allowed) and the rest."""
    lines: list[int] = []
    maybe: list[list[str]] = []
    other: list[tuple[int, list[str]]] = []
    n = 0
    try:
        for line, cells in rows:
            n += 1
            if progress and n % 5000 == 0:
                progress(n, total)
            joined = "".join(cells)     # no cell is longer than the row: one length check clears most
            if (len(cells) != width or REFUSED_CHARACTER.search(joined)
                    or (len(joined) > MAX_FIELD_LENGTH and max(map(len, cells)) > MAX_FIELD_LENGTH)):
                other.append((line, cells))
            else:
                lines.append(line)
                maybe.append(cells)
    except (UnicodeError, csv.Error) as exc:
        exc.rows_read = n           # the caller names the row it could not read
        raise
    return lines, maybe, other, n


@functools.cache
def _refused_utf8() -> tuple[bytes, tuple[bytes, ...]]:
    """Every character ``REFUSED_CHARACTER`` finds, as UTF-8: (the one-byte ones, the others).
    Valid UTF-8 holds a character exactly where it holds its bytes, so a search of the file's
    bytes for these says whether a cell holds one without decoding it (seconds at a million rows)."""
    points = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)]).astype("<u4")
    every = points.tobytes().decode("utf-32-le")        # every character, at C speed
    found = {m.group().encode() for m in REFUSED_CHARACTER.finditer(every)}
    return b"".join(sorted(c for c in found if len(c) == 1)), tuple(sorted(c for c in found if len(c) > 1))


def _holds_refused(data: bytes) -> bool:
    """Whether UTF-8 ``data`` holds any character ``REFUSED_CHARACTER`` finds."""
    single, wide = _refused_utf8()
    if data.translate(None, bytes(b for b in range(256) if b not in single)):
        return True
    raw = np.frombuffer(data, np.uint8)
    for lead in {c[0] for c in wide}:
        if data.find(bytes([lead])) < 0:
            continue
        at = np.flatnonzero(raw == lead)        # a handful of places: each sequence compared there
        for c in (c for c in wide if c[0] == lead):
            here = at[at + len(c) <= len(raw)]
            if np.logical_and.reduce([raw[here + i] == b for i, b in enumerate(c)]).any():
                return True
    return False


def _whole(extract) -> tuple[list[int], dict[str, pa.Array], list[tuple[int, list[str]]], int] | None:
    """``_take`` and ``_columns`` at once, by Arrow's CSV reader (C++, on every core) where it
    reads the very cells ``csv.reader`` would, on the very lines; None where that is not sure.

    Sure means: the file is UTF-8 (or ASCII, read in a one-byte encoding), every row is one line
    of the header's width (rows == lines: no blank line, no quoted line break, no bare carriage
    return, which Python's reader ends a line at), and no cell is longer than a cell may be (a
    row past ``MAX_ROW_CHARACTERS`` must stop the file as ``csv.reader`` stops it). A row with a
    character a cell may not hold is set apart, as ``_take`` sets it apart.
    """
    if extract.csv_file is None or extract.wrong_encoding:
        return None
    path, encoding, delimiter = extract.csv_file
    name = encoding.lower().replace("_", "-")
    scanned = extract.scan or scan(path, MAX_ROW_CHARACTERS)      # the file's one read, made by the ingest
    extract.scan = None
    data = scanned.take()
    if data is None:
        return None         # a row that never ends is not read whole: csv.reader stops it
    if not (name in ("utf-8", "utf8", "utf-8-sig") or (name in ONE_BYTE and not scanned.wide)):
        return None
    if scanned.bare_cr:
        return None
    physical = scanned.lines + (not data.endswith(b"\n"))
    header = extract.columns
    width = len(header)
    names = [f"c{i}" for i in range(width)]
    try:
        # No invalid_row_handler: a row of another width is Python's to read anyway, and Arrow
        # decodes the row for a handler, printing a traceback when it is cut inside a character.
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None         # not UTF-8 after all, a row of another width, or a shape Arrow refuses: Python reads it
    n = table.num_rows
    if n == 0 or n != physical - 1:
        return None
    cells = [table.column(i).combine_chunks() for i in range(width)]
    if any(pc.max(pc.binary_length(c)).as_py() > MAX_FIELD_LENGTH
           and pc.max(pc.utf8_length(c)).as_py() > MAX_FIELD_LENGTH for c in cells):
        return None
    refused = np.zeros(n, dtype=bool)
    if _holds_refused(data):
        for c in cells:     # which rows: each distinct value asked once, with the very pattern
            coded = c.dictionary_encode()
            hit = pa.array([bool(REFUSED_CHARACTER.search(v)) for v in coded.dictionary.to_pylist()], pa.bool_())
            refused |= hit.take(coded.indices).to_numpy(zero_copy_only=False)
    del data
    line_of = np.arange(2, n + 2, dtype=np.int64)          # the header is line 1, each row one line on
    other = [(int(line_of[i]), [c[int(i)].as_py() for c in cells]) for i in np.flatnonzero(refused)]
    keep = pa.array(~refused)
    columns = {h: c.filter(keep) if other else c for h, c in zip(header, cells)}
    return line_of[~refused].tolist(), columns, other, n


def read_columnar(extract, connector: Connector, mapping: Mapping, extract_date: date,
                  progress: Callable[[int, int | None], None] | None = None,
                  order: DateOrder | None = None) -> Columnar:
    """Read a CSV ``Extract`` (its ``raw`` rows): clean rows columnar, the rest for ``parse_row``."""
    header = extract.columns
    whole = _whole(extract)
    if whole is not None:
        lines, columns, other, rows_read = whole
        if progress:
            progress(rows_read, extract.total)
    else:
        lines, maybe, other, rows_read = _take(extract.raw, len(header), progress, extract.total)
        columns = _columns(header, maybe)
        del maybe
    n = len(lines)
    # Every row of the right width counts towards a repeated id: the clean rows' in Arrow, the few
    # read apart (``other``) in Python.
    if mapping.record_id in header:
        rid_at = header.index(mapping.record_id)
        once = _once(_stripped(columns[mapping.record_id]) if n else pa.array([], pa.string()),
                     Counter(c[rid_at].strip() for _, c in other if len(c) == len(header)))
    for column in (order.seen if order is not None else ()):
        if column in columns:
            order.see_column(column, columns[column], lines)
    view, underived = _derive(mapping, columns, n)
    if mapping.record_id not in header:     # a record id a spec makes (two columns joined): as parse_row reads it
        rid_of = lambda cells: (mapping.derive(dict(zip(header, cells))).get(mapping.record_id) or "").strip()  # noqa: E731
        once = _once(_stripped(pc.fill_null(view[mapping.record_id], "")) if n else pa.array([], pa.string()),
                     Counter(rid_of(c) for _, c in other if len(c) == len(header)))
    ok = pc.and_(once, pc.invert(underived))

    def raw(column: str | None) -> pa.Array:
        return view[column] if column in view else _empty(n)

    def keep(c: _Column) -> pa.Array:
        nonlocal ok
        ok = pc.and_(ok, pc.invert(c.bad))
        return c.values

    person: dict[str, pa.Array] = {"source_record_id": keep(_Column(_record_id, raw(mapping.record_id),
                                                                    plain=plain_record_ids))}
    cells = {canon: raw(column) for canon, column in mapping.fields.items()}
    if type(connector).split_names is not Connector.split_names:
        cells.update(_split(connector, cells.get("forename", _empty(n)), cells.get("middle_names")))
    for name in _NAME_FIELDS:
        required = name in REQUIRED_FIELDS
        rule = _checked(lambda p, v, required=required: name_value(p, "", v, required))
        person[name] = keep(_Column(_required(rule) if required else rule, cells.get(name, _empty(n)),
                                    plain=plain_names))
    person["date_of_birth"] = keep(_Column(
        _required(_checked(lambda p, v: birth_date(p, "", v, extract_date))),
        cells.get("date_of_birth", _empty(n)), "DATE"))
    types = dict(columns_of(PersonRecord))
    for canon in _OPTIONAL_FIELDS:
        rule = _checked(lambda p, v, canon=canon: connector.field_value(p, canon, "", v, extract_date))
        plain = _PLAIN.get(canon) if type(connector).field_value is Connector.field_value else None
        person[canon] = keep(_Column(rule, cells.get(canon, _empty(n)), types[canon], plain=plain))
    del cells

    specs = []
    for spec in mapping.events:
        model = EVENT_TYPES[spec.type]
        sql_types = dict(columns_of(model))
        values = {canon: _Column(_event_rule(model, canon), raw(column), sql_types[canon])
                  for canon, column in spec.fields.items()}
        const = {k: TypeAdapter(model.model_fields[k].annotation).validate_python(v) for k, v in spec.const.items()}
        present = pa.array([False] * n, pa.bool_())
        for c in values.values():
            present = pc.or_(present, pc.or_(c.bad, pc.is_valid(c.values)))
            ok = pc.and_(ok, pc.invert(c.bad))
        needed = set(model.required) | {k for k, f in model.model_fields.items() if f.is_required()}
        for r in needed - set(const):
            missing = present if r not in values else pc.and_(present, pc.is_null(values[r].values))
            ok = pc.and_(ok, pc.invert(missing))
        specs.append((model, {k: c.values for k, c in values.items()}, const, present))

    if n:
        again = pa.table(columns).filter(pc.invert(ok)).to_pylist()
        not_ok = pc.indices_nonzero(pc.invert(ok)).to_pylist()
    else:
        again, not_ok = [], []
    slow = [(line, row_cells(header, cells)) for line, cells in other]
    slow += [(lines[i], row_cells(header, [row[h] for h in header])) for i, row in zip(not_ok, again)]
    slow.sort(key=lambda r: r[0])
    line_no = pa.array(lines, pa.int64())
    return Columnar(_records(connector.source, extract_date, person, line_no, ok),
                    _events(person["source_record_id"], specs, ok, connector.source), slow, rows_read)


def _columns(header: list[str], rows: list[list[str]]) -> dict[str, pa.Array]:
    """Rows of cells as one Arrow array per column: every cell into one array, then each
    column taken from it by stride (Arrow's loops, not a transposition in Python)."""
    if not rows:
        return {}
    cells = pa.array(itertools.chain.from_iterable(rows), pa.string(), size=len(rows) * len(header))
    width = len(header)
    return {h: cells.take(np.arange(i, len(cells), width, dtype=np.int64)) for i, h in enumerate(header)}


def _derive(mapping: Mapping, columns: dict[str, pa.Array], n: int) -> tuple[dict[str, pa.Array], pa.Array]:
    """``Mapping.derive`` a column at a time: the columns the mapping reads with its "no value" words
    blanked, each spec's output column, and where a spec could not read its cell (``parse_row`` says why)."""
    view = dict(columns)
    # One anchored RE2 pass a column (lowering and trimming every cell cost seconds at a million rows),
    # with the very pattern ``Mapping.is_missing`` uses.
    pattern = mapping.missing_pattern
    for column in mapping.all_columns():
        if column in columns and pattern:
            hit = pc.fill_null(pc.match_substring_regex(columns[column], pattern, ignore_case=True), False)
            if pc.any(hit).as_py():
                view[column] = pc.if_else(hit, pa.scalar(None, pa.string()), columns[column])
    bad = pa.array([False] * n, pa.bool_())
    for name, (spec, rule) in mapping.derived.items():
        if spec.columns is not None:
            present = [view[c] for c in spec.columns if c in view]
            if present:
                view[name] = _joined(present, spec, mapping)
            continue
        if spec.column not in view:
            continue
        made = _Column(lambda v, rule=rule: None if v is None else _BAD if isinstance(
            out := mapping.read(rule, v), BadCell) else out, view[spec.column])
        view[name] = made.values
        bad = pc.or_(bad, made.bad)
    return view, bad


def _joined(columns: list[pa.Array], spec, mapping: Mapping) -> pa.Array:
    """``join_cells`` a column at a time: each row's non-blank cells, trimmed, joined (null if none),
    read as ``Mapping.read`` does (the joined value may itself be a "no value" word)."""
    null = pa.scalar(None, pa.string())
    parts = [pc.utf8_trim_whitespace(c) for c in columns]
    parts = [pc.if_else(pc.equal(c, ""), null, c) for c in parts]
    # Arrow's join drops a row whose every part is null (pyarrow 26): a leading NUL part (cells never
    # hold NUL, ``check_cell`` refuses it) keeps every row, and is cut off again.
    lead = pa.array(["\x00"] * len(columns[0]), pa.string())
    out = pc.binary_join_element_wise(lead, *parts, spec.join, null_handling="skip")
    out = pc.if_else(pc.equal(out, "\x00"), null, pc.utf8_slice_codeunits(out, 1 + len(spec.join)))
    if mapping.missing_pattern:
        hit = pc.fill_null(pc.match_substring_regex(out, mapping.missing_pattern, ignore_case=True), False)
        out = pc.if_else(hit, null, out)
    return out


# What ``str.strip()`` removes (``str.isspace``), as RE2 escapes: RE2's ``\s`` is ASCII's only.
_SPACE = "".join(f"\\x{{{c:x}}}" for c in (*range(0x9, 0xE), *range(0x1C, 0x21), 0x85, 0xA0, 0x1680,
                                          *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000))
_PADDED = f"^[{_SPACE}]|[{_SPACE}]$"


def _stripped(values: pa.Array) -> pa.Array:
    """``str.strip()`` of every cell, asked in Python only of the few cells with a space at an end
    (every id of a million rows through Python cost a second of the read)."""
    if values.null_count:       # never from the CSV reader; Python's strip refuses None as before
        return pa.array([v.strip() for v in values.to_pylist()], pa.string())
    padded = pc.match_substring_regex(values, _PADDED)
    if not pc.any(padded).as_py():
        return values
    fixed = pa.array([v.strip() for v in values.filter(padded).to_pylist()], values.type)
    return pc.replace_with_mask(values, padded, fixed)


def _once(ids: pa.Array, apart: Counter) -> pa.Array:
    """Whether each of ``ids`` is no other row's: held once among them and not among ``apart``
    (the ids of the rows read apart, counted)."""
    coded = ids.dictionary_encode()
    at = coded.indices.to_numpy(zero_copy_only=False)
    once = np.bincount(at, minlength=len(coded.dictionary))[at] == 1
    if apart:
        once &= ~pc.is_in(ids, value_set=pa.array(list(apart), ids.type)).to_numpy(zero_copy_only=False)
    return pa.array(once, pa.bool_())


def _split(connector: Connector, given: pa.Array, middle: pa.Array | None) -> dict[str, pa.Array]:
    """The connector's ``split_names`` on each distinct (forename, middle names) pair."""
    if middle is None:
        pairs, rule = given, lambda v: connector.split_names({"forename": _blank(v), "middle_names": None})
    else:       # cells never hold NUL (check_cell refuses it): a safe separator
        pairs = pc.binary_join_element_wise(given, middle, "\x00")
        rule = lambda v: connector.split_names(  # noqa: E731
            dict(zip(("forename", "middle_names"), map(_blank, v.split("\x00")))))
    split = functools.lru_cache(maxsize=None)(rule)     # both columns ask about each distinct value
    return {name: _Column(lambda v, name=name: split(v).get(name), pairs, blank=False).values
            for name in ("forename", "middle_names")}


def _arrow(values: list, sql_type: str) -> pa.Array:
    return pa.array(values, type=_ARROW.get(sql_type.split()[0], pa.string()))


def _records(source: str, extract_date: date, person: dict[str, pa.Array], line_no: pa.Array,
             ok: pa.Array) -> pa.Table | None:
    rid = person["source_record_id"].filter(ok)
    n = len(rid)
    if n == 0:
        return None
    data = {"record_key": pc.binary_join_element_wise(source, rid, ":"), "line_no": line_no.filter(ok)}
    for name, sql_type in columns_of(PersonRecord):
        if name == "source":
            data[name] = _arrow([source] * n, sql_type)
        elif name == "extract_date":
            data[name] = _arrow([extract_date] * n, sql_type)
        else:
            data[name] = person[name].filter(ok)
    for name in STD_NAME_FIELDS:
        data[f"{name}_std"] = _Column(normalise_name, data[name], blank=False).values
    return pa.table(data)


def _events(ids: pa.Array, specs: list, ok: pa.Array, source: str) -> dict[str, list[pa.Table]]:
    """Each clean row's events, one Arrow table per event mapping, by table name."""
    tables: dict[str, list[pa.Table]] = {}
    for model, values, const, present in specs:
        rows = pc.and_(ok, present)
        keys = ids.filter(rows)
        n = len(keys)
        if n == 0:
            continue
        data = {"record_key": pc.binary_join_element_wise(source, keys, ":")}
        for name, sql_type in columns_of(model):
            info = model.model_fields[name]
            fill = const.get(name, None if info.is_required() else info.default)
            if name in values:
                column = values[name].filter(rows)
                data[name] = column if fill is None else column.fill_null(_arrow([fill], sql_type)[0])
            else:
                data[name] = _arrow([fill] * n, sql_type)
        tables.setdefault(model.table, []).append(pa.table(data))
    return tables
