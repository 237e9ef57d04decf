"""Validators and normalisers for the fields that link children's records."""

from linkage.validation.dates import DateError, parse_date, plausible_birth_date
from linkage.validation.identifiers import (
    is_valid_nhs_number,
    is_valid_upn,
    normalise_nhs_number,
    normalise_upn,
    upn_check_letter,
)
from linkage.validation.names import encoding_damage, has_letters, normalise_name, strip_title
from linkage.validation.phone import normalise_phone
from linkage.validation.postcode import (
    is_not_a_place,
    normalise_postcode,
    postcode_district,
    postcode_for_linking,
)
from linkage.validation.text import check_cell, check_text, looks_like_formula, neutralise_cell

__all__ = [
    "DateError",
    "check_cell",
    "check_text",
    "encoding_damage",
    "has_letters",
    "is_not_a_place",
    "is_valid_nhs_number",
    "is_valid_upn",
    "looks_like_formula",
    "neutralise_cell",
    "normalise_name",
    "normalise_nhs_number",
    "normalise_phone",
    "normalise_postcode",
    "normalise_upn",
    "parse_date",
    "plausible_birth_date",
    "postcode_district",
    "postcode_for_linking",
    "strip_title",
    "upn_check_letter",
]
