"""What a mapping can do to a cell before it is checked: real exports are not one value per column.

A field in a mapping is usually a column name. Where the export differs from what the
field needs, it is a small spec instead:

* ``{column: Full Name, split: "surname, forename"}``: one column holds the whole name
  (``"O'BRIEN, Siân Marie"``, ``"Siân Marie O'Brien"``); each name field takes its part.
* ``{column: DOB, format: "%m/%d/%Y"}``: dates in one stated layout (``strptime`` codes),
  or ``format: excel`` for Excel's day numbers (``42064`` is 2015-03-01).
* ``{column: Gender, values: {Male: M, Female: F, "Not stated": U}}``: codes translated,
  matched ignoring case and spaces; a value not listed is read as it stands.
* ``{columns: [Address 1, Address 2, Town], join: ", "}``: several columns as one value,
  their non-blank cells joined (an address over several columns, a record id made of two).
* ``{column: Address, find: postcode}``: the UK postcode written inside a longer cell.

A date ``format`` with a two-digit year (``%y``) reads it as the latest year not after
today (``15`` is 2015, ``98`` is 1998): a child's birth is never in the future. A date
format also reads a date-time whose time is written after the date (``01/03/2015 00:00``).

A spec's output is a column of its own, named ``Full Name [forename]``, so a problem with
it is reported against the file's column and the field it was read for. Cells holding one
of the mapping's ``missing`` words (``N/A``, ``Unknown``, ...) are read as blank.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from linkage.connectors.readers import BadCell
from linkage.validation.dates import excel_day

__all__ = ["DEFAULT_MISSING", "FINDS", "FieldSpec", "SPLITS", "derived_name", "join_cells"]

# Words exports put in a cell that has no value. Compared ignoring case and surrounding spaces.
DEFAULT_MISSING = ("n/a", "#n/a", "null", "none", "unknown", "not known", "not recorded", "not stated",
                   "not specified", "not applicable", "not given", "-", "--", "?", "tbc")   # not "NA": a Korean surname

SPLITS = ("surname, forename", "forename surname")
# Which part of a split name each field takes.
_PARTS = ("forename", "middle_names", "surname", "preferred_forename", "preferred_surname", "former_surname")
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "le", "la", "al",
                        "el", "ap", "ab", "bin", "bint", "ibn", "abu", "st", "mac", "ó", "ní", "nic"})
_EXCEL_DAY = re.compile(r"\d{4,6}(?:\.0+)?")
_STRPTIME_FIELD = re.compile(r"%[dmyYbBjHMSfzpIaA]")
# A time of day after a date: " 00:00", "T00:00:00.000", " 12:00:00 AM", "+01:00" or "Z".
_TIME_AFTER = re.compile(r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?")
# A UK postcode inside a longer text, spaced or not, any case (``normalise_postcode`` then checks it).
_POSTCODE_IN = re.compile(r"(?<![A-Za-z0-9])(GIR ?0AA|[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2})(?![A-Za-z0-9])")
FINDS = ("postcode",)


def derived_name(column: str, field: str) -> str:
    return f"{column} [{field}]"


def join_cells(cells: list[str | None], separator: str) -> str | None:
    """Several cells as one value: the non-blank ones, trimmed, joined; None if all are blank."""
    parts = [c.strip() for c in cells if c is not None and c.strip()]
    return separator.join(parts) or None


class FieldSpec(BaseModel):
    """One field read from a column through a split, a date layout or a value map."""

    model_config = ConfigDict(extra="forbid")
    column: str = ""
    columns: list[str] | None = None
    split: Literal["surname, forename", "forename surname"] | None = None
    format: str | None = None
    values: dict[str, str] | None = None
    join: str | None = None
    find: Literal["postcode"] | None = None

    @model_validator(mode="after")
    def _one(self) -> FieldSpec:
        if self.columns is not None:
            if self.column:
                raise ValueError("give column (one) or columns (several), not both")
            if len(self.columns) < 2 or any(not c.strip() for c in self.columns):
                raise ValueError("columns lists two or more of the file's columns, e.g. [Address 1, Town]")
            if self.join is None:
                raise ValueError(f"columns {self.columns}: say how to join them, e.g. join: \", \"")
            self.column = " + ".join(self.columns)
        elif not self.column:
            raise ValueError("a spec names the file's column: {column: ..., ...}")
        elif self.join is not None:
            raise ValueError(f"column {self.column!r}: join needs several columns: columns: [..., ...]")
        given = [k for k in ("split", "format", "values", "find") if getattr(self, k) is not None]
        if self.columns is not None and given:
            raise ValueError(f"columns {self.columns} are joined as they are; {given[0]} reads one column")
        if self.columns is None and not given:
            raise ValueError(f"column {self.column!r}: a spec needs split, format, values or find; "
                             f"a column read as it is is written by its name alone: {self.column}")
        if self.columns is None and len(given) != 1:
            raise ValueError(f"column {self.column!r}: give one of split, format, values or find"
                             + (f", not {' and '.join(given)}" if given else ""))
        if self.format is not None and self.format != "excel" and not _STRPTIME_FIELD.search(self.format):
            raise ValueError(f"format {self.format!r} has no date codes: write e.g. \"%m/%d/%Y\" or excel")
        if self.format is not None and self.format != "excel":
            _check_layout(self.format)
        return self

    @property
    def sources(self) -> list[str]:
        """The file's columns this spec reads."""
        return list(self.columns) if self.columns is not None else [self.column]

    def rule(self, field: str) -> Callable[[str], str | None]:
        """The cell's value for ``field``: text, None (blank) or a ``BadCell`` saying why not."""
        if self.split is not None:
            if field not in _PARTS:
                raise ValueError(f"split gives names only, not {field!r}")
            return lambda v: _split_name(v, self.split, field)
        if self.columns is not None:
            return lambda cells: join_cells(cells, self.join)
        if self.find is not None:
            if field != "postcode":
                raise ValueError(f"find: postcode gives the postcode field, not {field!r}")
            return _find_postcode
        if self.format is not None:
            return (lambda v: _excel_day(v)) if self.format == "excel" else (lambda v: _strptime(v, self.format))
        table = {" ".join(k.split()).casefold(): v for k, v in (self.values or {}).items()}
        return lambda v: table.get(" ".join(v.split()).casefold(), v)


