"""Telephone numbers: a typed field with one canonical form (E.164), never free text.

``+44 1632 960000``, ``0044 1632 960000``, ``(01632) 960000`` and ``01632 960000`` are
the same number and are all stored as ``+441632960000``.
"""

from __future__ import annotations

import re

__all__ = ["normalise_phone"]

_SEPARATORS = re.compile(r"[\s\-().]")
_TRUNK = re.compile(r"^\+44\(?0\)?")
_UK_NATIONAL = re.compile(r"0[1-9][0-9]{8,9}")
_UK_E164 = re.compile(r"\+44[1-9][0-9]{8,9}")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def normalise_phone(value: str) -> str | None:
    """E.164 form of a UK or international number, or None when it is not one."""
    text = _SEPARATORS.sub("", value.strip())
    text = _TRUNK.sub("+44", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    if _UK_NATIONAL.fullmatch(text):          # UK national: 0 then 9 or 10 digits
        return "+44" + text[1:]
    if _UK_E164.fullmatch(text):
        return text
    if _E164.fullmatch(text) and not text.startswith("+44"):
        return text
    return None
