"""Score a handful of candidate pairs fast, with exactly Splink's arithmetic.

Splink's ``score_pairs`` builds a 16,000-character SQL pipeline whose planning
alone takes about 10 ms, too slow for an interactive lookup. This module
evaluates the trained model's own comparison-level conditions in Python
(compiled from their SQL by ``conditions``), then adds Splink's match weights,
term-frequency adjustments and prior. The numbers are read from the live
Splink settings object (clamped m and u, the exact-match u used for term
frequencies), and a test checks every score against ``score_pairs`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from splink import Linker

from linkage.link.conditions import (Condition, UnsupportedCondition, compile_condition, condition_columns,
                                     null_on_the_left)
from linkage.link.uestimate import widened

__all__ = ["FastScorer", "UnsupportedCondition", "match_weight", "probability"]


def probability(weight: float) -> float:
    """A match weight as a probability, as Splink's predict computes it."""
    return 2 ** weight / (1 + 2 ** weight) if weight < 1000 else 1.0


def match_weight(p: float) -> float:
    """log2 of the odds: a probability back as Splink's match weight (clamped, so 0 and 1 are finite)."""
    p = min(max(p, 1e-15), 1 - 1e-15)
    return math.log2(p / (1 - p))


def _ELSE(left: Sequence[Any], right: Sequence[Any]) -> bool:
    return True


def _steps(levels: list[tuple[int, Any]], most: dict[int, float]) -> list[tuple[int, Any, float]]:
    """A comparison's tests, each with the best weight of its level and those after it (0 for null)."""
    steps, after = [], -math.inf
    for gamma, cond in reversed(levels):
        after = max(after, most.get(gamma, 0.0))
        steps.append((gamma, cond, after))
    return steps[::-1]


@dataclass(frozen=True)
class _Level:
    gamma: int
    weight: float
    tf_column: str | None
    tf_weight: float
    tf_min_u: float
    log2_u_exact: float | None
    label: str
    positive: bool



def _as_written(level) -> str:
    """A level's SQL as the model states it: Splink may run it narrowed (``uestimate.narrowed``),
    which the Python conditions do not read."""
    return widened(level.sql_condition)

