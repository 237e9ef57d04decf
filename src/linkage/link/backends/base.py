"""The seam between the link engine and the database Splink runs on.

The engine builds Splink's input and applies the twin guard in the store's DuckDB
whatever the backend; a backend only says where Splink itself runs: which
``DatabaseAPI``, how a prepared DuckDB table gets there, how scored pairs come back,
and how the model's SQL (written for DuckDB, the one dialect the store, the lookup
index and ``conditions.py`` read) is said in its dialect. Clustering, stable
identifiers and the one-transaction save then see the same pairs from any backend.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any

import duckdb
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.splink_dataframe import SplinkDataFrame

from linkage.errors import LinkageError

__all__ = ["MODEL_DIALECT", "LinkBackend"]

# The dialect of the model as stored (``model`` table, model.json) and read by the lookup.
MODEL_DIALECT = "duckdb"


class LinkBackend(ABC):
    """One database Splink can run on. A backend is opened once per engine (``bind``)
    and closed by whoever made it (a Spark session outlives one engine)."""

    name: str = ""
    sql_dialect: str = MODEL_DIALECT

    @abstractmethod
    def bind(self, con: duckdb.DuckDBPyConnection) -> DatabaseAPISubClass:
        """The Splink ``DatabaseAPI`` for an engine whose working tables live on ``con``."""

    @abstractmethod
    def upload(self, db_api: DatabaseAPISubClass, con: duckdb.DuckDBPyConnection, table: str,
               physical_name: str) -> SplinkDataFrame:
        """Give Splink the DuckDB table ``memory.<table>`` as ``physical_name``."""

    @abstractmethod
    def download(self, con: duckdb.DuckDBPyConnection, frame: SplinkDataFrame, columns: str, table: str) -> str:
        """Make ``columns`` of a Splink result readable in DuckDB; returns the relation to read."""

    def translate(self, sql: str) -> str:
        """One comparison level's or blocking rule's SQL, from ``MODEL_DIALECT`` to this backend's."""
        return sql

    def close(self) -> None:
        """Release what ``bind`` opened."""

    def explain(self, exc: BaseException) -> LinkageError | None:
        """A failure of this backend's own machinery as one line for the user, else None."""
        return None

    # -- the model in two dialects ---------------------------------------------
    def model_for_backend(self, model: dict[str, Any]) -> dict[str, Any]:
        """A model (settings dict in ``MODEL_DIALECT``) with its SQL said in this backend's dialect."""
        if self.sql_dialect == MODEL_DIALECT:
            return model
        out = copy.deepcopy(model)
        out.pop("sql_dialect", None)
        for comparison in out.get("comparisons", []):
            for level in comparison["comparison_levels"]:
                level["sql_condition"] = self.translate(level["sql_condition"])
        rules = []
        for rule in out.get("blocking_rules_to_generate_predictions", []):
            if isinstance(rule, dict):
                rule = {k: v for k, v in rule.items() if k != "sql_dialect"}
                rule["blocking_rule"] = self.translate(rule["blocking_rule"])
            else:
                rule = self.translate(rule)
            rules.append(rule)
        out["blocking_rules_to_generate_predictions"] = rules
        return out

    def model_from_backend(self, trained: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
        """A model trained here, back in ``MODEL_DIALECT``: the parameters Splink learnt, with
        ``original``'s SQL (the levels are in the same order, only their SQL was translated)."""
        if self.sql_dialect == MODEL_DIALECT:
            return trained
        out = copy.deepcopy(trained)
        for comparison, source in zip(out["comparisons"], original["comparisons"], strict=True):
            for level, src in zip(comparison["comparison_levels"], source["comparison_levels"], strict=True):
                level["sql_condition"] = src["sql_condition"]
        out["blocking_rules_to_generate_predictions"] = copy.deepcopy(
            original["blocking_rules_to_generate_predictions"])
        out["sql_dialect"] = MODEL_DIALECT
        return out
