"""Splink's input rows and co-twin pairs of unchanged records, kept from one run to the next.

Each input row is a function of its own record (its fields, the name tables and the SQL that
derive it), so it is kept under a hash of exactly those (``raw_sha``) and reused while that
hash holds. A co-twin pair is a function of its two rows, so it is kept under both records'
hashes. A monthly run then derives rows only for new and changed records, and compares only
them with their birthday groups, instead of the whole population.

The cache is content-addressed: a kept row is right for the record and hash it is keyed to
whatever a killed run left behind, so it is written in its own transaction, before the run's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from linkage.link import names
from linkage.link.features import input_sql
from linkage.link.guards import cotwin_pairs_sql
from linkage.store import Store
from linkage.store.schema import UNPUBLISHED, t

__all__ = ["CACHE", "PAIRS", "build", "save"]

CACHE, PAIRS = (t(name) for name in UNPUBLISHED)
# The record fields ``input_sql`` reads.
_RAW = ("source", "forename_std", "middle_names_std", "surname_std", "former_surname_std", "preferred_forename_std",
        "date_of_birth", "sex", "postcode", "address", "upn", "former_upn", "nhs_number")
_CODE = hashlib.sha256(input_sql("r", "n").encode() + Path(names.__file__).read_bytes()
                       + names._UK.read_bytes()).hexdigest()[:16]
_PAIR_CODE = hashlib.sha256(cotwin_pairs_sql("a", "b").encode()).hexdigest()[:16]


def _exists(store: Store, table: str) -> bool:
    schema, name = table.split(".")
    return bool(store.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                             [schema, name]))


def _columns(store: Store, relation: str) -> list[str]:
    return [r[0] for r in store.rows(f"DESCRIBE SELECT * FROM {relation}")]


def build(store: Store, records_sql: str, name_keys: callable, target: str) -> int:
    """Fill ``target`` (Splink input of every record in ``records_sql``) and ``memory.cotwin_pairs``,
    deriving only records the cache does not hold; returns how many were derived.

    ``name_keys(records_sql)`` must fill ``memory.name_keys`` for the forenames of those records."""
    fields = ", ".join(f"coalesce(CAST(x.{c} AS VARCHAR), '')" for c in _RAW)
    store.execute(f"CREATE OR REPLACE TABLE memory.link_raw AS SELECT x.record_key, "
                  f"md5(concat_ws('|', '{_CODE}', {fields})) AS raw_sha FROM ({records_sql}) x")
    # The records to derive, read from the store once (name keys and features read them several
    # times), only the fields the features read: every column of every stored row would cost more.
    columns = ", ".join(f"x.{c}" for c in ("record_key", *_RAW))
    fresh_records = "SELECT * FROM memory.link_fresh_records"

    def fresh_from(sql: str) -> None:
        store.execute(f"CREATE OR REPLACE TABLE memory.link_fresh AS {sql}")
        store.execute(f"CREATE OR REPLACE TABLE memory.link_fresh_records AS SELECT {columns} FROM ({records_sql}) x "
                      "SEMI JOIN memory.link_fresh f ON x.record_key = f.k")
        name_keys(fresh_records)

    everything = "SELECT record_key AS k, raw_sha FROM memory.link_raw"
    usable = _exists(store, CACHE)
    fresh_from(f"""SELECT r.record_key AS k, r.raw_sha FROM memory.link_raw r