class FastScorer:
    """Levels, weights and labels of a trained model; gammas in Python where the SQL allows.

    Rows given to ``gammas`` and ``weight`` start with ``columns``, in that order (more
    fields may follow). If a level's SQL cannot be evaluated in Python, ``compiled`` is
    False and only ``labels`` and ``weight`` are usable.
    """

    def __init__(self, linker: Linker, tf_tables: dict[str, dict[str, float]]) -> None:
        settings = linker._settings_obj
        self.prior_weight = math.log2(settings._probability_two_random_records_match
                                      / (1 - settings._probability_two_random_records_match))
        self.tf = tf_tables
        needed = {lv._tf_adjustment_input_column.input_name
                  for comp in settings.comparisons for lv in comp.comparison_levels if lv._has_tf_adjustments}
        for comp in settings.comparisons:
            for lv in comp.comparison_levels:
                if not lv._is_else_level:
                    needed |= condition_columns(_as_written(lv))
        self.columns = sorted(needed)
        self.index = {c: i for i, c in enumerate(self.columns)}
        self.comparisons: dict[str, dict[int, _Level]] = {}
        self._conditions: list[tuple[str, list[tuple[int, Condition | None]]]] = []
        self.compiled = True
        for comp in settings.comparisons:
            levels = comp.comparison_levels
            table: dict[int, _Level] = {}
            steps: list[tuple[int, Condition | None]] = []
            for lv in levels:
                gamma = -1 if lv.is_null_level else lv.comparison_vector_value
                steps.append((gamma, _ELSE if lv._is_else_level else self._compile(_as_written(lv))))
                if lv.is_null_level:
                    continue
                tf_col = lv._tf_adjustment_input_column.input_name if lv._has_tf_adjustments else None
                log2_u_exact = (math.log2(lv._u_probability_corresponding_to_exact_match(levels))
                                if tf_col and lv._tf_adjustment_weight and not lv._is_else_level else None)
                weight = lv._match_weight
                table[gamma] = _Level(gamma, weight if weight is not None else 0.0, tf_col,
                                      lv._tf_adjustment_weight, lv._tf_minimum_u_value, log2_u_exact,
                                      lv.label_for_charts or "", (weight or 0.0) > 0)
            self.comparisons[comp.output_column_name] = table
            self._conditions.append((comp.output_column_name, steps))
        # ``bounded`` judges the comparisons that can move a weight most first, so a hopeless
        # candidate is given up after one or two of them.
        spread = {name: max([0.0] + [lv.weight for lv in table.values()])
                  - min([0.0] + [lv.weight for lv in table.values()]) for name, table in self.comparisons.items()}
        self._bounded_order = sorted(self._conditions, key=lambda c: -spread[c[0]])
        # Per comparison: the best weight of its levels without a term-frequency adjustment (0 for
        # its null level), and the levels with one, for ``ceilings`` to bound against the query.
        self._ceilings = []
        for name, _ in self._bounded_order:
            fixed, adjusted = {}, []
            for lv in self.comparisons[name].values():
                table = self.tf.get(lv.tf_column, {}) if lv.log2_u_exact is not None else {}
                fixed[lv.gamma] = lv.weight
                if table:
                    low, high = max(min(table.values()), lv.tf_min_u), max(max(table.values()), lv.tf_min_u)
                    adjusted.append((lv, table, low, high))
            self._ceilings.append((fixed, adjusted))
        self._static_steps = [_steps(levels, fixed) for (_, levels), (fixed, _) in zip(self._bounded_order,
                                                                                         self._ceilings)]
        # The columns each comparison's null level reads: when the query has none of them, that
        # comparison is (most likely) null against every row, and cheap to judge first. And those
        # whose NULL in the query alone makes it null against every row: it is then not judged.
        nulls = {comp.output_column_name: next((_as_written(lv) for lv in comp.comparison_levels
                                                if lv.is_null_level), None) for comp in settings.comparisons}
        self._null_columns = [sorted(condition_columns(nulls[name]) & set(self.index)) if nulls[name] else []
                              for name, _ in self._bounded_order]
        self._null_alone = [sorted(null_on_the_left(nulls[name]) & set(self.index)) if nulls[name] else []
                            for name, _ in self._bounded_order]

    def _compile(self, sql: str) -> Condition | None:
        try:
            return compile_condition(sql, self.index)
        except UnsupportedCondition:
            self.compiled = False
            return None

    def gammas(self, left: Sequence[Any], right: Sequence[Any]) -> dict[str, int]:
        """The comparison vector, as Splink's CASE expressions give it (first level met wins)."""
        if not self.compiled:
            raise UnsupportedCondition("this model's levels are scored in SQL, not here")
        out = {}
        for name, steps in self._conditions:
            for gamma, cond in steps:
                if cond(left, right) is True:
                    out[name] = gamma
                    break
        return out

    def _tf(self, column: str, left: str | None, right: str | None) -> float | None:
        table = self.tf.get(column, {})
        a, b = table.get(left) if left is not None else None, table.get(right) if right is not None else None
        if a is None and b is None:
            return None
        return max(x for x in (a, b) if x is not None)

    def tf_adjustment(self, name: str, gamma: int, left: Sequence[Any], right: Sequence[Any]) -> float | None:
        """The term-frequency part of comparison ``name``'s weight at level ``gamma`` (None: none)."""
        lv = self.comparisons[name].get(gamma)
        if lv is None or lv.log2_u_exact is None:
            return None
        i = self.index[lv.tf_column]
        tf = self._tf(lv.tf_column, left[i], right[i])
        return None if tf is None else lv.tf_weight * (lv.log2_u_exact - math.log2(max(tf, lv.tf_min_u)))

    def weight(self, gammas: dict[str, int], left: Sequence[Any], right: Sequence[Any]) -> tuple[float, float]:
        """(match weight, match probability), as Splink's predict computes them."""
        total = self.prior_weight
        for name, table in self.comparisons.items():
            g = gammas[name]
            if g == -1:
                continue
            total += table[g].weight
            if (adjustment := self.tf_adjustment(name, g, left, right)) is not None:
                total += adjustment
        return total, probability(total)

    def plan(self, left: Sequence[Any]) -> tuple[list[tuple], float, dict[str, int]]:
        """How ``bounded`` judges rows against ``left``: the comparisons in order, each with its
        levels' tests, each test with the most the comparison can still add if it is reached
        (the best level from there on, with the largest term-frequency adjustment ``left``
        allows; 0 for a null level); the comparison's most; what each level adds (its weight, and
        for a term-frequency level ``left``'s own frequency, read once here); the sum of the
        comparisons' most; and the comparisons ``left`` alone settles as null for every row (a NULL
        that their null level's OR tests on the left side): they add nothing and are not judged.

        The order only decides how soon a hopeless row is given up, never a score: first the
        comparisons ``left`` leaves empty (null for every row, settled by their first test),
        then those that can move a weight most."""
        order, settled = [], {}
        for (name, levels), (fixed, adjusted), empty, alone, static in zip(
                self._bounded_order, self._ceilings, self._null_columns, self._null_alone, self._static_steps):
            if any(left[self.index[c]] is None for c in alone):
                settled[name] = -1
                continue
            steps = static
            if adjusted:
                most = dict(fixed)
                for lv, table, low, high in adjusted:
                    value = left[self.index[lv.tf_column]]
                    # tf is the larger of the two sides' frequencies: never below left's own.
                    least = max(table.get(value, low) if value is not None else low, low)
                    adjust = lv.tf_weight * (lv.log2_u_exact - math.log2(least if lv.tf_weight >= 0 else high))
                    most[lv.gamma] = lv.weight + max(adjust, 0.0)
                steps = _steps(levels, most)
            adds = {}
            for lv in self.comparisons[name].values():
                tf = None
                if lv.log2_u_exact is not None:
                    i, table = self.index[lv.tf_column], self.tf.get(lv.tf_column, {})
                    tf = (i, table, table.get(left[i]) if left[i] is not None else None, lv)
                adds[lv.gamma] = (lv.weight, tf)
            order.append((name, steps, steps[0][2], adds,
                          bool(empty) and all(left[self.index[c]] is None for c in empty)))
        order.sort(key=lambda x: not x[4])        # stable: otherwise as ``_bounded_order``
        return [x[:4] for x in order], sum(x[2] for x in order), settled

    def bounded(self, left: Sequence[Any], right: Sequence[Any], plan: tuple[list[tuple], float, dict[str, int]],
                floor: float) -> tuple[dict[str, int], tuple[float, float]] | None:
        """``(gammas, weight(gammas, left, right))``, or None as soon as an upper bound on the weight
        (the comparisons judged so far, plus the ``plan``'s most for the rest, which falls as a
        comparison's better levels are not met) is at or below ``floor``. The weight returned is
        ``weight``'s own, to the last bit: the same terms, summed in ``weight``'s order."""
        order, rest, settled = plan
        total = self.prior_weight
        out, terms = dict(settled), {}
        for name, steps, most, adds in order:
            rest -= most
            for gamma, cond, still in steps:
                # The slack covers summing in another order than ``weight`` does.
                if total + rest + still + 1e-9 <= floor:
                    return None
                if cond(left, right) is True:
                    break
            out[name] = gamma
            if gamma != -1:
                weight, tf = adds[gamma]
                total += weight
                adjustment = None
                if tf is not None:          # as ``tf_adjustment``, with left's frequency from the plan
                    i, table, a, lv = tf
                    b = table.get(right[i]) if right[i] is not None else None
                    if a is not None or b is not None:
                        f = a if b is None else b if a is None else max(a, b)
                        adjustment = lv.tf_weight * (lv.log2_u_exact - math.log2(max(f, lv.tf_min_u)))
                        total += adjustment
                terms[name] = (weight, adjustment)
        exact = self.prior_weight
        for name in self.comparisons:
            if (term := terms.get(name)) is not None:
                exact += term[0]
                if term[1] is not None:
                    exact += term[1]
        return out, (exact, probability(exact))

    def labels(self, gammas: dict[str, int]) -> tuple[dict[str, str], dict[str, str]]:
        agreed, disagreed = {}, {}
        for name, table in self.comparisons.items():
            g = gammas[name]
            if g >= 0:
                lv = table[g]
                (agreed if lv.positive else disagreed)[name] = lv.label
        return agreed, disagreed
