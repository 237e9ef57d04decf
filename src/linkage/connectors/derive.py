"""What a mapping can do to a cell before it is checked: real exports are not one value per column.

A field in a mapping is usually a column name. Where the export differs from what the
field needs, it is a small spec instead:

* ``{column: Full Name, split: "surname, forename"}``: one column holds the whole name
  (``"O'BRIEN, Siân Marie"``, ``"Siân Marie O'Brien"``); each name field takes its part.
* ``{column: DOB, format: "%m/%d/%Y"}``: dates in one stated layout (``strptime`` codes),
  or ``format: excel`` for Excel's day numbers (``42064`` is 2015-03-01).
* ``{column: Gender, values: {Male: M, Female: F, "Not stated": U}}``: codes translated,
  matched ignoring case and spaces; a value not listed is read as it stands.

A spec's output is a column of its own, named ``Full Name [forename]``, so a problem with
it is reported against the file's column and the field it was read for. Cells holding one
of the mapping's ``missing`` words (``N/A``, ``Unknown``, ...) are read as blank.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from linkage.connectors.readers import BadCell
from linkage.validation.dates import excel_day

__all__ = ["DEFAULT_MISSING", "FieldSpec", "SPLITS", "derived_name"]

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


def derived_name(column: str, field: str) -> str:
    return f"{column} [{field}]"


class FieldSpec(BaseModel):
    """One field read from a column through a split, a date layout or a value map."""

    model_config = ConfigDict(extra="forbid")
    column: str
    split: Literal["surname, forename", "forename surname"] | None = None
    format: str | None = None
    values: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one(self) -> FieldSpec:
        given = [k for k in ("split", "format", "values") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"column {self.column!r}: give one of split, format or values"
                             + (f", not {' and '.join(given)}" if given else ""))
        if self.format is not None and self.format != "excel" and not _STRPTIME_FIELD.search(self.format):
            raise ValueError(f"format {self.format!r} has no date codes: write e.g. \"%m/%d/%Y\" or excel")
        return self

    def rule(self, field: str) -> Callable[[str], str | None]:
        """The cell's value for ``field``: text, None (blank) or a ``BadCell`` saying why not."""
        if self.split is not None:
            if field not in _PARTS:
                raise ValueError(f"split gives names only, not {field!r}")
            return lambda v: _split_name(v, self.split, field)
        if self.format is not None:
            return (lambda v: _excel_day(v)) if self.format == "excel" else (lambda v: _strptime(v, self.format))
        table = {" ".join(k.split()).casefold(): v for k, v in (self.values or {}).items()}
        return lambda v: table.get(" ".join(v.split()).casefold(), v)


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
    try:
        return datetime.strptime(value.strip(), layout).date().isoformat()
    except ValueError:
        return BadCell(f"{value.strip()!r} is not a date in the mapping's format {layout!r}")


def _excel_day(value: str) -> str:
    """Excel's day number as a date; a cell already written as a date is read as it stands."""
    text = value.strip()
    if not _EXCEL_DAY.fullmatch(text):
        return value
    return excel_day(text).isoformat()
