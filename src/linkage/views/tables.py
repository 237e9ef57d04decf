"""Where the views read from: the store itself, or the server's indexed in-memory copy.

The server copies the current, linked records and their events into memory at
start-up, indexed by child and record, so a child's view is a handful of index
lookups rather than joins over every record.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.model import EVENT_TYPES
from linkage.store.schema import t

__all__ = ["MEMORY", "STORE", "Tables", "materialise"]


@dataclass(frozen=True)
class Tables:
    records: str           # a relation of current records with their child_id
    event_prefix: str      # "" for the store's own tables, "memory.serve_" for the copies

    def event(self, table: str) -> str:
        return f"{self.event_prefix}{table}" if self.event_prefix else t(table)


STORE = Tables(f"(SELECT i.child_id, c.* FROM ({CURRENT_RECORDS_SQL}) c "
               f"JOIN {t('identity')} i USING (record_key))", "")
MEMORY = Tables("memory.serve_records", "memory.serve_")


def materialise(con) -> int:
    """Copy current linked records and their events into indexed memory tables."""
    con.execute(f"CREATE OR REPLACE TABLE memory.serve_records AS SELECT * FROM {STORE.records}")
    con.execute("CREATE INDEX IF NOT EXISTS serve_records_child ON memory.serve_records (child_id)")
    for model in EVENT_TYPES.values():
        name = f"memory.serve_{model.table}"
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT e.* FROM {t(model.table)} e "
                    "SEMI JOIN memory.serve_records r ON r.record_key = e.record_key AND r.extract_id = e.extract_id")
        con.execute(f"CREATE INDEX IF NOT EXISTS serve_{model.table}_rec ON {name} (record_key)")
    return int(con.execute("SELECT count(*) FROM memory.serve_records").fetchone()[0])