def _check_layout(layout: str) -> None:
    """A date layout must read back a date it writes, with its year: a code strptime does not know
    (``%Y-%Q-%d``) or a layout without the year quarantined every row of the file, one by one."""
    written = datetime(2013, 7, 16, tzinfo=timezone.utc).strftime(layout)
    try:
        read = datetime.strptime(written, layout)
    except ValueError as exc:
        raise ValueError(f"format {layout!r} cannot read a date: {exc} (the codes are e.g. %d day, %m month, "
                         "%Y year, %b month name)") from None
    if read.year != 2013:
        raise ValueError(f"format {layout!r} has no year (%Y, or %y for two digits): every date needs one")


def _split_name(value: str, layout: str, field: str) -> str | None:
    """``field``'s part of a whole name: ``SURNAME, Forename Middle`` or ``Forename Middle Surname``."""
    if layout == "surname, forename":
        surname, comma, given = value.partition(",")
        if not comma:
            return BadCell(f"{value.strip()!r} has no comma between surname and forenames")
        words = given.split()
    else:
        words = value.split()
        if len(words) < 2:
            return BadCell(f"{value.strip()!r} is not a forename and a surname")
        cut = len(words) - 1        # the surname keeps its particles: "Anna van der Berg", "Rhys ap Dafydd"
        while cut > 1 and words[cut - 1].casefold() in _PARTICLES:
            cut -= 1
        surname, words = " ".join(words[cut:]), words[:cut]
    part = {"surname": surname.strip(), "forename": words[0] if words else "",
            "middle_names": " ".join(words[1:])}.get(field, "")
    return part or None


def _strptime(value: str, layout: str) -> str:
    """The date in ``layout``; a time written after it is dropped; a two-digit year is the
    latest year it can be that is not after today (a birth is never in the future)."""
    text = value.strip()
    try:
        day = datetime.strptime(text, layout).date()
    except ValueError as exc:
        rest = str(exc).partition("unconverted data remains: ")[2]
        if not rest or not _TIME_AFTER.fullmatch(rest):
            return BadCell(f"{text!r} is not a date in the mapping's format {layout!r}")
        day = datetime.strptime(text[:-len(rest)], layout).date()
    if "%y" in layout:
        today = date.today()
        day = day.replace(year=today.year // 100 * 100 + day.year % 100)
        if day > today:
            day = _years_back(day, 100)
    return day.isoformat()


def _years_back(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:              # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _find_postcode(value: str) -> str | None:
    """The last UK postcode written in the cell (an address ends with it), or None if none is."""
    found = _POSTCODE_IN.findall(value)
    return found[-1] if found else None


def _excel_day(value: str) -> str:
    """Excel's day number as a date; a cell already written as a date is read as it stands."""
    text = value.strip()
    if not _EXCEL_DAY.fullmatch(text):
        return value
    return excel_day(text).isoformat()
