"""Which way round a file writes its dates, judged from the whole column, not one cell.

A date such as ``3/1/2015`` reads day first as 3 January; a spreadsheet saved in a US locale
meant 1 March. One cell cannot tell, but a column can: ``3/25/2015`` is only month first,
``25/3/2015`` only day first. A column whose dates show month first and never day first is
written month first, and reading its other dates day first would store each with day and
month swapped, silently: the file is refused before anything is stored, naming a row of each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from linkage.connectors.mapping import Mapping
from linkage.model import EVENT_TYPES, SHAPE, PersonRecord
from linkage.store.schema import columns_of

__all__ = ["DateOrder", "date_columns"]

# ``a/b/yyyy`` (or with - or .), a time of day allowed after it: as ``parse_date`` reads day first.
_TWO_NUMBERS = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{4}(?: [0-9:.]+)?\s*$")


def date_columns(mapping: Mapping) -> list[str]:
    """The file's columns read as dates as they stand (a spec with a ``format`` states its order)."""
    wanted = [column for canon, column in mapping.fields.items() if dict(columns_of(PersonRecord))[canon] == "DATE"]
    for ev in mapping.events:
        types = dict(columns_of(EVENT_TYPES[ev.type]))
        wanted += [column for canon, column in ev.fields.items() if types[canon] == "DATE"]
    return [c for c in dict.fromkeys(wanted) if c not in mapping.derived]


def _order(value: str) -> str | None:
    """"month" (only month first reads it), "day" (only day first), "either" (both, differently)."""
    m = _TWO_NUMBERS.match(value)
    if m is None:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    if a <= 12 < b <= 31:
        return "month"
    if b <= 12 < a <= 31:
        return "day"
    return "either" if 1 <= a <= 12 and 1 <= b <= 12 and a != b else None


class DateOrder:
    """The earliest row (line, value) showing each order, per date column."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.seen: dict[str, dict[str, tuple[int, str]]] = {c: {} for c in columns}

    def _note(self, column: str, kind: str, line: int, value: str) -> None:
        seen = self.seen[column]
        if kind not in seen or line < seen[kind][0]:
            seen[kind] = (line, value)

    def see_row(self, line: int, row: dict) -> None:
        if SHAPE in row:            # a row of the wrong shape: its cells may sit under other columns
            return
        for column in self.seen:
            value = row.get(column)
            if isinstance(value, str) and (kind := _order(value)):
                self._note(column, kind, line, value)

    def see_column(self, column: str, values, lines: list[int]) -> None:
        """An Arrow column of cells and each cell's line: each distinct value is judged once."""
        import pyarrow.compute as pc

        if column not in self.seen or not len(values):
            return
        import pyarrow as pa

        coded = values.dictionary_encode()
        distinct = coded.dictionary.to_pylist()
        kinds = [_order(v) if isinstance(v, str) else None for v in distinct]
        for kind in set(kinds) - {None}:
            # the first row holding a value of this kind: one pass over the rows a kind, not one a value
            rows = pa.array([k == kind for k in kinds], pa.bool_()).take(coded.indices).fill_null(False)
            at = pc.index(rows, True).as_py()
            self._note(column, kind, lines[at], distinct[coded.indices[at].as_py()])

    def problem(self, file_name: str, source_of=lambda c: c) -> str | None:
        """Why the file cannot be read day first, or None."""
        for column, seen in self.seen.items():
            if "month" in seen and "day" not in seen:
                line, value = seen["month"]
                name = source_of(column)
                swapped = (f"; its other dates would be stored with day and month swapped "
                           f"(row {seen['either'][0]}: {seen['either'][1]!r})") if "either" in seen else ""
                return (f"{file_name}: the column {name!r} writes dates month first (row {line}: {value!r}) and "
                        f"never day first{swapped}; state it in the mapping: "
                        f"{{column: {name}, format: \"%m/%d/%Y\"}}")
        return None
