"""Checking the cells of one reference-file row, gathering every problem."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from linkage.errors import Problem
from linkage.validation import DateError, check_text, normalise_postcode, parse_date

__all__ = ["Cells"]

_PHONE = re.compile(r"^\+?[0-9 ()-]{6,25}$")


class Cells:
    """The named cells of one row; each reader returns a clean value or records why not.

    A problem leaves the row out. A warning is for a cell only shown to people (a
    postcode, a telephone number): the row is kept with that cell empty, and said so.
    """

    def __init__(self, raw: dict[str, str | None], columns: Sequence[str]) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self._raw: dict[str, str | None] = {}
        self._bad: set[str] = set()     # already reported: read as absent, not reported again
        for col in columns:
            value = raw.get(col)
            value = value.strip() if value is not None else None
            if value and (why := check_text(value)):
                self.problem(col, why)
                self._bad.add(col)
                value = None
            self._raw[col] = value or None

    def problem(self, column: str, reason: str) -> None:
        self.problems.append(Problem(column, reason))

    def warning(self, column: str, reason: str) -> None:
        self.warnings.append(Problem(column, f"{reason}; left empty"))

    def text(self, column: str, required: bool = False, limit: int = 500) -> str | None:
        value = self._raw[column]
        if value is None:
            if required and column not in self._bad:
                self.problem(column, "missing")
            return None
        value = " ".join(value.split())
        if len(value) > limit:
            self.problem(column, f"longer than {limit} characters")
        return value

    def date_of(self, column: str) -> date | None:
        value = self._raw[column]
        if value is None:
            return None
        try:
            return parse_date(value)
        except DateError as exc:
            self.problem(column, str(exc))
            return None

    def postcode(self, column: str) -> str | None:
        value = self._raw[column]
        if value is None:
            return None
        norm = normalise_postcode(value)
        if norm is None:
            self.warning(column, f"not a UK postcode: {value[:30]!r}")
        return norm

    def phone(self, column: str) -> str | None:
        value = self._raw[column]
        if value is None:
            return None
        if not _PHONE.match(value):
            self.warning(column, f"not a telephone number: {value[:30]!r}")
            return None
        return " ".join(value.split())
