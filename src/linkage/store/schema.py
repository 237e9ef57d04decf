"""DDL built by small pure functions from the canonical models."""

from __future__ import annotations

import types
import typing
from datetime import date

from pydantic import BaseModel

from linkage.model import EVENT_TYPES, PersonRecord

__all__ = ["CURRENT_RECORDS_SQL", "DB", "MIGRATIONS", "UNPUBLISHED", "REFERENCE_TABLES", "STAMP_DDL", "STD_NAME_FIELDS", "all_ddl", "columns_of", "event_table_ddl",
           "records_ddl", "reference_ddl", "t"]

DB = "store"
# Normalised copies of the display names, used for linkage.
STD_NAME_FIELDS = ("forename", "middle_names", "surname", "former_surname", "preferred_forename")


# A link run's working caches (``link.inputcache``): kept in the live database for the next
# run, never read by a server, so a published snapshot holds them empty.
UNPUBLISHED = ("link_input_cache", "link_cotwin_cache", "link_input_extracts", "link_register_counts",
               "link_two_upns", "link_hash_state", "link_twin_families")


def t(name: str) -> str:
    """Qualified name of a table in the encrypted store."""
    return f"{DB}.{name}"


# The records of current extracts that no amendment replaced (``r``, with their extract ``e``): here,
# not in connectors, so that `linkage status` counts them without loading the connectors.
CURRENT_RECORDS_SQL = f"""
SELECT r.* FROM {t('records')} r
JOIN {t('extracts')} e USING (extract_id)
WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL
"""


def _sql_type(annotation: object) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and args:
        return _sql_type(args[0])
    if origin is typing.Literal:
        return "VARCHAR"
    return {date: "DATE", int: "BIGINT", float: "DOUBLE", str: "VARCHAR"}.get(annotation, "VARCHAR")


def columns_of(model: type[BaseModel]) -> list[tuple[str, str]]:
    return [(name, _sql_type(f.annotation)) for name, f in model.model_fields.items()]


def _create(name: str, cols: list[tuple[str, str]], extra: str = "") -> str:
    body = ",\n  ".join(f"{c} {typ}" for c, typ in cols)
    return f"CREATE TABLE IF NOT EXISTS {t(name)} (\n  {body}{extra}\n)"


def records_ddl() -> str:
    cols = [("record_key", "VARCHAR NOT NULL"), ("extract_id", "BIGINT NOT NULL"),
            ("line_no", "BIGINT")] + columns_of(PersonRecord) + [
            (f"{n}_std", "VARCHAR") for n in STD_NAME_FIELDS] + [
            # The amendment (an extract ingested with --amend) that replaced this record.
            ("replaced_by", "BIGINT")]
    return _create("records", cols)


def event_table_ddl(event_name: str) -> str:
    model = EVENT_TYPES[event_name]
    cols = [("record_key", "VARCHAR NOT NULL"), ("extract_id", "BIGINT NOT NULL")] + columns_of(model)
    return _create(model.table, cols)


