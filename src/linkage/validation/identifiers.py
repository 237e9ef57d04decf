"""UPN (govtalk UniquePupilNumber 2.0) and NHS number (modulus 11) checks."""

from __future__ import annotations

import re

__all__ = [
    "SCIENTIFIC",
    "UPN_LETTERS",
    "is_scientific",
    "scientific_digits",
    "is_valid_nhs_number",
    "is_valid_upn",
    "normalise_nhs_number",
    "normalise_upn",
    "upn_check_letter",
]

# The 23 letters the DfE uses (no I, O, S); a letter's value is its position.
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_SHAPE = re.compile(rf"^[{UPN_LETTERS}][0-9]{{11}}[0-9{UPN_LETTERS}]$")
_VALUE = {**{str(d): d for d in range(10)}, **{ch: i for i, ch in enumerate(UPN_LETTERS)}}
_SPACE = re.compile(r"\s+")
_NHS_SEPARATORS = re.compile(r"[\s-]")
_NHS_SHAPE = re.compile(r"[0-9]{10}")


def normalise_upn(value: str) -> str:
    return _SPACE.sub("", value).upper()


def upn_check_letter(body: str) -> str:
    """Check letter for the 12 characters after it: weights 2..13, sum mod 23.

    A temporary UPN ends in a letter, valued by its position in ``UPN_LETTERS``.
    """
    if len(body) != 12:
        raise ValueError("a UPN body has 12 characters")
    value = _VALUE.get
    total = 0
    for weight, ch in enumerate(body, start=2):
        v = value(ch)
        total += weight * (v if v is not None else int(ch) if ch.isdigit() else UPN_LETTERS.index(ch))
    return UPN_LETTERS[total % 23]


def is_valid_upn(value: str) -> bool:
    upn = normalise_upn(value)
    return bool(_UPN_SHAPE.match(upn)) and upn_check_letter(upn[1:]) == upn[0]


def normalise_nhs_number(value: str) -> str:
    return _NHS_SEPARATORS.sub("", value)


def nhs_check_digit(first_nine: str) -> int | None:
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid_nhs_number(value: str) -> bool:
    nhs = normalise_nhs_number(value)
    if not _NHS_SHAPE.fullmatch(nhs) or len(set(nhs)) == 1:
        return False
    return nhs_check_digit(nhs[:9]) == int(nhs[9])


# A long number a spreadsheet wrote in scientific notation (``9.43E+09``), as a CSV saved from a
# cell formatted "General" holds it: the digits after the mantissa's are lost.
SCIENTIFIC = r"^\s*[0-9]\.[0-9]+[eE]\+?[0-9]{1,2}\s*$"
_SCIENTIFIC = re.compile(SCIENTIFIC)


def is_scientific(value: str) -> bool:
    return _SCIENTIFIC.match(value) is not None


def scientific_digits(value: str) -> str | None:
    """The whole number ``value`` wrote (``9.434765919E+09``: ``9434765919``), or None where the
    spreadsheet dropped digits (``9.43E+09``): only a mantissa with every digit is the number."""
    mantissa, _, exponent = value.strip().lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    places = int(exponent)
    if len(fraction.rstrip("0")) > places:
        return None                                 # not a whole number: not an identifier
    if len(fraction) < places:
        return None
    return whole + fraction[:places]
