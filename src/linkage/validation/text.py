"""Checks every free-text cell gets before it is trusted."""

from __future__ import annotations

import re

__all__ = ["MAX_FIELD_LENGTH", "check_text"]

MAX_FIELD_LENGTH = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA = re.compile(r"^[=+@\t\r]|^-(?![0-9])")


def check_text(value: str, max_length: int = MAX_FIELD_LENGTH) -> str | None:
    """Why a cell cannot be accepted, or None when it is fine."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):  # surrogateescape'd bytes
        return "bytes that are not valid in the file's encoding"
    if len(value) > max_length:
        return f"{len(value)} characters, more than the {max_length} allowed"
    if _CONTROL.search(value):
        return "control characters"
    if _FORMULA.match(value):
        return "looks like a spreadsheet formula (starts with = + - @)"
    return None
