"""Splink comparison-level conditions, compiled from their SQL into Python.

An interactive lookup scores a query against a few dozen candidates. Sending
them through DuckDB costs several statements per request; evaluating the
model's own level conditions in Python costs microseconds. The SQL is parsed
with sqlglot (already a Splink dependency) and each condition becomes one Python
function (its nodes written out as one expression) with SQL's three-valued logic:
NULL propagates, and a NULL condition is not met.

Only the operators and functions our models use are supported; anything else
raises ``UnsupportedCondition`` and the caller keeps the SQL path. Functions
follow DuckDB exactly (byte-wise string distances; ``jaro_winkler_similarity``
of two empty strings is 0), and a property test checks them against DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlglot
import sqlglot.expressions as exp
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

from linkage.errors import LinkageError

__all__ = ["Condition", "UnsupportedCondition", "compile_condition", "condition_columns", "null_on_the_left"]

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
    """Whether the lists share a non-NULL element. Name-key lists hold a handful of items: a
    plain scan beats building a set on every call."""
    for x in a:
        if x is not None and x in b:
            return True
    return False


def split_part(s: str, sep: str, index: int) -> str:
    if not sep or index < 1:
        raise UnsupportedCondition("split_part with an empty separator or a non-positive index")
    parts = s.split(sep)
    return parts[index - 1] if index <= len(parts) else ""


_FUNCTIONS: dict[type, Callable] = {
    exp.JarowinklerSimilarity: jaro_winkler, exp.Levenshtein: levenshtein, exp.ArrayOverlaps: list_has_any,
    exp.Year: lambda d: d.year, exp.Month: lambda d: d.month, exp.Day: lambda d: d.day, exp.Abs: abs,
}
_ANONYMOUS = {"damerau_levenshtein": damerau_levenshtein, "list_has_any": list_has_any,
              "jaro_winkler_similarity": jaro_winkler, "levenshtein": levenshtein}


_INFIX = {exp.EQ: "==", exp.NEQ: "!=", exp.GTE: ">=", exp.LTE: "<=", exp.GT: ">", exp.LT: "<"}


class _Source:
    """One condition as one Python expression over ``l`` and ``r`` (three-valued: True, False or
    None), compiled into a single function: a lookup calls each condition for every candidate,
    and one call per condition costs a fraction of a call per node of its SQL.

    Only this module's own text reaches the source: column positions (ints), temporaries and
    bound names it makes up; every literal and function is a bound name, never spliced in."""

    def __init__(self, index: dict[str, int]) -> None:
        self.index = index
        self.bound: dict[str, Any] = {}
        self.temps = 0

    def bind(self, value: Any) -> str:
        name = f"_b{len(self.bound)}"
        self.bound[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def strict(self, args: list[str], call: Callable[[list[str]], str]) -> str:
        """A SQL function or operator: NULL if any argument is NULL (each taken once, in order)."""
        names = [self.temp() for _ in args]
        nulls = " or ".join(f"({n} := {a}) is None" for n, a in zip(names, args))
        return f"(None if {nulls} else {call(names)})"

    def junction(self, a: str, b: str, decisive: bool) -> str:
        """SQL's AND (``decisive=False``) or OR (``decisive=True``): a decisive side wins (the right
        side is not evaluated when the left is), else NULL if either side is NULL."""
        x, y, d = self.temp(), self.temp(), repr(decisive)
        return (f"({d} if ({x} := {a}) is {d} else {d} if ({y} := {b}) is {d} "
                f"else None if {x} is None or {y} is None else {not decisive!r})")

    def function(self, fn: Callable, args: list[str]) -> str:
        name = self.bind(fn)
        return self.strict(args, lambda ns: f"{name}({', '.join(ns)})")

    def expr(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Paren):
            return self.expr(node.this)
        if isinstance(node, exp.Column):
            name = node.name
            side, column = name[-2:], name[:-2]
            if side not in ("_l", "_r") or column not in self.index:
                raise UnsupportedCondition(f"unknown column {name!r}")
            return f"{side[1]}[{int(self.index[column])}]"
        if isinstance(node, exp.Literal):
            return self.bind(node.this if node.is_string else (int(node.this) if node.this.lstrip("-").isdigit()
                                                               else float(node.this)))
        if isinstance(node, exp.Boolean):
            return repr(bool(node.this))
        if isinstance(node, exp.Null):
            return "None"
        if isinstance(node, (exp.And, exp.Or)):
            return self.junction(self.expr(node.this), self.expr(node.expression), isinstance(node, exp.Or))
        if isinstance(node, exp.Not):
            x = self.temp()
            return f"(None if ({x} := {self.expr(node.this)}) is None else not {x})"
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            return f"({self.expr(node.this)} is None)"
        if type(node) in _INFIX:
            op = _INFIX[type(node)]
            return self.strict([self.expr(node.this), self.expr(node.expression)], lambda ns: f" {op} ".join(ns))
        if isinstance(node, exp.SplitPart):
            return self.function(split_part, [self.expr(node.this), self.expr(node.args["delimiter"]),
                                              self.expr(node.args["part_index"])])
        if isinstance(node, exp.DateDiff):
            if (node.unit.name if node.unit else "").upper() != "DAY":
                raise UnsupportedCondition("date_diff other than in days")
            return self.strict([self.expr(node.this), self.expr(node.expression)],
                               lambda ns: f"({ns[0]} - {ns[1]}).days")
        if type(node) in _FUNCTIONS:
            args = [node.this] + ([node.expression] if node.expression else [])
            return self.function(_FUNCTIONS[type(node)], [self.expr(a) for a in args])
        if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS:
            return self.function(_ANONYMOUS[node.name.lower()], [self.expr(a) for a in node.expressions])
        raise UnsupportedCondition(f"cannot evaluate {node.sql('duckdb')!r} in Python")

    def function_of(self, tree: exp.Expression, sql: str) -> Condition:
        body = self.expr(tree)
        namespace = dict(self.bound)
        try:
            exec(compile(f"def condition(l, r):\n    return {body}\n", "<condition>", "exec"), namespace)
        except (SyntaxError, RecursionError, MemoryError) as exc:      # nested deeper than Python parses
            raise UnsupportedCondition(f"cannot compile {sql!r} to Python: {exc}") from None
        fn = namespace["condition"]
        fn.__doc__ = sql
        return fn


def compile_condition(sql: str, index: dict[str, int]) -> Condition:
    """``sql`` over ``<column>_l``/``<column>_r``; rows are sequences laid out by ``index``."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise UnsupportedCondition(f"cannot parse {sql!r}: {exc}") from None
    return _Source(index).function_of(tree, sql)


def condition_columns(sql: str) -> set[str]:
    """The input columns a condition reads (without the _l/_r suffix); empty if unparseable."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return set()
    return {c.name[:-2] for c in tree.find_all(exp.Column) if c.name[-2:] in ("_l", "_r")}


def null_on_the_left(sql: str) -> set[str]:
    """Columns whose NULL on the left side alone makes the condition true, whatever the right
    row holds: those tested by a ``<column>_l IS NULL`` that is the whole condition or one
    term of an OR (a true term makes SQL's OR true). Anything else gives nothing."""
    try:
        node = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return set()
    found, todo = set(), [node]
    while todo:
        node = todo.pop()
        if isinstance(node, exp.Paren):
            todo.append(node.this)
        elif isinstance(node, exp.Or):
            todo += [node.this, node.expression]
        elif (isinstance(node, exp.Is) and isinstance(node.expression, exp.Null)
              and isinstance(node.this, exp.Column) and node.this.name.endswith("_l")):
            found.add(node.this.name[:-2])
    return found