_FIXED = [
    """CREATE TABLE IF NOT EXISTS store.extracts (
  extract_id BIGINT PRIMARY KEY, source VARCHAR NOT NULL, file_name VARCHAR NOT NULL,
  sha256 VARCHAR NOT NULL UNIQUE, mapping VARCHAR NOT NULL, extract_date DATE NOT NULL,
  ingested_at TIMESTAMP NOT NULL, rows_read BIGINT NOT NULL, accepted BIGINT NOT NULL,
  quarantined BIGINT NOT NULL, superseded_by BIGINT,
  amends BIGINT, blank_rows BIGINT DEFAULT 0, warned BIGINT DEFAULT 0, forced BOOLEAN DEFAULT false)""",
    """CREATE TABLE IF NOT EXISTS store.quarantine (
  extract_id BIGINT NOT NULL, file_name VARCHAR NOT NULL, line_no BIGINT NOT NULL,
  field VARCHAR NOT NULL, reason VARCHAR NOT NULL, raw VARCHAR,
  severity VARCHAR DEFAULT 'error', source_record_id VARCHAR,
  resolved_at TIMESTAMP, resolved_by_extract BIGINT)""",
    """CREATE TABLE IF NOT EXISTS store.runs (
  run_id BIGINT PRIMARY KEY, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP,
  mode VARCHAR NOT NULL, records BIGINT, children BIGINT, new_ids BIGINT, merges BIGINT,
  splits BIGINT, review_pairs BIGINT, threshold DOUBLE, model_sha256 VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS store.model (
  model_sha256 VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, settings_json VARCHAR NOT NULL)""",
    # linked_records, child_ids and identity hold a row per record or child (a million at 1M) and have
    # no PRIMARY KEY: DuckDB writes every row of an indexed table through the WAL at commit, besides
    # its index, which made a first run's save several times slower. Each is one row per key by
    # construction, and the saving transaction checks the rows it adds (``link.delta``).
    """CREATE TABLE IF NOT EXISTS store.linked_records (
  record_key VARCHAR NOT NULL, content_sha VARCHAR NOT NULL, run_id BIGINT NOT NULL)""",
    # What the twin guard read besides the record (co-twins, a rare forename, its code): an incremental
    # run guards the record's pairs again and re-clusters it when it changes. NULL (stores made before it): scored again once.
    "ALTER TABLE store.linked_records ADD COLUMN IF NOT EXISTS guard_sha VARCHAR",
    """CREATE TABLE IF NOT EXISTS store.link_edges (
  record_key_l VARCHAR NOT NULL, record_key_r VARCHAR NOT NULL,
  match_probability DOUBLE NOT NULL, match_weight DOUBLE, guarded BOOLEAN NOT NULL DEFAULT false,
  run_id BIGINT NOT NULL)""",
    # The second pass's candidate record pairs at the last run (``evidence.candidates_sql``): a month
    # reaches the children a changed record was a candidate of, as it reaches a dropped pair's other end.
    """CREATE TABLE IF NOT EXISTS store.pass_pairs (
  record_key_l VARCHAR NOT NULL, record_key_r VARCHAR NOT NULL, run_id BIGINT NOT NULL)""",
    # The names twins are given (``guards.twin_names_sql``) that the stored pairs were guarded with: a
    # month guards again the pairs of two names whose standing moved (``delta.twin_name_pairs``).
    """CREATE TABLE IF NOT EXISTS store.twin_names (a VARCHAR NOT NULL, b VARCHAR NOT NULL, run_id BIGINT NOT NULL)""",
    # The open clerical review queue, rebuilt each run with stable ids (review.pair_id); decisions
    # are not here but in the service state's append-only review_decisions log.
    """CREATE TABLE IF NOT EXISTS store.review_queue (
  record_key_l VARCHAR NOT NULL, record_key_r VARCHAR NOT NULL, match_probability DOUBLE NOT NULL,
  match_weight DOUBLE, reason VARCHAR NOT NULL, run_id BIGINT NOT NULL, status VARCHAR NOT NULL DEFAULT 'open',
  decided_by VARCHAR, decided_at TIMESTAMP, pair_id VARCHAR, first_run BIGINT, cluster_size BIGINT,
  priority DOUBLE)""",
    # Stores made before the queue kept ids.
    "ALTER TABLE store.review_queue ADD COLUMN IF NOT EXISTS pair_id VARCHAR",
    "ALTER TABLE store.review_queue ADD COLUMN IF NOT EXISTS first_run BIGINT",
    "ALTER TABLE store.review_queue ADD COLUMN IF NOT EXISTS cluster_size BIGINT",
    "ALTER TABLE store.review_queue ADD COLUMN IF NOT EXISTS priority DOUBLE",
    # Splink's term frequencies at the last run, so one pair can be explained without all records.
    """CREATE TABLE IF NOT EXISTS store.term_frequencies (
  column_name VARCHAR NOT NULL, value VARCHAR NOT NULL, tf DOUBLE NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS store.child_ids (
  child_id VARCHAR NOT NULL, status VARCHAR NOT NULL, alias_of VARCHAR,
  created_run BIGINT NOT NULL, retired_run BIGINT)""",
    # Who was on the children-missing-education list at each link run (views.cme).
    """CREATE TABLE IF NOT EXISTS store.cme_membership (
  run_id BIGINT NOT NULL, child_id VARCHAR NOT NULL, reason VARCHAR NOT NULL, absent_sessions BIGINT)""",
    # run_id: the run that last set the record's child (runs write only the records whose child changed).
    """CREATE TABLE IF NOT EXISTS store.identity (
  record_key VARCHAR NOT NULL, child_id VARCHAR NOT NULL, run_id BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS store.identity_history (
  run_id BIGINT NOT NULL, changed_at TIMESTAMP NOT NULL, change VARCHAR NOT NULL, child_id VARCHAR NOT NULL,
  other_child_id VARCHAR, record_key VARCHAR, reason VARCHAR NOT NULL)""",
]


