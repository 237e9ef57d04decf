"""UK postcodes: one space before the last three characters, then a shape check."""

from __future__ import annotations

import re

__all__ = ["normalise_postcode", "postcode_district", "postcode_sector"]

_SHAPE = re.compile(r"^(GIR 0AA|[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2})$")


def normalise_postcode(value: str) -> str | None:
    """Normalised postcode, or None when it is not a valid UK postcode."""
    compact = re.sub(r"[^A-Za-z0-9]", "", value).upper()
    if not 5 <= len(compact) <= 7:
        return None
    candidate = f"{compact[:-3]} {compact[-3:]}"
    return candidate if _SHAPE.match(candidate) else None


def postcode_district(postcode: str) -> str:
    """The outward code, e.g. ``SW1A`` of ``SW1A 1AA``."""
    return postcode.split(" ", 1)[0]


def postcode_sector(postcode: str) -> str:
    outward, inward = postcode.split(" ", 1)
    return f"{outward} {inward[0]}"
