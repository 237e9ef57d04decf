"""The "who is this child" form both the lookup and the DPO's subject-access search ask.

One reading of it, so the two pages give the same errors for the same input, in the
GOV.UK pattern: a field -> message dict the page shows in its error summary.
"""

from __future__ import annotations

from datetime import date

from pydantic import ValidationError

from linkage.digits import whole_number
from linkage.service.schemas import LookupRequest
from linkage.validation import normalise_postcode
from linkage.validation.identifiers import (is_valid_nhs_number, is_valid_upn, normalise_nhs_number,
                                            normalise_upn)

__all__ = ["FIELDS", "PERSON_FIELDS", "person_query", "summary"]

PERSON_FIELDS = ("forename", "surname", "dob_day", "dob_month", "dob_year", "postcode", "upn", "nhs_number")
# Form fields and the linkage model's comparisons, as a person says them.
FIELDS = {"forename": "first name", "surname": "last name", "date_of_birth": "date of birth", "dob": "date of birth",
          "household": "last name and postcode", "address": "address", "postcode": "postcode",
          "upn": "unique pupil number (UPN)", "nhs_number": "NHS number", "sex": "sex"}


def _date(day: str, month: str, year: str, whose: str, errors: dict[str, str]) -> date | None:
    if not (day or month or year):
        errors["date_of_birth"] = f"Enter {whose} date of birth"
        return None
    missing = [n for n, v in (("day", day), ("month", month), ("year", year)) if not v]
    if missing:
        errors["date_of_birth"] = f"Date of birth must include a {' and '.join(missing)}"
        return None
    # ASCII digits only (``int`` read ``١٢`` as 12), and a year past C's int refused as any
    # impossible date (``date`` raised OverflowError, not ValueError: a 500).
    parts = [whole_number(v) for v in (year, month, day)]
    try:
        when = date(*parts) if None not in parts else None
    except (ValueError, OverflowError):
        when = None
    if when is None:
        errors["date_of_birth"] = "Date of birth must be a real date"
        return None
    if when > date.today() or when.year < 1990:
        errors["date_of_birth"] = "Date of birth must be in the past, and after 1990"
        return None
    return when


def person_query(values: dict[str, str], errors: dict[str, str], whose: str = "the child's") -> LookupRequest | None:
    """The query the form's ``values`` (stripped strings) ask, or None with ``errors`` filled in."""
    if not values.get("forename"):
        errors["forename"] = f"Enter {whose} first name"
    if not values.get("surname"):
        errors["surname"] = f"Enter {whose} last name"
    when = _date(values.get("dob_day", ""), values.get("dob_month", ""), values.get("dob_year", ""), whose, errors)
    code = normalise_postcode(values["postcode"]) if values.get("postcode") else None
    if values.get("postcode") and code is None:
        errors["postcode"] = "Enter a real postcode, like AA1 1AA"
    pupil = normalise_upn(values["upn"]) if values.get("upn") else None
    if pupil and not is_valid_upn(pupil):
        errors["upn"] = "Enter a real unique pupil number: a letter and 12 digits or letters, like A123456789012"
    nhs = normalise_nhs_number(values["nhs_number"]) if values.get("nhs_number") else None
    if nhs and not is_valid_nhs_number(nhs):
        errors["nhs_number"] = "Enter a real NHS number: 10 digits, like 485 777 3456"
    if errors:
        return None
    try:
        return LookupRequest(forename=values["forename"], surname=values["surname"], date_of_birth=when,
                             postcode=code, upn=pupil, nhs_number=nhs)
    except ValidationError as exc:
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else "forename"
            errors.setdefault(field, f"Check the {FIELDS.get(field, field)}: {e['msg'].removeprefix('Value error, ')}")
        return None


def summary(errors: dict[str, str]) -> list[dict[str, str]]:
    """The error summary's links: the date input's first box stands for the date."""
    return [{"text": text, "href": f"#{'dob-day' if field == 'date_of_birth' else field}"}
            for field, text in errors.items()]
