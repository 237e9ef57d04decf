"""Reading the log file line by line, below both the log and its index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

__all__ = ["raw_lines", "read_lines"]


def raw_lines(path: Path, offset: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` of each whole line from ``offset``; split on ``\n`` only."""
    if not Path(path).exists():
        return
    with open(path, "rb") as fh:
        fh.seek(offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                return              # a line still being written
            yield offset, raw[:-1]
            offset += len(raw)


def read_lines(path: Path, offset: int = 0) -> Iterator[tuple[int, str]]:
    """``(offset, text)`` of each line: never split on U+2028, U+2029 or U+0085."""
    for off, raw in raw_lines(path, offset):
        yield off, raw.decode("utf-8", "replace")
