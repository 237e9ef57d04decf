"""GP practices from the NHS Organisation Data Service's ``epraccur`` file.

The file has no header row: its fields are known by position, as the ODS record
layout gives them (27 columns; the unnamed ones are null). Dates are YYYYMMDD. The
status is a letter in the classic file and a word (``ACTIVE``) in the report the
ODS Data Search and Export service produces; both are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from linkage.errors import Problem
from linkage.reference.rows import Cells

__all__ = ["COLUMNS", "GpPractice", "is_header", "parse_gp_practice"]

# Positions 1-18 and the named ones after (1-based in the ODS layout, 0-based here).
COLUMNS = ("Organisation Code", "Name", "National Grouping", "High Level Health Geography",
           "Address Line 1", "Address Line 2", "Address Line 3", "Address Line 4", "Address Line 5",
           "Postcode", "Open Date", "Close Date", "Status Code", "Organisation Sub-Type Code",
           "Commissioner", "Join Provider/Purchaser Date", "Left Provider/Purchaser Date",
           "Contact Telephone Number", "Null 19", "Null 20", "Null 21", "Amended Record Indicator",
           "Null 23", "Provider/Purchaser", "Null 25", "Prescribing Setting", "Null 27")
REQUIRED = 18      # a row must reach the telephone number; later columns are optional
_READ = COLUMNS[:18] + ("Prescribing Setting",)
_ADDRESS = COLUMNS[4:9]
_STATUS = {"A": "A", "ACTIVE": "A", "C": "C", "CLOSED": "C", "D": "D", "DORMANT": "D", "P": "P",
           "PROPOSED": "P"}
_CODE = re.compile(r"^[A-Z][0-9]{5}$")


@dataclass(frozen=True)
class GpPractice:
    ods_code: str
    name: str
    address: str | None
    postcode: str | None
    status_code: str
    open_date: date | None
    close_date: date | None
    commissioner: str | None
    telephone: str | None
    prescribing_setting: str | None


def is_header(cells: list[str]) -> bool:
    """A row of names that someone put on top of the headerless file."""
    return bool(cells) and cells[0].strip().casefold() == "organisation code"


def parse_gp_practice(cells: list[str], warnings: list[Problem]) -> GpPractice | list[Problem]:
    """One epraccur row as a GpPractice, or every problem with it (``warnings``: cells left empty)."""
    if len(cells) < REQUIRED or len(cells) > len(COLUMNS):
        return [Problem("row", f"{len(cells)} cells; an epraccur row has {REQUIRED} to {len(COLUMNS)}")]
    c = Cells(dict(zip(COLUMNS, cells)), _READ)
    code = c.text("Organisation Code", required=True)
    if code is not None and not _CODE.match(code):
        c.problem("Organisation Code", f"{code!r} is not a GP practice code (a letter and five digits)")
    name = c.text("Name", required=True, limit=200)
    status = c.text("Status Code", required=True)
    letter = _STATUS.get(status.upper()) if status else None
    if status and letter is None:
        c.problem("Status Code", f"unknown status {status!r}; the file uses A, C, D or P")
    opened, closed = c.date_of("Open Date"), c.date_of("Close Date")
    if opened and closed and closed < opened:
        c.problem("Close Date", f"closed {closed.isoformat()}, before it opened {opened.isoformat()}")
    address = ", ".join(v for col in _ADDRESS if (v := c.text(col, limit=100))) or None
    practice = dict(ods_code=code, name=name, address=address, postcode=c.postcode("Postcode"),
                    status_code=letter, open_date=opened, close_date=closed,
                    commissioner=c.text("Commissioner", limit=10), telephone=c.phone("Contact Telephone Number"),
                    prescribing_setting=c.text("Prescribing Setting", limit=10))
    warnings.extend(c.warnings)
    return c.problems or GpPractice(**practice)
