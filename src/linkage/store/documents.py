"""Each child's document held as compact JSON in the server's memory, read without a query.

The server folds each child's records and events into one document at start-up (a
DuckDB table, ``views.tables.materialise``). Reading one row of it back through DuckDB
costs about a millisecond of CPU per request (a statement, its threads, and turning
nested lists into Python); that was most of a lookup's cost. ``DocumentMap`` copies the
table once, each list of each child as JSON text (DuckDB writes it, in bulk), and a
request parses only the lists it is allowed to read: a few microseconds.

JSON keeps strings, numbers and booleans as DuckDB gives them; dates and timestamps,
which JSON has not, are turned back into ``date``/``datetime`` from the table's own types,
so a document reads exactly as the DuckDB row did (a test compares them). A column of any
other type is refused when the map is built, rather than read back changed.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from linkage.errors import StoreError

__all__ = ["DocumentMap"]

_PLAIN = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT",
          "DOUBLE", "FLOAT", "BOOLEAN"}
_REVIVE = {"DATE": date.fromisoformat, "TIMESTAMP": datetime.fromisoformat}
_BATCH = 20_000


def _fields(name: str, ty) -> tuple[tuple[str, Any], ...]:
    """A list-of-struct column's fields that JSON does not keep (field, how to revive it)."""
    if ty.id != "list" or ty.children[0][1].id != "struct":
        raise StoreError(f"document list {name} is {ty}, not a list of rows")
    revive = []
    for field, fty in ty.children[0][1].children:
        kind = str(fty)
        if kind in _REVIVE:
            revive.append((field, _REVIVE[kind]))
        elif kind not in _PLAIN:
            raise StoreError(f"document list {name}.{field} is {kind}, which a document cannot hold")
    return tuple(revive)


class DocumentMap:
    """child id -> each document list as UTF-8 JSON (None for an empty list)."""

    def __init__(self, lists: dict[str, tuple[tuple[str, Any], ...]], docs: dict[str, tuple]) -> None:
        self._index = {name: i for i, name in enumerate(lists)}
        self._revive = list(lists.values())
        self._docs = docs

    @classmethod
    def load(cls, con, table: str) -> DocumentMap:
        """Copy ``table`` (``child_id`` and list-of-struct columns) into memory."""
        rel = con.sql(f"SELECT * FROM {table} LIMIT 0")
        if rel.columns[:1] != ["child_id"]:
            raise StoreError(f"{table} has no child_id first")
        lists = {name: _fields(name, ty) for name, ty in zip(rel.columns[1:], rel.types[1:])}
        cur = con.cursor()
        try:
            cur.execute(f"SELECT child_id, {', '.join(f'to_json({c})' for c in lists)} FROM {table}")
            docs: dict[str, tuple] = {}
            while batch := cur.fetchmany(_BATCH):
                for row in batch:
                    docs[row[0]] = tuple(v.encode() if v is not None else None for v in row[1:])
        finally:
            cur.close()
        return cls(lists, docs)

    def __contains__(self, child_id: str) -> bool:
        return child_id in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self):
        return iter(self._docs)

    def get(self, child_id: str, lists: list[str]) -> dict[str, list[dict]] | None:
        """The named lists of one child's document (empty lists as []), or None for no such child."""
        row = self._docs.get(child_id)
        if row is None:
            return None
        out = {}
        for name in lists:
            i = self._index[name]
            text = row[i]
            if text is None:
                out[name] = []
                continue
            items = json.loads(text)
            for field, revive in self._revive[i]:
                for item in items:
                    if (v := item[field]) is not None:
                        item[field] = revive(v)
            out[name] = items
        return out
