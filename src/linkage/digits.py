"""Whole numbers read from text someone else wrote: a query parameter, a form field, a file name.

``str.isdigit`` is true of more than ``0-9``: of ``²`` (which ``int`` then refuses, a
``ValueError`` past the check: a 500, or a server that will not start) and of ``١٢`` (which
``int`` reads as 12, a number the text does not show). A number here is ASCII digits only.
"""

from __future__ import annotations

__all__ = ["whole_number"]


def whole_number(text: str) -> int | None:
    """``text`` (already stripped) as a whole number written in ASCII digits, else None."""
    return int(text) if text.isascii() and text.isdigit() else None
