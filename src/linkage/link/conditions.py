"""Splink comparison-level conditions, compiled from their SQL into Python.

An interactive lookup scores a query against a few dozen candidates. Sending
them through DuckDB costs several statements per request; evaluating the
model's own level conditions in Python costs microseconds. The SQL is parsed
with sqlglot (already a Splink dependency) and each node becomes a closure with
SQL's three-valued logic: NULL propagates, and a NULL condition is not met.

Only the operators and functions our models use are supported; anything else
raises ``UnsupportedCondition`` and the caller keeps the SQL path. Functions
follow DuckDB exactly (byte-wise string distances; ``jaro_winkler_similarity``
of two empty strings is 0), and a property test checks them against DuckDB.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import sqlglot
import sqlglot.expressions as exp
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

from linkage.errors import LinkageError

__all__ = ["Condition", "UnsupportedCondition", "compile_condition", "condition_columns"]

# (left row, right row) -> True, False or None (SQL NULL)
Condition = Callable[[Sequence[Any], Sequence[Any]], Any]


class UnsupportedCondition(LinkageError):
    """The condition uses SQL this module does not evaluate; score it in SQL instead."""


def jaro_winkler(a: str, b: str) -> float:
    return 0.0 if not a and not b else JaroWinkler.similarity(a.encode(), b.encode())


def damerau_levenshtein(a: str, b: str) -> int:
    return DamerauLevenshtein.distance(a.encode(), b.encode())


def levenshtein(a: str, b: str) -> int:
    return Levenshtein.distance(a.encode(), b.encode())


def list_has_any(a: Sequence, b: Sequence) -> bool:
    return not {x for x in a if x is not None}.isdisjoint(b)


def split_part(s: str, sep: str, index: int) -> str:
    if not sep or index < 1:
        raise UnsupportedCondition("split_part with an empty separator or a non-positive index")
    parts = s.split(sep)
    return parts[index - 1] if index <= len(parts) else ""


_COMPARE = {exp.EQ: operator.eq, exp.NEQ: operator.ne, exp.GTE: operator.ge, exp.LTE: operator.le,
            exp.GT: operator.gt, exp.LT: operator.lt}
_FUNCTIONS: dict[type, Callable] = {
    exp.JarowinklerSimilarity: jaro_winkler, exp.Levenshtein: levenshtein, exp.ArrayOverlaps: list_has_any,
    exp.Year: lambda d: d.year, exp.Month: lambda d: d.month, exp.Day: lambda d: d.day, exp.Abs: abs,
}
_ANONYMOUS = {"damerau_levenshtein": damerau_levenshtein, "list_has_any": list_has_any,
              "jaro_winkler_similarity": jaro_winkler, "levenshtein": levenshtein}


def _strict(fn: Callable, args: list[Condition]) -> Condition:
    """A SQL function: NULL in, NULL out."""
    if len(args) == 1:
        (a,) = args
        return lambda l, r: None if (x := a(l, r)) is None else fn(x)
    if len(args) == 2:
        a, b = args
        return lambda l, r: None if (x := a(l, r)) is None or (y := b(l, r)) is None else fn(x, y)

    def call(l, r):
        values = [f(l, r) for f in args]
        return None if any(v is None for v in values) else fn(*values)
    return call


def _junction(a: Condition, b: Condition, decisive: bool) -> Condition:
    """SQL's AND (``decisive=False``) or OR (``decisive=True``): a decisive side wins, else NULL if
    either side is NULL."""
    def f(l, r):
        x = a(l, r)
        if x is decisive:
            return decisive
        y = b(l, r)
        if y is decisive:
            return decisive
        return None if x is None or y is None else not decisive
    return f


def _compile(node: exp.Expression, index: dict[str, int]) -> Condition:
    if isinstance(node, exp.Paren):
        return _compile(node.this, index)
    if isinstance(node, exp.Column):
        name = node.name
        side, column = name[-2:], name[:-2]
        if side not in ("_l", "_r") or column not in index:
            raise UnsupportedCondition(f"unknown column {name!r}")
        i = index[column]
        return (lambda l, r: l[i]) if side == "_l" else (lambda l, r: r[i])
    if isinstance(node, exp.Literal):
        value = node.this if node.is_string else (int(node.this) if node.this.lstrip("-").isdigit()
                                                  else float(node.this))
        return lambda l, r: value
    if isinstance(node, exp.Boolean):
        value = bool(node.this)
        return lambda l, r: value
    if isinstance(node, exp.Null):
        return lambda l, r: None
    if isinstance(node, exp.And):
        return _junction(_compile(node.this, index), _compile(node.expression, index), False)
    if isinstance(node, exp.Or):
        return _junction(_compile(node.this, index), _compile(node.expression, index), True)
    if isinstance(node, exp.Not):
        inner = _compile(node.this, index)
        return lambda l, r: None if (x := inner(l, r)) is None else not x
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        inner = _compile(node.this, index)
        return lambda l, r: inner(l, r) is None
    if type(node) in _COMPARE:
        return _strict(_COMPARE[type(node)], [_compile(node.this, index), _compile(node.expression, index)])
    if isinstance(node, exp.SplitPart):
        return _strict(split_part, [_compile(node.this, index), _compile(node.args["delimiter"], index),
                                    _compile(node.args["part_index"], index)])
    if isinstance(node, exp.DateDiff):
        if (node.unit.name if node.unit else "").upper() != "DAY":
            raise UnsupportedCondition("date_diff other than in days")
        return _strict(lambda end, start: (end - start).days,
                       [_compile(node.this, index), _compile(node.expression, index)])
    if type(node) in _FUNCTIONS:
        args = [node.this] + ([node.expression] if node.expression else [])
        return _strict(_FUNCTIONS[type(node)], [_compile(a, index) for a in args])
    if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS:
        return _strict(_ANONYMOUS[node.name.lower()], [_compile(a, index) for a in node.expressions])
    raise UnsupportedCondition(f"cannot evaluate {node.sql('duckdb')!r} in Python")


def compile_condition(sql: str, index: dict[str, int]) -> Condition:
    """``sql`` over ``<column>_l``/``<column>_r``; rows are sequences laid out by ``index``."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise UnsupportedCondition(f"cannot parse {sql!r}: {exc}") from None
    return _compile(tree, index)


def condition_columns(sql: str) -> set[str]:
    """The input columns a condition reads (without the _l/_r suffix); empty if unparseable."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return set()
    return {c.name[:-2] for c in tree.find_all(exp.Column) if c.name[-2:] in ("_l", "_r")}
