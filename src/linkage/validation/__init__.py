"""Validators and normalisers for the fields that link children's records."""

from linkage.validation.dates import DateError, parse_date, plausible_birth_date
from linkage.validation.identifiers import (
    is_valid_nhs_number,
    is_valid_upn,
    normalise_nhs_number,
    normalise_upn,
    upn_check_letter,
)
from linkage.validation.names import normalise_name, strip_title
from linkage.validation.postcode import normalise_postcode, postcode_district
from linkage.validation.text import check_text

__all__ = [
    "DateError",
    "check_text",
    "is_valid_nhs_number",
    "is_valid_upn",
    "normalise_name",
    "normalise_nhs_number",
    "normalise_postcode",
    "normalise_upn",
    "parse_date",
    "plausible_birth_date",
    "postcode_district",
    "strip_title",
    "upn_check_letter",
]
