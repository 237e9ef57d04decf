"""The commonest valid identifiers recognised a whole column at a time (Arrow compute).

The columnar ingest asks a field's rule once per distinct value; an NHS number or a UPN is
distinct on nearly every row, so asking Python a million times costs more than anything
else it does. These say, for a column of distinct values, which are certainly valid and
already in their stored form (ten digits passing modulus 11; a UPN in capitals without
spaces passing its check letter; a postcode as ``normalise_postcode`` writes it; a plain
address line or record id), and leave every other value (a space, a hyphen, a check that fails, another
shape) to the rule itself. A test holds each to its rule.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.validation.identifiers import SCIENTIFIC, UPN_LETTERS
from linkage.validation.postcode import _SHAPE as _POSTCODE

__all__ = ["plain_addresses", "plain_names", "plain_record_ids", "plain_valid_nhs_numbers", "plain_valid_postcodes",
           "plain_valid_upns"]

_DIGITS = "0123456789"


def _digits(values: pa.Array, width: int) -> np.ndarray:
    """Strings of ``width`` ASCII digits as a (rows, width) array of their digits."""
    number = pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (number[:, None] // powers) % 10


def plain_valid_nhs_numbers(values: pa.Array) -> pa.Array:
    """True where a value is ten ASCII digits, not all one, whose modulus 11 check holds: the
    values ``is_valid_nhs_number`` accepts and ``normalise_nhs_number`` leaves as they are."""
    shape = pc.fill_null(pc.match_substring_regex(values, r"^[0-9]{10}$"), False)
    d = _digits(values.filter(shape), 10)
    check = 11 - (d[:, :9] @ np.arange(10, 1, -1, dtype=np.int64)) % 11
    check[check == 11] = 0                      # 10: no valid number
    good = (check == d[:, 9]) & (d != d[:, :1]).any(axis=1)
    return _scatter(shape, good)


def plain_valid_upns(values: pa.Array) -> pa.Array:
    """True where a value is a UPN in capitals without spaces whose check letter holds: the
    values ``is_valid_upn`` accepts and ``normalise_upn`` leaves as they are."""
    shape = pc.fill_null(pc.match_substring_regex(values, f"^[{UPN_LETTERS}][0-9]{{11}}[0-9{UPN_LETTERS}]$"),
                         False)
    plain = values.filter(shape)
    digits = _digits(pc.utf8_slice_codeunits(plain, 1, 12), 11)
    last = _value_of(plain, 12, _DIGITS + UPN_LETTERS)           # a digit's value, or 10 + a letter's
    last = np.where(last >= 10, last - 10, last)
    total = digits @ np.arange(2, 13, dtype=np.int64) + 13 * last
    return _scatter(shape, _value_of(plain, 0, UPN_LETTERS) == total % 23)


def plain_valid_postcodes(values: pa.Array) -> pa.Array:
    """True where a value is a postcode already in ``normalise_postcode``'s form (capitals,
    one space before the inward code), which it returns unchanged."""
    return pc.fill_null(pc.match_substring_regex(values, _POSTCODE.pattern), False)


def plain_addresses(values: pa.Array) -> pa.Array:
    """True where an address line is printable ASCII words joined by single spaces, starting
    with a letter or digit and not with a title ``clean_display`` would drop: what it and the
    formula check return unchanged."""
    shape = pc.fill_null(pc.match_substring_regex(values, r"^[A-Za-z0-9][!-~]*( [!-~]+)*$"), False)
    titled = pc.fill_null(pc.match_substring_regex(values, r"^(?i)(mr|mrs|miss|ms|master|mx|dr)\.* "), False)
    return pc.and_(shape, pc.invert(titled))


def plain_names(values: pa.Array) -> pa.Array:
    """True where a name is one ASCII word of letters (and inner hyphens or apostrophes) of at
    most 100 characters, starting with a letter: what ``clean_display``, the formula check and
    ``name_value``'s length and letters checks return unchanged."""
    return pc.fill_null(pc.match_substring_regex(values, r"^[A-Za-z][A-Za-z'-]{0,99}$"), False)


def plain_record_ids(values: pa.Array) -> pa.Array:
    """True where a record id is printable ASCII without spaces starting with a letter or
    digit: no whitespace to strip, nothing a spreadsheet could run."""
    shape = pc.and_(pc.match_substring_regex(values, r"^[A-Za-z0-9][!-~]*$"),
                    pc.invert(pc.match_substring_regex(values, SCIENTIFIC)))    # 1.23E+05: digits lost
    return pc.fill_null(shape, False)


def _value_of(values: pa.Array, i: int, alphabet: str) -> np.ndarray:
    """The ``i``-th character's position in ``alphabet`` (each character is in it)."""
    at = pc.index_in(pc.utf8_slice_codeunits(values, i, i + 1), value_set=pa.array(list(alphabet)))
    return at.to_numpy(zero_copy_only=False).astype(np.int64)


def _scatter(shape: pa.Array, good: np.ndarray) -> pa.Array:
    """``good`` (one per true ``shape``) back in place; false elsewhere."""
    out = np.zeros(len(shape), dtype=bool)
    out[shape.to_numpy(zero_copy_only=False)] = good
    return pa.array(out)
