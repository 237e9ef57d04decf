"""Checks every free-text cell gets before it is trusted, and the neutralising of CSV output.

The formula check looks at the value as it will be stored and as a spreadsheet will
read it: NFKC-normalised (so a full-width ``＝`` is an ``=``), after any leading
whitespace or quotes, against the OWASP CSV-injection list (``= + - @``, tab, CR).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["DIRECTION_REASON", "FORMULA_REASON", "MAX_FIELD_LENGTH", "REFUSED_CHARACTER", "check_cell", "check_text",
           "looks_like_formula", "neutralise_cell"]

MAX_FIELD_LENGTH = 500
FORMULA_REASON = "looks like a spreadsheet formula (starts with = + - @, tab or carriage return)"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_LEADING = " \t\r\n\"'`\u00a0\u2018\u2019\u201c\u201d\u3000"
_SURROGATE = re.compile("[\udc80-\udcff]")
# Explicit bidirectional embeddings, overrides and isolates: no name or address needs one (a
# right-to-left script is shown right to left without them), and one reverses or reorders what
# follows it on a page, in a spreadsheet or in a terminal (a name showing as another).
_DIRECTION = re.compile("[\u202a-\u202e\u2066-\u2069]")
DIRECTION_REASON = "characters that reverse or reorder the text shown after them (direction controls)"
_PLAIN_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
# Any character ``check_cell`` refuses: one search clears a whole row.
REFUSED_CHARACTER = re.compile(f"{_SURROGATE.pattern}|{_CONTROL.pattern}|{_DIRECTION.pattern}")


def looks_like_formula(value: str) -> bool:
    """Whether a spreadsheet could run ``value`` as a formula (a plain signed number cannot)."""
    norm = unicodedata.normalize("NFKC", value)
    if norm.startswith(("\t", "\r")):
        return True
    bare = norm.lstrip(_LEADING)
    return bare.startswith(_TRIGGERS) and not _PLAIN_NUMBER.match(bare)


def check_cell(value: str, max_length: int = MAX_FIELD_LENGTH) -> str | None:
    """Why a raw cell cannot be read at all (bad bytes, too long, control or direction characters), or None."""
    if _SURROGATE.search(value):  # surrogateescape'd bytes
        return "bytes that are not valid in the file's encoding"
    if len(value) > max_length:
        return f"{len(value)} characters, more than the {max_length} allowed"
    if _CONTROL.search(value):
        return "control characters"
    if _DIRECTION.search(value):
        return DIRECTION_REASON
    return None


def check_text(value: str, max_length: int = MAX_FIELD_LENGTH) -> str | None:
    """Why a cell cannot be accepted as text, or None when it is fine."""
    if why := check_cell(value, max_length):
        return why
    if looks_like_formula(value):
        return FORMULA_REASON
    return None


def neutralise_cell(value: object) -> object:
    """A cell made safe for a spreadsheet, as OWASP advises: a leading ``'`` before a trigger."""
    if isinstance(value, str) and value and (looks_like_formula(value) or value.startswith(_TRIGGERS)):
        return "'" + value
    return value