# Columns added since the first release, for data directories made before them.
# extracts.amends: the whole extract an amendment belongs to (NULL for a whole extract);
# blank_rows: rows with no cells (rows_read = accepted + quarantined + blank_rows);
# warned: accepted rows with a field set aside; forced: the safety catch was overridden.
# quarantine.severity: 'error' (row rejected) or 'warning' (field set aside, row kept);
# resolved_at / resolved_by_extract: a later amendment corrected the row (history kept).
MIGRATIONS = [
    "ALTER TABLE store.records ADD COLUMN IF NOT EXISTS replaced_by BIGINT",
    "ALTER TABLE store.extracts ADD COLUMN IF NOT EXISTS amends BIGINT",
    "ALTER TABLE store.extracts ADD COLUMN IF NOT EXISTS blank_rows BIGINT DEFAULT 0",
    "ALTER TABLE store.extracts ADD COLUMN IF NOT EXISTS warned BIGINT DEFAULT 0",
    "ALTER TABLE store.extracts ADD COLUMN IF NOT EXISTS forced BOOLEAN DEFAULT false",
    "ALTER TABLE store.quarantine ADD COLUMN IF NOT EXISTS severity VARCHAR DEFAULT 'error'",
    "ALTER TABLE store.quarantine ADD COLUMN IF NOT EXISTS source_record_id VARCHAR",
    "ALTER TABLE store.quarantine ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMP",
    "ALTER TABLE store.quarantine ADD COLUMN IF NOT EXISTS resolved_by_extract BIGINT",
    "ALTER TABLE store.records ADD COLUMN IF NOT EXISTS address_from DATE",
    # sha256 is the ingest's key (the file and its mapping); file_sha256 the file's own (NULL before).
    "ALTER TABLE store.extracts ADD COLUMN IF NOT EXISTS file_sha256 VARCHAR",
]


# Reference data (linkage.reference): kind -> table.
REFERENCE_TABLES = {"establishments": "ref_establishment", "gp_practices": "ref_gp_practice"}


def reference_ddl(db: str = DB) -> dict[str, str]:
    """The reference tables and their load log, in ``db`` (the store, or memory for the server's copy)."""
    return {
        "ref_loads": f"""CREATE TABLE IF NOT EXISTS {db}.ref_loads (
  load_id BIGINT PRIMARY KEY, kind VARCHAR NOT NULL, file_name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
  loaded_at TIMESTAMP NOT NULL, rows_read BIGINT NOT NULL, accepted BIGINT NOT NULL, rejected BIGINT NOT NULL)""",
        "ref_establishment": f"""CREATE TABLE IF NOT EXISTS {db}.ref_establishment (
  urn VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, type_name VARCHAR NOT NULL, setting VARCHAR NOT NULL,
  is_ap BOOLEAN NOT NULL, phase VARCHAR, status VARCHAR, open_date DATE, close_date DATE, postcode VARCHAR,
  telephone VARCHAR, la_code VARCHAR, la_name VARCHAR, load_id BIGINT NOT NULL)""",
        "ref_gp_practice": f"""CREATE TABLE IF NOT EXISTS {db}.ref_gp_practice (
  ods_code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, address VARCHAR, postcode VARCHAR,
  status_code VARCHAR NOT NULL, open_date DATE, close_date DATE, commissioner VARCHAR, telephone VARCHAR,
  prescribing_setting VARCHAR, load_id BIGINT NOT NULL)""",
    }


# Which schema last wrote the store (``store.version``): one row, replaced by each upgrade.
STAMP_DDL = "CREATE TABLE IF NOT EXISTS store.schema_version (version BIGINT NOT NULL, written_by VARCHAR NOT NULL)"


def all_ddl() -> list[str]:
    """The whole schema, idempotent: creates what is missing and upgrades an older store's tables."""
    return [records_ddl(), *(event_table_ddl(n) for n in EVENT_TYPES), *_FIXED, *reference_ddl().values(), *MIGRATIONS]
