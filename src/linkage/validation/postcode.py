"""UK postcodes: one space before the last three characters, then a shape check.

Two kinds of valid value are not places, and are never evidence that two records
are the same child (``postcode_for_linking`` drops them):

* NHS pseudo-postcodes ``ZZ99 nXZ`` (``ZZ99 3VZ`` no fixed abode, ``ZZ99 3WZ``
  address not known, ``ZZ99 3CZ`` England not otherwise specified, ...): kept as a
  marker a social worker needs to see, but shared by every child without a home.
* British Forces Post Office numbers (``BFPO 123``): kept for display; one number
  covers a whole unit, base or ship.
"""

from __future__ import annotations

import re

__all__ = ["NOT_A_PLACE_PREFIXES", "is_not_a_place", "normalise_postcode", "postcode_district",
           "postcode_for_linking", "postcode_sector"]

_SHAPE = re.compile(r"^(GIR 0AA|[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2})$")
_PSEUDO = re.compile(r"^ZZ99 ?([0-9][A-Z]Z)$")
_BFPO = re.compile(r"^BFPO ?([0-9]{1,4})$")
_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
# Valid values that say nothing about where a child lives (see the module docstring).
NOT_A_PLACE_PREFIXES = ("ZZ99 ", "BFPO ")


def normalise_postcode(value: str) -> str | None:
    """Normalised postcode (or ``ZZ99 3VZ`` / ``BFPO 123`` marker), or None when invalid."""
    spaced = _SPACES.sub(" ", value.strip().upper())
    for marker, prefix in ((_PSEUDO, "ZZ99 "), (_BFPO, "BFPO ")):
        if m := marker.match(spaced):
            return prefix + m.group(1)
    compact = _NOT_ALNUM.sub("", value).upper()
    if not 5 <= len(compact) <= 7:
        return None
    candidate = f"{compact[:-3]} {compact[-3:]}"
    return candidate if _SHAPE.match(candidate) else None


def is_not_a_place(postcode: str | None) -> bool:
    return postcode is not None and postcode.startswith(NOT_A_PLACE_PREFIXES)


def postcode_for_linking(postcode: str | None) -> str | None:
    """The postcode as linking evidence: None for no-fixed-abode and BFPO markers."""
    return None if is_not_a_place(postcode) else postcode


def postcode_district(postcode: str) -> str:
    """The outward code, e.g. ``SW1A`` of ``SW1A 1AA``."""
    return postcode.split(" ", 1)[0]


def postcode_sector(postcode: str) -> str:
    outward, inward = postcode.split(" ", 1)
    return f"{outward} {inward[0]}"
