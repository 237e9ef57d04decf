"""One pass over a CSV extract's bytes: everything the ingest asks of the file before parsing it.

The ingest used to read a file five times before Arrow parsed it (its SHA-256, the UTF-8
check, the line count, the row-length check, the bytes for Arrow), about half a second of
a core for each 70 MB extract. ``scan`` reads it once, a chunk at a time, and keeps the
bytes for the parser only while every line so far is a whole row within ``limit``: a row
that never ends (one endless line, or a quote never closed) still costs a chunk of memory,
not the file.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Scan", "read_ahead", "scan"]

_CHUNK = 1 << 22


@dataclass
class Scan:
    """What one read of a file found."""

    sha256: str
    size: int
    lines: int                   # line feeds
    bad_utf8: int | None         # offset of the first byte that is not UTF-8, or None
    wide: bool                   # any byte that is not ASCII
    whole_rows: bool             # every line within the limit, its quotes paired (no quoted line break)
    bare_cr: bool                # a carriage return not followed by a line feed
    head: bytes = b""            # the first 4 KB (a byte-order mark, a workbook's signature)
    data: bytes | None = None    # the bytes, when ``whole_rows`` (for the parser; taken with ``take``)

    def take(self) -> bytes | None:
        """The file's bytes, once: the scan lets go of them (a million rows' extract is 70 MB)."""
        data, self.data = self.data, None
        return data


def read_ahead(paths: Iterable[Path]) -> threading.Thread:
    """Ask the kernel to read these files into the page cache now (``POSIX_FADV_WILLNEED``), in
    order, on a thread of its own (a request can block while the disk's queue is full). An extract
    that has sat unread is on disk, not in memory (this machine pages out what went unread for a
    minute), and read a chunk at a time, its disk wait and its parse take turns (a cold 1M
    ingest reads 138 MiB, about 2 s at this disk's 60 MB/s). Asked first, each file's read can
    overlap the scan and store of those before it. A file that cannot be opened is left to the
    read that will say why."""
    def ask() -> None:
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            _advise(fd)

    paths = [Path(p) for p in paths]
    thread = threading.Thread(target=ask, name="read-ahead", daemon=True)
    thread.start()
    return thread


def _advise(fd: int) -> None:
    """``POSIX_FADV_WILLNEED`` for the whole of ``fd``'s file, then ``fd`` closed."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def scan(path: Path, limit: int, chunk: int = _CHUNK) -> Scan:
    """Read ``path`` once: its SHA-256, size, line count, UTF-8 validity, whether every line is
    a whole row no longer than ``limit`` bytes, bare carriage returns, and (if whole rows) its bytes."""
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    kept: list[bytes] | None = []
    size = lines = 0
    bad: int | None = None
    wide = bare_cr = False
    run, odd = 0, 0              # bytes of the line still open at the chunk's end; its quotes' parity
    last_cr = False              # the chunk before ended with a carriage return
    with open(path, "rb") as fh:
        # its disk read asked for whole, beside this one's hashing and counting (not a second open)
        threading.Thread(target=_advise, args=(os.dup(fh.fileno()),), name="read-ahead", daemon=True).start()
        head = fh.read(4096)
        fh.seek(0)
        while block := fh.read(chunk):
            sha.update(block)
            ascii_ = block.isascii()
            if bad is None and not (ascii_ and not decoder.getstate()[0]):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    bad = size + exc.start - len(decoder.getstate()[0])
            wide = wide or not ascii_
            crs = block.count(b"\r")
            if last_cr and not block.startswith(b"\n"):
                bare_cr = True
            if crs:
                pairs = block.count(b"\r\n")
                bare_cr = bare_cr or crs - pairs - block.endswith(b"\r") > 0
            last_cr = block.endswith(b"\r")
            raw = np.frombuffer(block, np.uint8)
            ends = np.flatnonzero(raw == 0x0A)
            lines += len(ends)
            if kept is not None:
                quotes = np.flatnonzero(raw == 0x22)
                if len(ends):
                    if run + int(ends[0]) > limit or (len(ends) > 1 and int(np.diff(ends).max()) - 1 > limit):
                        kept = None
                    # quotes since the file began, at each line's end: odd opens a quoted line break
                    elif ((np.searchsorted(quotes, ends) + odd) & 1).any():
                        kept = None
                    run = len(block) - int(ends[-1]) - 1
                else:
                    run += len(block)
                odd = (odd + len(quotes)) & 1
                if run > limit:
                    kept = None
                if kept is not None:
                    kept.append(block)
            size += len(block)
    if bad is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad = size - len(decoder.getstate()[0])
    if last_cr:
        bare_cr = True
    whole = kept is not None and odd == 0
    return Scan(sha.hexdigest(), size, lines, bad, wide, whole, bare_cr, head,
                (kept[0] if len(kept) == 1 else b"".join(kept)) if whole else None)
