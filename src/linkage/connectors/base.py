"""The one small abstract base every connector implements.

A connector turns one row of an agency's extract into a canonical person record
plus its events, or into the list of problems that reject the row. Only the
fields a record cannot exist without (record id, forename, surname, date of birth)
reject a row; any other bad field (a postcode, a UPN or NHS number failing its
check, a phone number, an event date) is set aside (stored as NULL) and reported
as a warning, so the child is still stored and still linked.
"""

from __future__ import annotations

import functools
import math
import re
import typing
from abc import ABC
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from pydantic import ValidationError

from linkage.connectors.mapping import REQUIRED_FIELDS, Mapping
from linkage.connectors.readers import BadCell
from linkage.errors import Problem
from linkage.model import EVENT_TYPES, SHAPE, Event, PersonRecord
from linkage.validation import (
    DateError,
    check_cell,
    encoding_damage,
    has_letters,
    is_valid_nhs_number,
    is_valid_upn,
    looks_like_formula,
    normalise_nhs_number,
    normalise_phone,
    normalise_postcode,
    normalise_upn,
    parse_date,
    plausible_birth_date,
)
from linkage.validation.identifiers import is_scientific, scientific_digits
from linkage.validation.text import FORMULA_REASON

__all__ = ["Connector", "ParsedRow", "clean_display"]

_NAME_FIELDS = ("forename", "middle_names", "surname", "former_surname",
                "preferred_forename", "preferred_surname")
_MAX_NAME = 100
_BIGINT = 2.0 ** 63          # whole numbers are stored as BIGINT
# Optional person fields, in the order their problems are reported.
_OPTIONAL_FIELDS = ("sex", "postcode", "address", "address_from", "upn", "former_upn", "nhs_number",
                    "la_child_id")


@dataclass
class ParsedRow:
    record: PersonRecord
    events: list[Event] = field(default_factory=list)
    # Fields set aside (stored as NULL): quarantine rows of severity 'warning'.
    warnings: list[Problem] = field(default_factory=list)


def clean_display(value: str | None) -> str | None:
    """Trimmed, single-spaced, without a leading title; the form shown to people."""
    if value is None:
        return None
    words = value.split()
    while len(words) > 1 and words[0].strip(".").casefold() in {"mr", "mrs", "miss", "ms", "master", "mx", "dr"}:
        words = words[1:]
    return " ".join(words) or None


def name_value(p: _Problems, column: str, value: str | None, required: bool) -> str | None:
    """A name as stored, or None with a problem (an error if the name is required)."""
    value = p.text(column, clean_display(value), key=required)
    if value is not None and len(value) > _MAX_NAME:
        p.add(column, f"name longer than {_MAX_NAME}", key=required)
        value = None
    elif value is not None and not has_letters(value):
        p.add(column, "no letters in name", key=required)
        value = None
    elif value is not None and (damaged := encoding_damage(value)) is not None:
        # Kept, with a warning naming the row: the child still links (on the name as written, when
        # it can be known exactly), and the data manager sees which rows to have sent again.
        p.add(column, damaged[1], key=False)
        value = damaged[0] or value
    return value


def birth_date(p: _Problems, column: str, value: str, extract_date: date) -> date | None:
    """The parsed date of birth (with an error if implausible), or None with an error."""
    try:
        born = parse_date(value)
    except DateError as exc:
        p.add(column, str(exc), key=True)
        return None
    if why := plausible_birth_date(born, extract_date):
        p.add(column, why, key=True)
    return born


@functools.lru_cache(maxsize=None)     # asked once per field per row; annotations are few
def _base_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return "literal"
    if args and typing.get_origin(annotation) is not typing.Literal:
        return _base_type(args[0])
    return annotation


class _Problems:
    """A row's problems: errors reject it, warnings set one field aside."""

    def __init__(self, key_columns: set[str]) -> None:
        self.key_columns = key_columns
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, column: str, reason: str, key: bool | None = None) -> None:
        is_key = column in self.key_columns if key is None else key
        (self.errors if is_key else self.warnings).append(Problem(column, reason))

    def text(self, column: str, value: str | None, key: bool | None = None) -> str | None:
        """``value`` as it will be stored, or None (with a problem) if a spreadsheet would run it."""
        if value is not None and looks_like_formula(value):
            self.add(column, FORMULA_REASON, key)
            return None
        return value


