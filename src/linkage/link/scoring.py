"""Score a handful of candidate pairs fast, with exactly Splink's arithmetic.

Splink's ``score_pairs`` builds a 16,000-character SQL pipeline whose planning
alone takes about 10 ms, too slow for an interactive lookup. This module
evaluates the trained model's own comparison-level conditions in one flat
query, then adds Splink's match weights, term-frequency adjustments and prior
in Python. The numbers are read from the live Splink settings object (clamped
m and u, the exact-match u used for term frequencies), and a test checks every
score against ``score_pairs`` itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from splink import Linker

__all__ = ["FastScorer"]


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


class FastScorer:
    def __init__(self, linker: Linker, tf_tables: dict[str, dict[str, float]]) -> None:
        settings = linker._settings_obj
        self.prior_weight = math.log2(settings._probability_two_random_records_match
                                      / (1 - settings._probability_two_random_records_match))
        self.tf = tf_tables
        self.comparisons: dict[str, dict[int, _Level]] = {}
        cases = []
        for comp in settings.comparisons:
            levels = comp.comparison_levels
            table: dict[int, _Level] = {}
            whens = []
            for lv in levels:
                gamma = lv.comparison_vector_value
                if lv.is_null_level:
                    whens.append(f"WHEN {lv.sql_condition} THEN -1")
                    continue
                tf_col = lv._tf_adjustment_input_column.input_name if lv._has_tf_adjustments else None
                log2_u_exact = (math.log2(lv._u_probability_corresponding_to_exact_match(levels))
                                if tf_col and lv._tf_adjustment_weight and not lv._is_else_level else None)
                weight = lv._match_weight
                table[gamma] = _Level(gamma, weight if weight is not None else 0.0, tf_col,
                                      lv._tf_adjustment_weight, lv._tf_minimum_u_value, log2_u_exact,
                                      lv.label_for_charts or "", (weight or 0.0) > 0)
                whens.append(f"ELSE {gamma}" if lv._is_else_level else f"WHEN {lv.sql_condition} THEN {gamma}")
            name = comp.output_column_name
            self.comparisons[name] = table
            cases.append(f"CASE {' '.join(whens)} END AS gamma_{name}")
        self.gamma_sql = ", ".join(cases)

    def pair_sql(self, columns: list[str], left: str, right: str, extra: str = "") -> str:
        """One flat query: every candidate against the query row, as gamma values."""
        cols = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in columns)
        return (f"SELECT r.unique_id AS unique_id_r{extra}, {self.gamma_sql}, "
                "forename_l, forename_r, surname_l, surname_r "
                f"FROM (SELECT {cols}, r.* FROM {left} l CROSS JOIN {right} r) r")

    def _tf(self, column: str, left: str | None, right: str | None) -> float | None:
        table = self.tf.get(column, {})
        a, b = table.get(left) if left is not None else None, table.get(right) if right is not None else None
        if a is None and b is None:
            return None
        return max(x for x in (a, b) if x is not None)

    def weight(self, gammas: dict[str, int], values: dict[str, str | None]) -> tuple[float, float]:
        """(match weight, match probability), as Splink's predict computes them."""
        total = self.prior_weight
        for name, table in self.comparisons.items():
            g = gammas[name]
            if g == -1:
                continue
            lv = table[g]
            total += lv.weight
            if lv.log2_u_exact is not None:
                tf = self._tf(lv.tf_column, values.get(f"{lv.tf_column}_l"), values.get(f"{lv.tf_column}_r"))
                if tf is not None:
                    total += lv.tf_weight * (lv.log2_u_exact - math.log2(max(tf, lv.tf_min_u)))
        return total, 2 ** total / (1 + 2 ** total) if total < 1000 else 1.0

    def labels(self, gammas: dict[str, int]) -> tuple[dict[str, str], dict[str, str]]:
        agreed, disagreed = {}, {}
        for name, table in self.comparisons.items():
            g = gammas[name]
            if g >= 0:
                lv = table[g]
                (agreed if lv.positive else disagreed)[name] = lv.label
        return agreed, disagreed
