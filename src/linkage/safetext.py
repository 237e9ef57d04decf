"""Untrusted text made inert before it reaches a terminal, a spreadsheet or a file.

Quarantined cells are, by definition, the worst text an agency sent: control
characters, undecodable bytes, would-be spreadsheet formulas. Every output
that shows them (the CLI's tables, CSV on stdout, the export sent back to the
agency, the API's CSV) goes through ``visible`` and, for CSV, ``neutralise``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from linkage.validation.text import looks_like_formula

__all__ = ["BIDI", "attachment", "csv_text", "neutralise", "visible", "write_private_csv"]

# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional marks and
# overrides that reorder what a reader sees.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_HIDDEN = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ufeff{BIDI}]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# OWASP CSV injection: cells a spreadsheet would read as a formula or a DDE call.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")


def attachment(*parts: str, ext: str) -> str:
    """A ``Content-Disposition`` value naming a download from ``parts`` (a filter the person typed,
    a pseudonym): ASCII letters, digits, ``-`` and ``_`` only. Response headers are Latin-1, so a
    name in another script failed the download with a 500 (``str.isalnum`` let any script's letters
    through); a quote or a line break would end or split the header."""
    stem = "-".join(_NOT_NAME.sub("_", p) for p in parts if p)[:80] or "download"
    return f'attachment; filename="{stem}.{_NOT_NAME.sub("", ext)}"'


def visible(value: Any) -> str:
    """``value`` as text with every invisible or terminal-controlling character written out
    (``\\x1b``, ``\\u202e``); bytes that were not valid in the file's encoding as ``\\xNN``."""
    if value is None:
        return ""
    text = str(value)
    text = _SURROGATE.sub(lambda m: (f"\\x{ord(m.group()) - 0xDC00:02x}" if 0xDC80 <= ord(m.group()) <= 0xDCFF
                                     else f"\\u{ord(m.group()):04x}"), text)
    return _HIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", text)


# Text that is already inert: ASCII, starting with a letter or digit (only the start can
# make a formula), nothing hidden. Most cells of an export (names, dates, counts,
# postcodes) are this, and pass as they are.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ,./()&_:'-]*\Z")


def neutralise(value: Any) -> str:
    """A CSV cell no spreadsheet will evaluate: a leading ``'`` before any cell that starts
    (as written, or once Unicode-normalised, e.g. a full-width ``＝``) with = + - @ tab or CR."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if _PLAIN.match(text):
        return text
    return _neutralised(value)


# Characters drawn as nothing or as blank space: format characters (zero-width space and joiners,
# word joiner, soft hyphen, Mongolian vowel separator), every kind of space, and the fillers
# (Hangul, braille blank, Khmer inherent vowels, the combining grapheme joiner). LibreOffice 7.4
# (probed: formulas evaluated, spaces trimmed or not) runs none of "\u200b=1+1" and the like, but a
# reader sees "=1+1" and another program may strip what it cannot draw: such a cell gets the ``'`` too.
_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")


def _unseen_lead(text: str) -> str:
    """``text`` without the characters before its first visible one."""
    for i, ch in enumerate(text):
        if ch not in _FILLERS and unicodedata.category(ch) not in ("Cf", "Zs", "Zl", "Zp"):
            return text[i:]
    return ""


def _neutralised(value: Any) -> str:
    text = visible(value)
    # visible() has already written tab and CR out; the check still looks at the raw
    # value so the rule holds even for a caller that skips visible(). The ingest check
    # (after spaces, quotes and Unicode folding) is the one rule for what is a formula.
    raw = str(value) if value is not None else ""
    for form in (raw, text, unicodedata.normalize("NFKC", text), _unseen_lead(raw)):
        stripped = form.lstrip(" ")
        if form.startswith(_FORMULA_START) or stripped.startswith(_FORMULA_START) or looks_like_formula(form):
            return "'" + text
    return text


def _writer(fh) -> Any:
    return csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with LF line endings, every cell neutralised (headers too: they can come from a file)."""
    buf = io.StringIO()
    w = _writer(buf)
    w.writerow([neutralise(h) for h in header])
    for row in rows:
        w.writerow([neutralise(c) for c in row])
    return buf.getvalue()


def write_private_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``csv_text`` to ``path`` as a new file readable by its owner only, replacing (never
    writing through) whatever was there (``files.write_private``). Returns the number of rows."""
    from linkage.files import write_private

    rows = list(rows)
    write_private(path, csv_text(header, rows))
    return len(rows)
