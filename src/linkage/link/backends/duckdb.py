"""Splink on the store's own DuckDB connection: the default, nothing leaves the process."""

from __future__ import annotations

import duckdb
from splink import DuckDBAPI
from splink.internals.splink_dataframe import SplinkDataFrame

from linkage.link.backends.base import LinkBackend

__all__ = ["DuckDBBackend"]


class DuckDBBackend(LinkBackend):
    name = "duckdb"
    sql_dialect = "duckdb"

    def bind(self, con: duckdb.DuckDBPyConnection) -> DuckDBAPI:
        return DuckDBAPI(connection=con)

    def upload(self, db_api: DuckDBAPI, con: duckdb.DuckDBPyConnection, table: str,
               physical_name: str) -> SplinkDataFrame:
        return db_api.register(table, table_name=physical_name)

    def download(self, con: duckdb.DuckDBPyConnection, frame: SplinkDataFrame, columns: str, table: str) -> str:
        return f"(SELECT {columns} FROM {frame.physical_name})"
