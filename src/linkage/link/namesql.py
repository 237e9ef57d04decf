"""SQL for the parts of a name, written once so that every query means the same by them."""

from __future__ import annotations

__all__ = ["middle_name", "only"]


def middle_name(column: str, n: int = 1) -> str:
    """SQL for the ``n``-th of the space-separated middle names in ``column`` (the first, by default):
    '' when there are fewer, NULL when ``column`` is NULL. ``column`` is SQL (``l.middle_names``)."""
    return f"split_part({column}, ' ', {n})"


def only(table: str, keys: str) -> str:
    """``table``'s rows whose ``unique_id`` the query ``keys`` gives, as a subquery to join from: a
    ``WHERE unique_id IN`` after a left join is not pushed below it by DuckDB, which then joins
    every row of a month's million-record input first and drops all but a few hundred."""
    return f"(SELECT * FROM {table} WHERE unique_id IN ({keys}))"
