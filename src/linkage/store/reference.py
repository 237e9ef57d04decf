"""The reference tables: the establishment register and GP practices, with their loads.

Each load replaces the whole table in one transaction, so readers see the old
register or the new one, never a mixture. The server copies them into memory at
start-up, like the linked records, and reads them from there once the file is let go.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from linkage.store.db import Store, table_exists
from linkage.store.schema import DB, REFERENCE_TABLES, reference_ddl, t

__all__ = ["REFERENCE_TABLES", "copy_reference_to_memory", "current_loads", "reference_rows", "replace_reference"]


def replace_reference(store: Store, kind: str, rows: Sequence[dict[str, Any]], *, file_name: str,
                      sha256: str, rows_read: int, rejected: int) -> int:
    """Swap in a new register in one transaction; returns the load's id."""
    import pandas as pd  # only a load needs it; reading reference data is on every CLI command's path

    table = t(REFERENCE_TABLES[kind])
    with store.transaction():
        load_id = store.next_id(t("ref_loads"), "load_id")
        store.execute(f"INSERT INTO {t('ref_loads')} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [load_id, kind, file_name, sha256, datetime.now(timezone.utc).replace(tzinfo=None),
                       rows_read, len(rows), rejected])
        store.execute(f"DELETE FROM {table}")
        store.insert_df(table, pd.DataFrame(list(rows)).assign(load_id=load_id))
    return load_id


def _exists(con, table: str) -> bool:
    return table_exists(con, DB, table)


def reference_rows(con, kind: str, source: str = "store") -> list[dict[str, Any]]:
    """Every row of a reference table (``source`` "store" or "memory"); none when never loaded."""
    table = REFERENCE_TABLES[kind]
    if source == "store" and not _exists(con, table):
        return []       # a store made before reference data, opened read-only
    cur = con.execute(f"SELECT * EXCLUDE (load_id) FROM {source}.{table}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def copy_reference_to_memory(con) -> None:
    """``memory.ref_establishment`` and ``memory.ref_gp_practice``, empty if never loaded."""
    for table in REFERENCE_TABLES.values():
        if _exists(con, table):
            con.execute(f"CREATE OR REPLACE TABLE memory.{table} AS SELECT * FROM {t(table)}")
        else:
            con.execute(f"DROP TABLE IF EXISTS memory.{table}")
            con.execute(reference_ddl("memory")[table])


def current_loads(con) -> list[dict[str, Any]]:
    """The load each register now holds: kind, file, when, rows read, loaded and left out."""
    if not _exists(con, "ref_loads"):
        return []
    cur = con.execute(f"SELECT kind, file_name, loaded_at, rows_read, accepted, rejected, load_id "
                      f"FROM {t('ref_loads')} QUALIFY row_number() OVER (PARTITION BY kind ORDER BY load_id DESC) = 1 "
                      "ORDER BY kind")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
