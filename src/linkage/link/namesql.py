"""SQL for the parts of a name, written once so that every query means the same by them."""

from __future__ import annotations

__all__ = ["middle_name"]


def middle_name(column: str, n: int = 1) -> str:
    """SQL for the ``n``-th of the space-separated middle names in ``column`` (the first, by default):
    '' when there are fewer, NULL when ``column`` is NULL. ``column`` is SQL (``l.middle_names``)."""
    return f"split_part({column}, ' ', {n})"
