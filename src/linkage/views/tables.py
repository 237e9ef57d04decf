"""Where the views read from: the store itself, or the server's indexed in-memory copy.

The server copies the current, linked records and the events the CME listing
queries into memory at start-up, and folds records and events into one document
per child (``serve_child``, then held by child: ``serve_documents``): the child's records and each
event table as a list, so a child's view is one lookup in a map rather than
a query per section.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.model import EVENT_TYPES
from linkage.store import table_exists
from linkage.store.documents import DocumentMap
from linkage.store.schema import DB, columns_of, t

__all__ = ["CME_EVENTS", "MEMORY", "STORE", "Tables", "child_document_lists", "materialise", "serve_documents"]


@dataclass(frozen=True)
class Tables:
    records: str           # a relation of current records with their child_id
    event_prefix: str      # "" for the store's own tables, "memory.serve_" for the copies

    def event(self, table: str) -> str:
        return f"{self.event_prefix}{table}" if self.event_prefix else t(table)


STORE = Tables(f"(SELECT i.child_id, c.* FROM ({CURRENT_RECORDS_SQL}) c "
               f"JOIN {t('identity')} i USING (record_key))", "")
MEMORY = Tables("memory.serve_records", "memory.serve_")

# Each document list's order, as the views present it (ties broken for a stable answer).
_ORDER = {"edu_enrolment": "entry_date", "edu_attendance": "term", "edu_exclusion": "start_date",
          "edu_sen": "provision", "sc_referral": "referral_date", "sc_episode": "start_date",
          "sc_missing": "start_date", "sc_allocation": "team", "health_gp": "start_date",
          "health_contact": "contact_date", "address_history": "address_from"}
_RECORD_FIELDS = ("source", "forename", "surname", "date_of_birth", "sex", "postcode", "address", "address_from",
                  "extract_date")


def child_document_lists(tables: Tables) -> dict[str, str]:
    """List name -> SQL giving (child_id, that list) for every child who has one.

    ``tables.records`` is the current records; events of superseded extracts drop out
    in the join on (record_key, extract_id).
    """
    fields = ", ".join(f"{f} := r.{f}" for f in _RECORD_FIELDS)
    lists = {"records": f"SELECT child_id, list(struct_pack({fields}) ORDER BY r.extract_date DESC, r.source, "
                        f"r.record_key) AS records FROM {tables.records} r GROUP BY child_id"}
    for model in EVENT_TYPES.values():
        cols = ", ".join(f"{f} := e.{f}" for f in model.model_fields)
        lists[model.table] = (
            f"SELECT r.child_id, list(struct_pack(source := r.source, {cols}) "
            f"ORDER BY e.{_ORDER[model.table]}, r.source, e.record_key) AS {model.table} "
            f"FROM {tables.event(model.table)} e JOIN {tables.records} r "
            "ON r.record_key = e.record_key AND r.extract_id = e.extract_id GROUP BY r.child_id")
    return lists


# The event tables the CME listing's set queries read; every other event is only in documents.
CME_EVENTS = ("edu_enrolment", "edu_attendance")


def _no_events(table: str) -> str:
    """A NULL of the type ``child_document_lists`` gives ``table``'s list (a list of its rows)."""
    model = next(m for m in EVENT_TYPES.values() if m.table == table)
    fields = ", ".join(f'"{c}" {ty}' for c, ty in [("source", "VARCHAR"), *columns_of(model)])
    return f"CAST(NULL AS STRUCT({fields})[])"


def materialise(con) -> int:
    """Copy current linked records (and the CME's event tables) into memory, and build documents."""
    con.execute(f"CREATE OR REPLACE TABLE memory.serve_records AS SELECT * FROM {STORE.records}")
    for table in CME_EVENTS:
        con.execute(f"CREATE OR REPLACE TABLE memory.serve_{table} AS SELECT e.* FROM {t(table)} e SEMI JOIN "
                    "memory.serve_records r ON r.record_key = e.record_key AND r.extract_id = e.extract_id")
    # One list at a time, then one join: a single statement aggregating every table at
    # once needs several times the memory.
    lists = child_document_lists(Tables("memory.serve_records", ""))
    # A store (or a snapshot) written before an event type existed has no table for it: its
    # documents hold no such events (NULL, as for a child without any), and the server starts.
    held = {name: sql for name, sql in lists.items() if name == "records" or table_exists(con, DB, name)}
    for name, sql in held.items():
        con.execute(f"CREATE OR REPLACE TABLE memory.doc_{name} AS {sql}")
    joins = " ".join(f"LEFT JOIN memory.doc_{name} USING (child_id)" for name in list(held)[1:])
    columns = ", ".join(name if name in held else f"{_no_events(name)} AS {name}" for name in lists)
    con.execute(f"CREATE OR REPLACE TABLE memory.serve_child AS SELECT child_id, {columns} "
                f"FROM memory.doc_records {joins}")
    for name in held:
        con.execute(f"DROP TABLE memory.doc_{name}")
    # No index on it: ``serve_documents`` reads it whole, once, into the map requests use, then drops it.
    return int(con.execute("SELECT count(*) FROM memory.serve_child").fetchone()[0])


def serve_documents(con) -> DocumentMap:
    """The documents ``materialise`` built, held as JSON for requests to read without a query;
    the table itself is dropped (the map is what the server reads from now on)."""
    docs = DocumentMap.load(con, "memory.serve_child")
    con.execute("DROP TABLE memory.serve_child")
    return docs
