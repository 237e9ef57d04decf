"""Why the model scored a pair as it did: Splink's waterfall for one pair of records.

``explain_pair`` scores the pair afresh with the saved model (``linker.inference.score_pair``)
on a private in-memory DuckDB connection, with the term frequencies saved by the last run, so
it needs neither the store's connection nor every record, and a read-only server can do it too;
it also draws Splink's chart. It builds a Linker and runs Splink's SQL each time (about a second),
too slow for a page. ``Waterfall`` gives the same steps from one Linker built once per model:
the levels are found by the model's own conditions compiled to Python (``FastScorer``, as the
lookup scores), and each step's label and Bayes factor are Splink's own for that level, so a
test can hold the two to the same numbers.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd
from splink import DuckDBAPI, Linker
from splink.internals.misc import prob_to_bayes_factor
from splink.internals.waterfall_chart import records_to_waterfall_data

from linkage.link.engine import TF_COLUMNS
from linkage.link.scoring import FastScorer, probability
from linkage.store import registered

__all__ = ["Explanation", "Waterfall", "WaterfallStep", "explain_pair"]


@dataclass(frozen=True)
class WaterfallStep:
    comparison: str          # "Prior", a comparison's name, "tf_<column>" or "Final score"
    level: str               # the level the pair fell in
    value_l: str
    value_r: str
    bayes_factor: float
    match_weight: float      # log2 of the Bayes factor: this step's part of the weight
    cumulative: float        # the weight after this step


@dataclass(frozen=True)
class Explanation:
    steps: list[WaterfallStep]
    match_weight: float
    match_probability: float
    chart_html: str


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _linker(con: duckdb.DuckDBPyConnection, model_json: str, types: dict[str, str],
            rows: tuple[dict[str, Any], dict[str, Any]] | None) -> tuple[Linker, DuckDBAPI, list]:
    """A Linker for the saved model over two one-row tables (``rows``), or two empty ones;
    its database API and the two tables' frames."""
    settings = json.loads(model_json)
    settings["retain_intermediate_calculation_columns"] = True
    settings["retain_matching_columns"] = True
    api = DuckDBAPI(connection=con)
    frames = []
    for i in range(2):
        if rows is None:
            cols = ", ".join(f'CAST(NULL AS {typ}) AS "{c}"' for c, typ in types.items())
            con.execute(f"CREATE TABLE rec_{i} AS SELECT {cols} LIMIT 0")
        else:
            cols = ", ".join(f'CAST("{c}" AS {typ}) AS "{c}"' for c, typ in types.items())
            with registered(con, _row=pd.DataFrame([{k: _plain(v) for k, v in rows[i].items()}])):
                con.execute(f"CREATE TABLE rec_{i} AS SELECT {cols} FROM _row")
        frames.append(api.register(f"rec_{i}", table_name=f"rec_{i}"))
    # Splink's validation only logs, at WARNING, below the ERROR its loggers are held to here: a tenth
    # of a second of SQL parsing per Linker (each explanation's, the waterfall's at a server's start).
    return Linker(frames, settings, log_level=logging.ERROR, validate_settings=False), api, frames


def explain_pair(model_json: str, left: dict[str, Any], right: dict[str, Any], types: dict[str, str],
                 tf: pd.DataFrame, chart: bool = False) -> Explanation:
    """``left``/``right``: the two records' Splink input rows (``link_input``), ``types`` its column
    types; ``tf``: column_name, value, tf."""
    con = duckdb.connect(":memory:")
    try:
        linker, api, frames = _linker(con, model_json, types, (left, right))
        for col in TF_COLUMNS:
            part = tf[tf["column_name"] == col]
            table = pd.DataFrame({col: part["value"].tolist(), f"tf_{col}": part["tf"].astype(float).tolist()})
            if table.empty:   # Splink needs a lookup table of the right shape even when empty
                table = pd.DataFrame({col: pd.Series([], dtype=str), f"tf_{col}": pd.Series([], dtype=float)})
            linker.table_management.register_term_frequency_lookup(
                api.register(table, table_name=f"tf_{col}_lookup"), col)
        records = linker.inference.score_pair(frames[0], frames[1]).as_record_list()
        data = records_to_waterfall_data(records, linker._settings_obj, False)
        steps, total = [], 0.0
        for row in data:
            weight = float(row["log2_bayes_factor"] or 0.0)
            if row["column_name"] == "Final score":
                cumulative = weight
            else:
                total += weight
                cumulative = total
            steps.append(WaterfallStep(str(row["column_name"]), str(row["label_for_charts"]),
                                       str(row.get("value_l") or ""), str(row.get("value_r") or ""),
                                       float(row["bayes_factor"] or 1.0), weight, cumulative))
        html = linker.visualisations.waterfall_chart(records, filter_nulls=False).to_html(inline=True) if chart else ""
        return Explanation(steps, float(records[0]["match_weight"]), float(records[0]["match_probability"]), html)
    finally:
        con.close()


