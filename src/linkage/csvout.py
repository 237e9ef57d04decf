"""CSV written for people to open in a spreadsheet: no cell can run as a formula.

Every export goes through ``write_csv``: cells that start with ``= + - @``, tab or CR
(also after spaces or quotes, or as full-width forms) get a leading ``'`` as OWASP
advises, quoting is minimal and line endings are LF.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from linkage.validation.text import neutralise_cell

__all__ = ["safe_writer", "write_csv"]


class _SafeWriter:
    def __init__(self, fh: IO[str]) -> None:
        self._w = csv.writer(fh, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([neutralise_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(fh: IO[str]) -> _SafeWriter:
    """A csv.writer-like object for an open text file (opened with ``newline=""``)."""
    return _SafeWriter(fh)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Iterable[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = safe_writer(fh)
        w.writerow(header)
        w.writerows(rows)
