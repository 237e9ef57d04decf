"""Dates in the formats English agency extracts really use."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from linkage.errors import LinkageError

__all__ = ["DateError", "excel_day", "parse_date", "plausible_birth_date", "age_on"]

# Excel's day 0 (its 1900 leap-year bug is before any child's birth).
_EXCEL_EPOCH = date(1899, 12, 30)


def excel_day(number: str) -> date:
    """The date Excel writes as this day number (``42064`` is 2015-03-01)."""
    return _EXCEL_EPOCH + timedelta(days=int(float(number)))


_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}

# Ordered: ISO first (census XML, FHIR), then UK day-first forms (MIS and case-management
# exports, spreadsheets). US month-first dates are never guessed.
_PATTERNS = [
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$"), "ymd"),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), "ymd"),
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?: [0-9:.]+)?$"), "ymd"),
    (re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?: [0-9:.]+)?$"), "dmy"),
    (re.compile(r"^(\d{1,2})[ -]([A-Za-z]{3,9})[ -](\d{4})$"), "dMy"),
]


class DateError(LinkageError, ValueError):
    pass


def parse_date(value: str) -> date:
    text = value.strip()
    for pattern, order in _PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        a, b, c = m.groups()
        if order == "ymd":
            y, mo, d = int(a), int(b), int(c)
        elif order == "dmy":
            d, mo, y = int(a), int(b), int(c)
        else:
            month = _MONTHS.get(b[:3].lower())
            if month is None:
                raise DateError(f"unknown month name {b!r}")
            d, mo, y = int(a), month, int(c)
        try:
            return date(y, mo, d)
        except ValueError as exc:
            hint = ""
            if order == "dmy" and mo > 12 and d <= 12:      # 03/14/2015: written month first
                hint = "; month first? a mapping can state it: {column: ..., format: \"%m/%d/%Y\"}"
            raise DateError(f"not a real date: {value!r} ({exc}){hint}") from None
    hint = ""
    if re.fullmatch(r"\d{1,2}([/.-])\d{1,2}\1\d{2}(?: [0-9:.]+)?", text):   # 01/03/15: a two-digit year
        hint = " (a two-digit year, never guessed: a mapping can state it: {column: ..., format: \"%d/%m/%y\"})"
    elif m := re.fullmatch(r"\d{1,2}([ -])[A-Za-z]{3}\1\d{2}", text):   # 1-Mar-15: Excel's d-mmm-yy
        sep = m.group(1)
        hint = (" (a two-digit year, never guessed: a mapping can state it: "
                f"{{column: ..., format: \"%d{sep}%b{sep}%y\"}})")
    elif re.fullmatch(r"\d{5}(\.0+)?", text):   # Excel's day number, as a CSV saved from an unformatted cell holds
        hint = (f" ({text} looks like an Excel date number, {excel_day(text).isoformat()}: "
                "format the column as a date in Excel before saving, or state {column: ..., format: excel} "
                "in the mapping)")
    raise DateError(
        f"unrecognised date {value!r}; use YYYY-MM-DD, DD/MM/YYYY, YYYYMMDD or DD-Mon-YYYY{hint}"
    )


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def plausible_birth_date(born: date, on: date | None = None) -> str | None:
    """Why a birth date is implausible for a child or young person (0-25), else None."""
    on = on or datetime.now().date()
    if born > on:
        return "date of birth is in the future"
    age = age_on(born, on)
    if age > 25:
        return "date of birth gives an age over 25"
    return None