@dataclass(frozen=True)
class _Level:
    label: str
    bayes_factor: float
    match_weight: float
    tf_label: str                  # the term-frequency step's label at this level
    tf_column: str | None          # and the column whose values it shows


@dataclass(frozen=True)
class _Comparison:
    name: str
    levels: dict[int, _Level]      # by comparison vector value (-1: null)
    has_tf: bool                   # the waterfall has a term-frequency step for it
    columns: tuple[str, ...]       # the input columns its levels read, for the values shown


class Waterfall:
    """Splink's waterfall for any pair under one saved model, worked out in Python.

    Built once (one Linker on two empty tables, for the model's settings); ``explain`` then
    takes microseconds. ``compiled`` is False when a level's SQL has no Python equivalent:
    use ``explain_pair`` then. ``linker``: one already built for this model (the lookup's, at a
    server's start), whose settings are all that is read: no second Linker is built.
    """

    def __init__(self, model_json: str, types: dict[str, str], tf: pd.DataFrame,
                 linker: Linker | None = None) -> None:
        tables = {col: dict(zip(part["value"], part["tf"].astype(float)))
                  for col, part in tf.groupby("column_name") if col in TF_COLUMNS}
        con = duckdb.connect(":memory:") if linker is None else None
        try:
            linker = linker or _linker(con, model_json, types, None)[0]
            self.scorer = FastScorer(linker, tables)
            settings = linker._settings_obj
            self.prior_bayes_factor = float(prob_to_bayes_factor(settings._probability_two_random_records_match))
            self.comparisons = [self._comparison(c) for c in settings.comparisons]
        finally:
            if con is not None:
                con.close()
        self.compiled = self.scorer.compiled

    @staticmethod
    def _comparison(c) -> _Comparison:
        levels = {}
        for lv in c.comparison_levels:
            detail = lv._as_detailed_record(c._num_levels, c.comparison_levels).as_dict()
            label = str(detail["label_for_charts"])
            tf_input = lv._tf_adjustment_input_column
            tf_label = f"Term freq adjustment on {tf_input.input_name}" if lv._has_tf_adjustments else label
            levels[detail["comparison_vector_value"]] = _Level(
                label, float(detail["bayes_factor"] or 1.0), float(detail["log2_bayes_factor"] or 0.0), tf_label,
                tf_input.unquote().name if tf_input is not None else None)
        columns = tuple(ic.unquote().name for ic in c._input_columns_used_by_case_statement)
        return _Comparison(c.output_column_name, levels, c._has_tf_adjustments, columns)

    def explain(self, left: dict[str, Any], right: dict[str, Any]) -> Explanation:
        """``left``/``right``: the two records' Splink input rows, as ``explain_pair`` takes them."""
        cols = self.scorer.columns
        lrow, rrow = tuple(left[c] for c in cols), tuple(right[c] for c in cols)
        gammas = self.scorer.gammas(lrow, rrow)
        total = math.log2(self.prior_bayes_factor)
        steps = [WaterfallStep("Prior", "Starting match weight (prior)", "", "", self.prior_bayes_factor, total,
                               total)]
        for c in self.comparisons:
            g = gammas[c.name]
            lv = c.levels[g]
            total += lv.match_weight
            steps.append(WaterfallStep(c.name, lv.label, _values(left, c.columns), _values(right, c.columns),
                                       lv.bayes_factor, lv.match_weight, total))
            if c.has_tf:
                weight = self.scorer.tf_adjustment(c.name, g, lrow, rrow) or 0.0
                total += weight
                steps.append(WaterfallStep(f"tf_{c.name}", lv.tf_label, _values(left, (lv.tf_column,)),
                                           _values(right, (lv.tf_column,)), 2 ** weight if weight else 1.0,
                                           weight, total))
        steps.append(WaterfallStep("Final score", "Final score", "", "", 2 ** total, total, total))
        return Explanation(steps, total, probability(total), "")


def _values(row: dict[str, Any], columns: tuple[str | None, ...]) -> str:
    """As Splink's waterfall shows a step's values (its ``str``, "None" for a null)."""
    return ", ".join(str(row.get(c)) for c in columns if c)
