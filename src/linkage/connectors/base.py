"""The one small abstract base every connector implements.

A connector turns one row of an agency's extract into a canonical person
record plus its events, or into the full list of problems with that row.
"""

from __future__ import annotations

import typing
from abc import ABC
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from pydantic import ValidationError

from linkage.connectors.mapping import Mapping
from linkage.errors import Problem
from linkage.model import EVENT_TYPES, Event, PersonRecord
from linkage.validation import (
    DateError,
    check_text,
    is_valid_nhs_number,
    is_valid_upn,
    normalise_name,
    normalise_nhs_number,
    normalise_postcode,
    normalise_upn,
    parse_date,
    plausible_birth_date,
)

__all__ = ["Connector", "ParsedRow", "clean_display"]

_NAME_FIELDS = ("forename", "middle_names", "surname", "former_surname",
                "preferred_forename", "preferred_surname")
_MAX_NAME = 100


@dataclass
class ParsedRow:
    record: PersonRecord
    events: list[Event] = field(default_factory=list)


def clean_display(value: str | None) -> str | None:
    """Trimmed, single-spaced, without a leading title; the form shown to people."""
    if value is None:
        return None
    words = value.split()
    while len(words) > 1 and words[0].strip(".").casefold() in {"mr", "mrs", "miss", "ms", "master", "mx", "dr"}:
        words = words[1:]
    return " ".join(words) or None


def _base_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return "literal"
    if args and typing.get_origin(annotation) is not typing.Literal:
        return _base_type(args[0])
    return annotation


class Connector(ABC):
    """Subclasses set ``source`` and may override the hooks below."""

    source: ClassVar[str]
    sex_codes: ClassVar[dict[str, str]] = {
        "m": "M", "male": "M", "1": "M", "f": "F", "female": "F", "2": "F",
        "u": "U", "unknown": "U", "0": "U", "9": "U", "other": "U", "x": "U",
    }

    def split_names(self, cells: dict[str, str | None]) -> dict[str, str | None]:
        """Hook: sources that send all given names in one field split them here."""
        return cells

    # -- row conversion ---------------------------------------------------
    def parse_row(self, raw: dict[str, str | None], mapping: Mapping,
                  extract_date: date) -> ParsedRow | list[Problem]:
        if "__shape__" in raw:
            return [Problem("row", str(raw["__shape__"]))]
        problems: list[Problem] = []
        for column in mapping.all_columns():
            value = raw.get(column)
            if value is not None and (why := check_text(value)):
                problems.append(Problem(column, why))
        if problems:
            return problems

        cells = {canon: raw.get(col) for canon, col in mapping.fields.items()}
        cells = self.split_names(cells)
        person: dict[str, Any] = {"source": self.source, "extract_date": extract_date}
        rid = raw.get(mapping.record_id)
        if rid is None:
            problems.append(Problem(mapping.record_id, "missing record identifier"))
        person["source_record_id"] = (rid or "").strip()

        for name in _NAME_FIELDS:
            value = clean_display(cells.get(name))
            if value is not None and len(value) > _MAX_NAME:
                problems.append(Problem(mapping.fields.get(name, name), f"name longer than {_MAX_NAME}"))
            elif value is not None and normalise_name(value) is None:
                problems.append(Problem(mapping.fields.get(name, name), "no letters in name"))
            person[name] = value
        for required in ("forename", "surname"):
            if person.get(required) is None:
                problems.append(Problem(mapping.fields[required], f"missing {required}"))

        dob = cells.get("date_of_birth")
        if dob is None:
            problems.append(Problem(mapping.fields["date_of_birth"], "missing date of birth"))
        else:
            try:
                born = parse_date(dob)
                if why := plausible_birth_date(born, extract_date):
                    problems.append(Problem(mapping.fields["date_of_birth"], why))
                person["date_of_birth"] = born
            except DateError as exc:
                problems.append(Problem(mapping.fields["date_of_birth"], str(exc)))

        sex = cells.get("sex")
        if sex is not None:
            code = self.sex_codes.get(sex.strip().casefold())
            if code is None:
                problems.append(Problem(mapping.fields["sex"], f"unknown sex code {sex!r}"))
            person["sex"] = code

        pc = cells.get("postcode")
        if pc is not None:
            norm = normalise_postcode(pc)
            if norm is None:
                problems.append(Problem(mapping.fields["postcode"], f"not a UK postcode: {pc!r}"))
            person["postcode"] = norm
        person["address"] = clean_display(cells.get("address"))

        for key in ("upn", "former_upn"):
            if (v := cells.get(key)) is not None:
                if not is_valid_upn(v):
                    problems.append(Problem(mapping.fields[key], f"UPN {v!r} fails the check letter"))
                person[key] = normalise_upn(v)
        if (v := cells.get("nhs_number")) is not None:
            if not is_valid_nhs_number(v):
                problems.append(Problem(mapping.fields["nhs_number"], f"NHS number {v!r} fails modulus 11"))
            person["nhs_number"] = normalise_nhs_number(v)
        if (v := cells.get("la_child_id")) is not None:
            person["la_child_id"] = v.strip()

        events = self._events(raw, mapping, problems)
        if problems:
            return problems
        try:
            return ParsedRow(PersonRecord(**person), events)
        except ValidationError as exc:
            return [Problem(str(e["loc"][0]), e["msg"]) for e in exc.errors()]

    def _events(self, raw: dict[str, str | None], mapping: Mapping,
                problems: list[Problem]) -> list[Event]:
        events: list[Event] = []
        for spec in mapping.events:
            model = EVENT_TYPES[spec.type]
            values = {canon: raw.get(col) for canon, col in spec.fields.items()}
            if all(v is None for v in values.values()):
                continue
            data: dict[str, Any] = dict(spec.const)
            ok = True
            for canon, value in values.items():
                col = spec.fields[canon]
                if value is None:
                    continue
                kind = _base_type(model.model_fields[canon].annotation)
                try:
                    if kind is date:
                        data[canon] = parse_date(value)
                    elif kind is int:
                        data[canon] = int(float(value))
                    elif kind is float:
                        data[canon] = float(value)
                    elif kind == "literal":
                        data[canon] = value.strip().upper()
                    else:
                        data[canon] = value.strip()
                except (DateError, ValueError) as exc:
                    problems.append(Problem(col, f"{canon}: {exc}"))
                    ok = False
            missing = [r for r in model.required if data.get(r) is None]
            if missing:
                problems.append(Problem(spec.type, f"{spec.type} needs {missing}"))
                continue
            if not ok:
                continue
            try:
                events.append(model(**data))
            except ValidationError as exc:
                for e in exc.errors():
                    col = spec.fields.get(str(e["loc"][0]), spec.type)
                    problems.append(Problem(col, e["msg"]))
        return events