ANTI JOIN {CACHE} c ON c.unique_id = r.record_key AND c.raw_sha = r.raw_sha""" if usable else everything)
    derived = input_sql(fresh_records, "memory.name_keys")
    if usable and _columns(store, CACHE) != [*_columns(store, f"({derived})"), "raw_sha"]:
        usable = False                       # the input's columns changed: derive everything
        fresh_from(everything)
    kept = (f" UNION ALL BY NAME SELECT c.* EXCLUDE (raw_sha) FROM {CACHE} c SEMI JOIN memory.link_raw r "
            "ON c.unique_id = r.record_key AND c.raw_sha = r.raw_sha") if usable else ""
    store.execute(f"CREATE OR REPLACE TABLE {target} AS {derived}{kept}")

    fresh = f"(SELECT * FROM {target} WHERE unique_id IN (SELECT k FROM memory.link_fresh))"
    stale = f"(SELECT * FROM {target} WHERE unique_id NOT IN (SELECT k FROM memory.link_fresh))"
    pairs_kept = ""
    if usable and _exists(store, PAIRS) and set(_columns(store, f"({cotwin_pairs_sql(target, target)})")) <= set(
            _columns(store, PAIRS)):
        pairs_kept = f"""UNION ALL SELECT p.unique_id, p.twin_id, p.f, p.k, p.m FROM {PAIRS} p
JOIN memory.link_raw ra ON ra.record_key = p.unique_id AND ra.raw_sha = p.raw_a
JOIN memory.link_raw rb ON rb.record_key = p.twin_id AND rb.raw_sha = p.raw_b
WHERE p.code = '{_PAIR_CODE}'"""
        pairs_new = f"{cotwin_pairs_sql(fresh, target)} UNION ALL {cotwin_pairs_sql(stale, fresh)}"
    else:
        pairs_new = cotwin_pairs_sql(target, target)
        store.execute("CREATE OR REPLACE TABLE memory.link_fresh AS SELECT record_key AS k, raw_sha FROM memory.link_raw")
    store.execute(f"CREATE OR REPLACE TABLE memory.cotwin_pairs AS {pairs_new} {pairs_kept}")
    store.execute("DROP TABLE memory.link_fresh_records")
    return int(store.scalar("SELECT count(*) FROM memory.link_fresh"))


def save(store: Store, target: str) -> None:
    """Bring the cache to this run's input: rows and pairs of records gone or changed out, new ones in."""
    columns = [*_columns(store, target), "raw_sha"]
    store.execute(f"CREATE OR REPLACE TABLE memory.link_fresh_pairs AS SELECT p.*, ra.raw_sha AS raw_a, "
                  f"rb.raw_sha AS raw_b, '{_PAIR_CODE}' AS code FROM memory.cotwin_pairs p "
                  "JOIN memory.link_raw ra ON ra.record_key = p.unique_id JOIN memory.link_raw rb ON rb.record_key = p.twin_id "
                  "WHERE p.unique_id IN (SELECT k FROM memory.link_fresh) OR p.twin_id IN (SELECT k FROM memory.link_fresh)")
    rebuild = (not _exists(store, CACHE) or _columns(store, CACHE) != columns or not _exists(store, PAIRS)
               or _columns(store, PAIRS) != _columns(store, "memory.link_fresh_pairs"))
    with store.transaction():
        if rebuild:
            store.execute(f"CREATE OR REPLACE TABLE {CACHE} AS SELECT *, ''::VARCHAR AS raw_sha FROM {target} WHERE false")
            store.execute(f"CREATE OR REPLACE TABLE {PAIRS} AS SELECT * FROM memory.link_fresh_pairs WHERE false")
        gone = "unique_id NOT IN (SELECT record_key FROM memory.link_raw) OR unique_id IN (SELECT k FROM memory.link_fresh)"
        store.execute(f"DELETE FROM {CACHE} WHERE {gone}")
        store.execute(f"INSERT INTO {CACHE} SELECT i.*, f.raw_sha FROM {target} i "
                      "JOIN memory.link_fresh f ON i.unique_id = f.k")
        store.execute(f"DELETE FROM {PAIRS} WHERE {gone} OR twin_id NOT IN (SELECT record_key FROM memory.link_raw) "
                      f"OR twin_id IN (SELECT k FROM memory.link_fresh) OR code <> '{_PAIR_CODE}'")
        store.execute(f"INSERT INTO {PAIRS} SELECT * FROM memory.link_fresh_pairs")
