"""One in-memory DuckDB connection for a property test's examples, emptied before each one.

Opening a connection costs DuckDB about 15 ms of CPU (and far more wall on a loaded machine), more
than the few-row queries of an example, and hypothesis runs hundreds of examples a test. The
connection is handed back empty: every table, view and registered frame an earlier example made
is dropped first, so no example reads another's rows (an unqualified ``CREATE TABLE`` of a name
left over would fail, not pass)."""

from __future__ import annotations

import duckdb

_OPEN: dict[int | None, duckdb.DuckDBPyConnection] = {}


def example_connection(threads: int | None = 1) -> duckdb.DuckDBPyConnection:
    """An empty in-memory connection (``threads``: DuckDB's, None for its default), shared by
    every caller asking for the same; never close it."""
    con = _OPEN.get(threads)
    if con is None:
        con = _OPEN[threads] = duckdb.connect(config={"threads": threads} if threads else {})
    for database, schema, name, temporary in con.execute(
            "SELECT database_name, schema_name, view_name, temporary FROM duckdb_views() WHERE NOT internal").fetchall():
        if temporary:
            con.unregister(name)            # a frame registered by ``con.register``
        else:
            con.execute(f'DROP VIEW IF EXISTS "{database}"."{schema}"."{name}"')
    for database, schema, name in con.execute(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables()").fetchall():
        con.execute(f'DROP TABLE IF EXISTS "{database}"."{schema}"."{name}"')
    left = con.execute("SELECT (SELECT count(*) FROM duckdb_tables()) + "
                       "(SELECT count(*) FROM duckdb_views() WHERE NOT internal)").fetchone()[0]
    assert left == 0, "an example's tables outlived it"
    return con