class Connector(ABC):
    """Subclasses set ``source`` and may override the hooks below."""

    source: ClassVar[str]
    sex_codes: ClassVar[dict[str, str]] = {
        "m": "M", "male": "M", "1": "M", "f": "F", "female": "F", "2": "F",
        "u": "U", "unknown": "U", "0": "U", "9": "U", "other": "U", "x": "U", "i": "U", "indeterminate": "U",
    }

    def split_names(self, cells: dict[str, str | None]) -> dict[str, str | None]:
        """Hook: sources that send all given names in one field split them here.

        It may read and set ``forename`` and ``middle_names`` only: the columnar ingest calls it
        once per distinct pair with those two cells.
        """
        return cells

    # -- row conversion ---------------------------------------------------
    def parse_row(self, raw: dict[str, str | None], mapping: Mapping,
                  extract_date: date) -> ParsedRow | list[Problem]:
        """A record (with any fields set aside as warnings), or the errors rejecting the row."""
        if SHAPE in raw:
            return [Problem("row", str(raw[SHAPE]))]
        p = _Problems({mapping.record_id, *(mapping.fields[f] for f in REQUIRED_FIELDS)})
        raw = mapping.derive(raw)
        said = set()            # a whole name that cannot be split is said once, not for each part
        for column in mapping.row_columns():
            value = raw.get(column)
            if value is None:
                continue
            why = value.reason if isinstance(value, BadCell) else check_cell(value)
            if why:
                if (mapping.source_of(column), why) not in said:
                    p.add(column, why)
                said.add((mapping.source_of(column), why))
                raw[column] = None

        cells = {canon: raw.get(col) for canon, col in mapping.fields.items()}
        cells = self.split_names(cells)
        col = lambda canon: mapping.fields.get(canon, canon)  # noqa: E731
        # Whether an error about this column's cell in the file has been given already.
        said_of = lambda column: any(mapping.source_of(e.field) == mapping.source_of(column)  # noqa: E731
                                     for e in p.errors)
        person: dict[str, Any] = {"source": self.source, "extract_date": extract_date}
        rid = p.text(mapping.record_id, (raw.get(mapping.record_id) or "").strip() or None, key=True)
        if rid is None and not p.errors:
            p.add(mapping.record_id, "missing record identifier", key=True)
        elif rid is not None and is_scientific(rid):
            p.add(mapping.record_id, f"record id {rid!r} {SHORTENED}: two records could share it", key=True)
        person["source_record_id"] = rid or ""

        for name in _NAME_FIELDS:
            person[name] = name_value(p, col(name), cells.get(name), name in REQUIRED_FIELDS)
        for required in ("forename", "surname"):
            if person.get(required) is None and not said_of(col(required)):
                p.add(col(required), f"missing {required}", key=True)

        dob = cells.get("date_of_birth")
        if dob is None:
            if not said_of(col("date_of_birth")):
                p.add(col("date_of_birth"), "missing date of birth", key=True)
        else:
            person["date_of_birth"] = birth_date(p, col("date_of_birth"), dob, extract_date)
        for canon in _OPTIONAL_FIELDS:
            if (v := cells.get(canon)) is not None or canon == "address":
                value = self.field_value(p, canon, col(canon), v, extract_date)
                if value is not None or canon == "address":
                    person[canon] = value

        events = self._events(raw, mapping, p)
        if p.errors:        # rejected: every problem, so the row is mended in one pass
            return p.errors + p.warnings
        try:
            return ParsedRow(PersonRecord(**person), events, p.warnings)
        except ValidationError as exc:
            return [Problem(str(e["loc"][0]), e["msg"]) for e in exc.errors()]

    def field_value(self, p: _Problems, canon: str, column: str, value: str | None,
                    extract_date: date) -> Any:
        """One optional person field as stored, or None (with a warning when the value is bad).

        ``value`` is never None except for ``address``. The same rule for every row, so the
        columnar ingest asks it once per distinct value.
        """
        if canon == "sex":
            code = self.sex_codes.get(value.strip().casefold())
            if code is None:
                p.add(column, f"unknown sex code {value!r}")
            return code
        if canon == "postcode":
            pc = normalise_postcode(value)
            if pc is None:
                p.add(column, f"not a UK postcode: {value!r}")
            return pc
        if canon == "address":
            return p.text(column, clean_display(value))
        if canon == "address_from":
            try:
                moved = parse_date(value)
            except DateError as exc:
                p.add(column, str(exc))
                return None
            if moved > extract_date:
                p.add(column, "address start date after the extract date")
                return None
            return moved
        if canon in ("upn", "former_upn"):
            if is_valid_upn(value):
                return normalise_upn(value)
            p.add(column, f"UPN {value!r} fails the check letter")
            return None
        if canon == "nhs_number":
            if is_scientific(value):
                if (digits := scientific_digits(value)) is None:
                    p.add(column, f"NHS number {value!r} {SHORTENED}")
                    return None
                value = digits
            if is_valid_nhs_number(number := _numeric_nhs_number(value)):
                return normalise_nhs_number(number)
            p.add(column, f"NHS number {value!r} fails modulus 11")
            return None
        return p.text(column, value.strip())        # la_child_id

    def _events(self, raw: dict[str, str | None], mapping: Mapping, p: _Problems) -> list[Event]:
        """Each event's bad fields are set aside; an event missing a required field is not stored."""
        events: list[Event] = []
        for spec in mapping.events:
            model = EVENT_TYPES[spec.type]
            values = {canon: raw.get(col) for canon, col in spec.fields.items()}
            if all(v is None for v in values.values()):
                continue
            data: dict[str, Any] = dict(spec.const)
            for canon, value in values.items():
                col = spec.fields[canon]
                if value is None:
                    continue
                parsed = _event_value(model, canon, value)
                if isinstance(parsed, Problem):
                    p.add(col, f"{canon}: {parsed.reason}", key=False)
                elif isinstance(parsed, str):
                    data[canon] = p.text(col, parsed, key=False)
                else:
                    data[canon] = parsed
            missing = [r for r in model.required if data.get(r) is None]
            if missing:
                p.add(spec.type, f"{spec.type} needs {missing}; the event is not stored", key=False)
                continue
            try:
                events.append(model(**data))
            except ValidationError as exc:
                for e in exc.errors():
                    col = spec.fields.get(str(e["loc"][0]), spec.type)
                    p.add(col, f"{e['msg']}; the {spec.type} event is not stored", key=False)
        return events


