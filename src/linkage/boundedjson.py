"""JSON from outside, parsed with a bound on its nesting.

Python's ``json`` recurses once per ``[`` or ``{``: a 40 KB body of ``[[[[...`` (or a bearer
token, or one line written into the audit log) raises ``RecursionError``, which is not a
``ValueError``, so every ``except ValueError`` around a parse let it through as a crash (a 500
with a traceback, a ``linkage audit verify`` that died instead of reporting). Everything the
service reads that someone else could have written goes through ``loads`` here, which refuses
such text as malformed (``TooDeep`` is a ``ValueError``) before the parser sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeep", "check_depth", "depth", "loads"]

MAX_DEPTH = 32      # the deepest document the service itself reads or writes is 5 levels

# The only characters that matter to nesting: quotes, backslash escapes, brackets. One pass.
_TOKENS = re.compile(r'\\.|["\[\]{}]', re.S)
_TOKENS_B = re.compile(rb'\\.|["\[\]{}]', re.S)


class TooDeep(ValueError):
    """JSON nested deeper than this service will parse."""


def _openers(text: str | bytes) -> int:
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")


def depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count)."""
    if isinstance(text, bytes):
        tokens = (m.group().decode("latin-1") for m in _TOKENS_B.finditer(text))
    else:
        tokens = (m.group() for m in _TOKENS.finditer(text))
    deepest = level = 0
    in_string = False
    for token in tokens:
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) > 1:        # inside a string, or an escape
            continue
        elif token in "[{":
            level += 1
            deepest = max(deepest, level)
        else:
            level -= 1
    return deepest


def check_depth(text: str | bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``TooDeep`` for text nested deeper than ``max_depth``; nearly free for ordinary text
    (fewer brackets than the limit cannot nest past it)."""
    if _openers(text) > max_depth and depth(text) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses, as a ``ValueError``, what would exhaust the parser's recursion."""
    check_depth(text, max_depth)
    try:
        return json.loads(text)
    except RecursionError:      # a limit above the interpreter's: still malformed, never a crash
        raise TooDeep("JSON nested too deeply") from None
