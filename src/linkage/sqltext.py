"""Text placed inside SQL that cannot take a parameter (ATTACH, SET, LOAD, identifiers).

DuckDB's ``ATTACH``, ``SET`` and ``LOAD`` take no ``?``: a path or a setting has to be
written into the statement. Written between bare quotes, a file an agency names
``register.duckdb' AS src; COPY ... TO 'x'; ATTACH 'register.duckdb`` ran its own statements
(DuckDB runs every statement in the text), and a legitimate ``St Mary's.duckdb`` could not be
read at all. Everything written into SQL goes through ``literal`` or ``identifier``.
"""

from __future__ import annotations

__all__ = ["identifier", "literal"]


def _checked(text: str, what: str) -> str:
    if "\x00" in text:
        raise ValueError(f"a {what} in SQL cannot hold a NUL character")
    return text


def literal(value: object) -> str:
    """``value`` as one SQL string literal: quoted, with each quote inside doubled."""
    return "'" + _checked(str(value), "string").replace("'", "''") + "'"


def identifier(name: str) -> str:
    """``name`` as one quoted SQL identifier (a table or column), with each double quote inside doubled."""
    return '"' + _checked(name, "name").replace('"', '""') + '"'