# An identifier a spreadsheet wrote as ``9.43E+09``: what the reason says (and its code matches).
SHORTENED = ("was shortened by a spreadsheet (scientific notation: its last digits are lost); format the "
             "column as text (or a number with no decimal places) before saving")

_NUMERIC = re.compile(r"\d{7,10}(?:\.0+)?")


def _numeric_nhs_number(value: str) -> str:
    """An NHS number a spreadsheet stored as a number, as it was: ``123456789`` and
    ``0123456789.0`` are ``0123456789`` (its leading zero lost, ``.0`` added); the modulus 11
    check still decides whether it is one."""
    text = value.strip()
    return text.split(".")[0].zfill(10) if _NUMERIC.fullmatch(text) else value


def _event_value(model: type[Event], canon: str, value: str) -> Any:
    """One event cell in its field's type, or a Problem saying why it cannot be."""
    kind = _base_type(model.model_fields[canon].annotation)
    try:
        if kind is date:
            return parse_date(value)
        if kind in (int, float):
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"not a finite number: {value!r}")
            if kind is int and not -_BIGINT <= number < _BIGINT:
                raise ValueError(f"out of range for a whole number: {value!r}")
            return int(number) if kind is int else number
        if kind == "literal":
            return value.strip().upper()
        if canon in model.phones:
            return normalise_phone(value) or Problem(canon, f"not a telephone number: {value!r}")
        return value.strip()
    except (DateError, ValueError, OverflowError) as exc:
        return Problem(canon, str(exc))
