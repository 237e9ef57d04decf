"""Where the outcome measures read from: the store, or the server's in-memory copies.

Both offer the same relations: current linked records with their ``child_id``, the event
tables, the establishment register and NCCIS post-16 activity (empty when an authority
has loaded none), so one set of SQL serves the CLI report and the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.store import table_exists
from linkage.views.tables import STORE, Tables

__all__ = ["NCCIS_TABLE", "Sources", "store_sources"]

NCCIS_TABLE = "nccis_activity"
_EMPTY_REF = ("(SELECT CAST(NULL AS VARCHAR) AS urn, CAST(NULL AS VARCHAR) AS setting, "
              "CAST(NULL AS BOOLEAN) AS is_ap WHERE false)")
_EMPTY_NCCIS = ("(SELECT CAST(NULL AS VARCHAR) AS upn, CAST(NULL AS VARCHAR) AS activity_code, "
                "CAST(NULL AS DATE) AS start_date, CAST(NULL AS DATE) AS date_ascertained, "
                "CAST(NULL AS DATE) AS due_to_lapse_date WHERE false)")


@dataclass(frozen=True)
class Sources:
    tables: Tables
    ref: str          # urn, setting, is_ap
    nccis: str        # upn, activity_code, start_date, date_ascertained, due_to_lapse_date

    @property
    def records(self) -> str:
        return self.tables.records

    def event(self, table: str) -> str:
        return self.tables.event(table)


def store_sources(con) -> Sources:
    """The store's own tables; a register or NCCIS return never loaded reads as empty."""
    ref = "store.ref_establishment" if table_exists(con, "store", "ref_establishment") else _EMPTY_REF
    nccis = f"store.{NCCIS_TABLE}" if table_exists(con, "store", NCCIS_TABLE) else _EMPTY_NCCIS
    return Sources(STORE, ref, nccis)
