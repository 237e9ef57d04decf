"""Why the model scored a pair as it did: Splink's waterfall for one pair of records.

The pair is scored afresh with the saved model (``linker.inference.score_pair``) on a private
in-memory DuckDB connection, with the term frequencies saved by the last run, so it needs
neither the store's connection nor every record, and a read-only server can do it too.
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
from splink.internals.waterfall_chart import records_to_waterfall_data

from linkage.link.engine import TF_COLUMNS

__all__ = ["Explanation", "WaterfallStep", "explain_pair"]


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


def explain_pair(model_json: str, left: dict[str, Any], right: dict[str, Any], types: dict[str, str],
                 tf: pd.DataFrame, chart: bool = False) -> Explanation:
    """``left``/``right``: the two records' Splink input rows (``link_input``), ``types`` its column
    types; ``tf``: column_name, value, tf."""
    settings = json.loads(model_json)
    settings["retain_intermediate_calculation_columns"] = True
    settings["retain_matching_columns"] = True
    con = duckdb.connect(":memory:")
    try:
        api = DuckDBAPI(connection=con)
        frames = []
        for i, row in enumerate((left, right)):
            con.register("_row", pd.DataFrame([{k: _plain(v) for k, v in row.items()}]))
            cols = ", ".join(f'CAST("{c}" AS {typ}) AS "{c}"' for c, typ in types.items())
            con.execute(f"CREATE TABLE rec_{i} AS SELECT {cols} FROM _row")
            con.unregister("_row")
            frames.append(api.register(f"rec_{i}", table_name=f"rec_{i}"))
        linker = Linker(frames, settings, log_level=logging.ERROR)
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
