"""Splink's input rows and co-twin pairs, kept in the store from one run to the next.

Each input row is a function of its own record (its fields, the name tables and the SQL that
derive it), so it is kept under a hash of exactly those (``raw_sha``) and reused while that
hash holds; it also carries its ``content_sha``, so an unchanged record is not hashed again.
A co-twin pair is a function of its two rows, so it is kept while both are. A stored record row
never changes (ingest only marks it ``replaced_by``, and its register follows its extract), so a
record whose current row is of an extract the cache was last brought to, under the same register,
is the very row the cache holds: only the rows of other extracts (a new month's) are hashed
(``EXTRACTS``). A monthly run then
derives rows only for new and changed records and compares only them with their birthday
groups; the cache itself, brought up to date in place, *is* the run's input (a view over it):
no run copies every row.

Rows and pairs are written in one transaction of their own, before the run's (when every row is
derived, beside the run's training, which reads them from memory meanwhile, and finished before
it scores): a kept row is right for the record and hash it is keyed to
whatever a killed run left behind, and rows and pairs always agree.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from linkage.link import hashkeep, names, registercounts
from linkage.link.features import content_sha_sql, input_sql
from linkage.link.birthdays import cotwin_pairs_table
from linkage.link.guards import cotwin_pairs_sql
from linkage.sqltext import literal
from linkage.store import Store
from linkage.store.schema import UNPUBLISHED, t

__all__ = ["CACHE", "COUNTS", "EXTRACTS", "PAIRS", "ROLL", "Cache", "build", "drop"]

# EXTRACTS: the extracts (and the register, and the code, ``_CODE``) whose current rows the cache
# was last brought to, written with it in its transaction. COUNTS: each register's counts of the
# cached rows (``registercounts``), written with them too.
CACHE, PAIRS, EXTRACTS, COUNTS = (t(name) for name in UNPUBLISHED[:4])
# The records' ``on_roll_since`` (``LINK_RECORDS_SQL``), those that have one: read beside the
# input (the engine's ``on_roll``), not in it; kept from the one read of the records ``build`` makes.
ROLL = "memory.link_on_roll"
# The record fields ``input_sql`` reads.
_RAW = ("source", "register", "forename_std", "middle_names_std", "surname_std", "former_surname_std", "preferred_forename_std",
        "date_of_birth", "sex", "postcode", "address", "upn", "former_upn", "nhs_number")
# The code that derives a row and its co-twin pairs: a change to either derives everything again.
_CODE = hashlib.sha256(input_sql("r", "n").encode() + Path(names.__file__).read_bytes()
                       + names._UK.read_bytes() + names._INTL.read_bytes() + names._TRANSLIT.read_bytes()
                       + cotwin_pairs_sql("a", "b").encode()
                       + cotwin_pairs_sql("a", "a").encode()).hexdigest()[:16]     # both ways it finds pairs


def _exists(store: Store, table: str) -> bool:
    schema, name = table.split(".")
    return bool(store.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                             [schema, name]))


def _columns(store: Store, relation: str) -> list[str]:
    return [r[0] for r in store.rows(f"DESCRIBE SELECT * FROM {relation}")]


def build(store: Store, records_sql: str, name_keys: callable, target: str) -> Cache:
    """Bring the cache to the records of ``records_sql``, deriving only those it does not hold,
    and make ``target`` (a view) Splink's input of every one of them and ``memory.cotwin_pairs``
    their co-twin pairs; returns how many were derived and where the rows are read with their
    ``content_sha`` (``features.content_sha_sql``: an unchanged record is not hashed again). When
    every row is derived the cache is written beside the run (``Cache.wait``).

    ``name_keys(records_sql)`` must fill ``memory.name_keys`` for the forenames of those records."""
    # The records to derive, read from the store once (name keys and features read them several
    # times), only the fields the features read: every column of every stored row would cost more.
    columns = ", ".join(f"x.{c}" for c in ("record_key", *_RAW))
    usable = _exists(store, CACHE) and _exists(store, PAIRS)
    # Rows of an extract the cache holds every current row of (``EXTRACTS``, a handful) are not
    # hashed: NULL. Tested row by row in place (a join would carry every row's fields through it).
    raw_sha = _raw_sha_sql("x")
    known = store.rows(f"SELECT extract_id, register FROM {EXTRACTS} WHERE code = ? ORDER BY ALL",
                       [_CODE]) if usable and _exists(store, EXTRACTS) else []
    # The cache's generation as the last run left it, and the one this run writes (``hashkeep``).
    previous = (store.scalar(f"SELECT any_value(token) FROM {EXTRACTS}")
                if usable and _exists(store, EXTRACTS) and "token" in _columns(store, EXTRACTS) else None)
    token = hashkeep.new_token()
    # ... and whether the facts kept beside it (``hashkeep``) are of this code.
    facts = bool(previous) and "facts" in _columns(store, EXTRACTS) and \
        store.scalar(f"SELECT bool_and(facts = ?) FROM {EXTRACTS}", [hashkeep.CODE])
    if known:
        seen = " OR ".join(f"(x.extract_id = {int(e)} AND x.register = {literal(r)})" for e, r in known)
        raw_sha = f"CASE WHEN {seen} THEN NULL ELSE {raw_sha} END"       # unknown (NULL) is hashed
    # No cache: every record is derived, so ``link_raw`` keeps the fields read with the hashes (read
    # once). Over a cache it keeps only the hashes, and the few records to derive are read again
    # (a month's 1%), as they are when the cache's columns turn out stale below.
    raw_has_fields = not usable
    # Each record's days on roll are read in the same pass (``ROLL``), not in a second one.
    read = columns if raw_has_fields else "x.record_key, x.register"      # ``columns`` holds the register
    store.execute(f"CREATE OR REPLACE TABLE memory.link_raw AS SELECT {read}, x.on_roll_since, x.extract_id, "
                  f"{raw_sha} AS raw_sha FROM ({records_sql}) x")
    store.execute("CREATE OR REPLACE TABLE memory.link_extracts AS SELECT DISTINCT extract_id, register, "
                  f"'{_CODE}' AS code, '{token}' AS token, '{hashkeep.CODE}' AS facts FROM memory.link_raw")
    hashed = int(store.scalar("SELECT count(raw_sha) FROM memory.link_raw"))
    store.execute(f"CREATE OR REPLACE TABLE {ROLL} AS SELECT record_key AS unique_id, on_roll_since "
                  "FROM memory.link_raw WHERE on_roll_since IS NOT NULL")
    everything = "SELECT record_key AS k, raw_sha FROM memory.link_raw"

    def derive(fresh_sql: str | None) -> None:
        """The input rows of the records ``fresh_sql`` names (``k``, ``raw_sha``); None: every record."""
        store.execute(f"CREATE OR REPLACE TABLE memory.link_fresh AS {fresh_sql or everything}")
        if fresh_sql is None and raw_has_fields:
            records = "SELECT * EXCLUDE (raw_sha, on_roll_since, extract_id) FROM memory.link_raw"
        else:
            store.execute(f"CREATE OR REPLACE TABLE memory.link_fresh_records AS SELECT {columns} FROM ({records_sql}) x "
                          f"SEMI JOIN memory.link_fresh f ON x.record_key = f.k WHERE {_fresh_extracts(store)}")
            records = "SELECT * FROM memory.link_fresh_records"
        name_keys(records)
        store.execute(f"CREATE OR REPLACE TABLE memory.link_derived AS SELECT d.*, {content_sha_sql('d')} "
                      f"AS content_sha, f.raw_sha FROM ({input_sql(records, 'memory.name_keys')}) d "
                      "JOIN memory.link_fresh f ON f.k = d.unique_id")
        store.execute("DROP TABLE IF EXISTS memory.link_fresh_records")

    # The records to derive and the cached rows to drop (a record changed or gone), from one
    # join of the million keys rather than one for each and one more for each table cleared.
    store.execute("CREATE OR REPLACE TABLE memory.link_dropped (k VARCHAR)")
    recount = True
    if usable:
        # A row not hashed (NULL) is the cached one; a row hashed is kept when its hash is the cached one.
        store.execute(f"""CREATE OR REPLACE TABLE memory.link_compare AS
SELECT r.record_key AS k, r.raw_sha, c.unique_id AS dropped FROM memory.link_raw r
FULL JOIN (SELECT unique_id, raw_sha FROM {CACHE}) c ON c.unique_id = r.record_key
WHERE r.record_key IS NULL OR c.unique_id IS NULL OR r.raw_sha <> c.raw_sha""")
        store.execute("INSERT INTO memory.link_dropped SELECT dropped FROM memory.link_compare WHERE k IS NULL")
        unhashed = _hash_unhashed(store, "memory.link_compare", "k", records_sql)
        hashed += unhashed
        # The counts are moved by the month's keys only while they describe the cache as it is: a
        # cache short of rows of its own extracts (``unhashed``), or one this code was not last
        # brought to (``known``), or counts missing or of other code, is counted again.
        recount = bool(unhashed) or not known or not _counts_kept(store)
    derive("SELECT k, raw_sha FROM memory.link_compare WHERE k IS NOT NULL" if usable else None)
    pair_columns = _columns(store, f"({cotwin_pairs_sql('memory.link_derived', 'memory.link_derived')})")
    if usable and (_columns(store, CACHE) != _columns(store, "memory.link_derived")
                   or _columns(store, PAIRS) != pair_columns):
        usable = False                       # the input's columns changed: derive everything
        hashed += _hash_unhashed(store, "memory.link_raw", "record_key", records_sql)
        derive(None)
    store.execute("DROP TABLE memory.link_raw")
    # One transaction: rows and pairs always agree (a pair is kept only while both its rows are).
    # A cached row is stale when its record is derived again or its (key, hash) is no record's.
    stale = ("unique_id IN (SELECT k FROM memory.link_fresh) "
             "OR unique_id IN (SELECT k FROM memory.link_dropped)")
    derived = int(store.scalar("SELECT count(*) FROM memory.link_fresh"))
    if not usable:
        return _write_beside(store, target, derived, hashed, token)
    _count(store, stale, recount)
    hashkeep.before(store, CACHE, PAIRS, stale, "memory.link_derived")
    with store.transaction():
        store.execute(f"DELETE FROM {CACHE} WHERE {stale}")
        store.execute(f"DELETE FROM {PAIRS} WHERE {stale} OR {stale.replace('unique_id', 'twin_id')}")
        store.execute(f"INSERT INTO {CACHE} SELECT * FROM memory.link_derived")
        store.execute(f"CREATE OR REPLACE TABLE {EXTRACTS} AS SELECT * FROM memory.link_extracts")
        store.execute(f"CREATE OR REPLACE TABLE {COUNTS} AS SELECT * FROM memory.link_counts")
        # The cache now holds every current record: pairs with a new or changed record on either side.
        current = f"(SELECT * EXCLUDE (content_sha, raw_sha) FROM {CACHE})"
        kept = (f"(SELECT * EXCLUDE (content_sha, raw_sha) FROM {CACHE} "
                "WHERE unique_id NOT IN (SELECT k FROM memory.link_fresh))")
        fresh = "(SELECT * EXCLUDE (content_sha, raw_sha) FROM memory.link_derived)"
        store.execute(f"INSERT INTO {PAIRS} {cotwin_pairs_sql(fresh, current)} "
                      f"UNION ALL {cotwin_pairs_sql(kept, fresh)}")
        hashkeep.update(store, CACHE, recount or not facts)
        hashkeep.families(store, CACHE, PAIRS, stale, "SELECT k FROM memory.link_fresh", recount or not facts)
    for table in ("memory.link_derived", "memory.link_compare", "memory.link_pairs", "memory.link_extracts",
                  "memory.link_counts"):
        store.execute(f"DROP TABLE IF EXISTS {table}")
    _point(store, target, CACHE, PAIRS)
    return Cache(derived, CACHE, hashed, counts=COUNTS, two_upns=hashkeep.TWO_UPNS, token=token, previous=previous,
                 families=hashkeep.FAMILIES)


def _count(store: Store, stale: str, recount: bool) -> None:
    """``memory.link_counts``: the registers' counts of the cache as the run leaves it (its rows not
    ``stale``, and those derived), written with it. The kept counts, moved by the counts of the rows
    of the keys of the rows stale or derived (read from the cache once), before and after; or, when
    ``recount``, counted over every row."""
    code = f"'{registercounts.CODE}' AS code"
    if recount:
        after = f"(SELECT * FROM {CACHE} WHERE NOT ({stale}) UNION ALL SELECT * FROM memory.link_derived)"
        store.execute(f"CREATE OR REPLACE TABLE memory.link_counts AS SELECT *, {code} "
                      f"FROM ({registercounts.counts_sql(after)})")
        return
    reads = ", ".join(f"c.{column}" for column in registercounts.READS)    # not every column of a million rows
    gone = (f"(SELECT c.forename, c.surname, c.dob FROM {CACHE} c SEMI JOIN (SELECT k FROM memory.link_fresh "
            "UNION ALL SELECT k FROM memory.link_dropped) s ON c.unique_id = s.k)")
    store.execute(f"""CREATE OR REPLACE TABLE memory.link_keyed AS
SELECT {reads}, {stale.replace('unique_id', 'c.unique_id')} AS stale FROM {CACHE} c
SEMI JOIN ({registercounts.keys_sql(gone, 'memory.link_derived')}) k
 ON c.forename = k.forename AND c.surname = k.surname AND c.dob = k.dob""")
    now = (f"(SELECT * EXCLUDE (stale) FROM memory.link_keyed WHERE NOT stale "
           f"UNION ALL SELECT {reads} FROM memory.link_derived c)")
    before, after = (f"({registercounts.counts_sql(rows)})" for rows in ("memory.link_keyed", now))
    store.execute(f"CREATE OR REPLACE TABLE memory.link_counts AS SELECT *, {code} "
                  f"FROM ({registercounts.moved_sql(COUNTS, before, after)})")
    store.execute("DROP TABLE memory.link_keyed")


def _counts_kept(store: Store) -> bool:
    """``COUNTS`` holds counts of this code (``registercounts.CODE``), in its columns. None at all
    (a store too small to count anything) is counted again, which costs little there."""
    if not _exists(store, COUNTS) or _columns(store, COUNTS) != ["register", *registercounts.COLUMNS, "code"]:
        return False
    held, other = store.rows(f"SELECT count(*), count(*) FILTER (WHERE code <> ?) FROM {COUNTS}",
                             [registercounts.CODE])[0]
    return bool(held) and not other


def _fresh_extracts(store: Store) -> str:
    """A condition on ``x.extract_id``: one of the extracts the records to derive (``memory.link_fresh``)
    are read from (``memory.link_raw``). As constants it is pushed into the scan of the records, so a
    month's few records are read from its new extract's rows, not from every current record (the
    semi join is not pushed below the records' joins: at 1M, 0.8 CPU s for 10k records, 0.2 so)."""
    ids = [int(r[0]) for r in store.rows("SELECT DISTINCT r.extract_id FROM memory.link_raw r "
                                         "SEMI JOIN memory.link_fresh f ON f.k = r.record_key ORDER BY 1")]
    return f"x.extract_id IN ({', '.join(map(str, ids))})" if ids else "false"


def _raw_sha_sql(x: str) -> str:
    """A stored record row's ``raw_sha``: the derivation code and the fields the features read."""
    fields = ", ".join(f"coalesce(CAST({x}.{c} AS VARCHAR), '')" for c in _RAW)
    return f"md5(concat_ws('|', '{_CODE}', {fields}))"


def _hash_unhashed(store: Store, table: str, key: str, records_sql: str) -> int:
    """Hash the rows of ``table`` left unhashed (``raw_sha`` NULL: their extract's rows were in the
    cache) that are to be derived after all: a cache its extracts do not describe (emptied by
    hand) or whose columns changed. Most runs have none, and then read no record again. Returns how many."""
    missing = int(store.scalar(f"SELECT count(*) FROM {table} WHERE {key} IS NOT NULL AND raw_sha IS NULL"))
    if not missing:
        return 0
    store.execute(f"""UPDATE {table} AS u SET raw_sha = h.raw_sha FROM (
SELECT x.record_key, {_raw_sha_sql('x')} AS raw_sha FROM ({records_sql}) x
SEMI JOIN {table} m ON m.{key} = x.record_key AND m.raw_sha IS NULL) h
WHERE u.{key} = h.record_key AND u.raw_sha IS NULL""")
    return missing


def _point(store: Store, target: str, rows: str, pairs: str) -> None:
    """``target`` and ``memory.cotwin_pairs``: views of the run's input rows and co-twin pairs."""
    for view, table in ((target, f"(SELECT * EXCLUDE (content_sha, raw_sha) FROM {rows})"),
                        ("memory.cotwin_pairs", pairs)):
        drop(store, view)
        store.execute(f"CREATE VIEW {view} AS SELECT * FROM {table}")


def _write_beside(store: Store, target: str, derived: int, hashed: int, token: str) -> Cache:
    """Every row derived (a first run, or the derivation's code changed): the run reads its input
    and co-twin pairs from memory while a second connection writes them to the store in a
    transaction of its own (DuckDB works without the GIL, and a million compressed rows written
    take a core for seconds the run's training need not wait for; the engine waits before it
    scores, whose pairs need the memory the copy holds, about 580 MB at a million rows). Until
    ``Cache.wait`` the store holds the previous cache, intact; a write that fails leaves it so."""
    store.execute("DROP TABLE IF EXISTS memory.link_compare")
    rows = "(SELECT * EXCLUDE (content_sha, raw_sha) FROM memory.link_derived)"
    cotwin_pairs_table(store.connection, rows, "memory.link_pairs")
    store.execute(f"CREATE OR REPLACE TABLE memory.link_counts AS SELECT *, '{registercounts.CODE}' AS code "
                  f"FROM ({registercounts.counts_sql('memory.link_derived')})")
    store.execute(f"CREATE OR REPLACE TABLE memory.link_two_upns AS {hashkeep.groups_sql('memory.link_derived')}")
    families = hashkeep.families_beside(store, "memory.link_derived", "memory.link_pairs")
    _point(store, target, "memory.link_derived", "memory.link_pairs")
    outcome: list[BaseException] = []

    def write() -> None:
        try:
            with store.beside() as writer, writer.transaction():
                writer.execute(f"CREATE OR REPLACE TABLE {CACHE} AS SELECT * FROM memory.link_derived")
                writer.execute(f"CREATE OR REPLACE TABLE {PAIRS} AS SELECT * FROM memory.link_pairs")
                writer.execute(f"CREATE OR REPLACE TABLE {EXTRACTS} AS SELECT * FROM memory.link_extracts")
                writer.execute(f"CREATE OR REPLACE TABLE {COUNTS} AS SELECT * FROM memory.link_counts")
                writer.execute(f"CREATE OR REPLACE TABLE {hashkeep.TWO_UPNS} AS SELECT * FROM memory.link_two_upns")
                writer.execute(f"CREATE OR REPLACE TABLE {hashkeep.FAMILIES} AS SELECT * FROM {families}")
        except BaseException as exc:         # handed to the run at ``wait``
            outcome.append(exc)

    thread = threading.Thread(target=write, name="input-cache-write")
    thread.start()
    return Cache(derived, "memory.link_derived", hashed, store, target, thread, outcome, "memory.link_counts",
                 "memory.link_two_upns", token, families=families)


@dataclass
class Cache:
    """What ``build`` made: how many rows it derived, the relation holding every current row with
    its ``content_sha``, how many records' fields it hashed, (when every row was derived) the
    write of the cache under way, the relations of the registers' counts (``registercounts``) and
    the two-UPN groups and twin families (``hashkeep``), the cache's generation (``token``) and, when the cache was
    brought up to date in place, the one it was brought from (``previous``)."""
    derived: int
    rows: str
    hashed: int = 0
    _store: Store | None = None
    _target: str = ""
    _thread: threading.Thread | None = None
    _outcome: list[BaseException] = field(default_factory=list)
    counts: str = ""
    two_upns: str = ""
    token: str = ""
    previous: str | None = None
    families: str = ""

    def wait(self) -> None:
        """Wait for the cache write; raise what it failed with (the store then holds the cache as
        it was before the run). Call before the run's own transaction, and before the store closes.
        Once written, the run's input is read from the store again and its copy in memory freed."""
        if self._thread is None:
            return
        self._thread.join()
        self._thread = None
        if self._outcome:
            raise self._outcome.pop()
        _point(self._store, self._target, CACHE, PAIRS)
        self.rows, self.counts, self.two_upns, self.families = CACHE, COUNTS, hashkeep.TWO_UPNS, hashkeep.FAMILIES
        for table in ("memory.link_derived", "memory.link_pairs", "memory.link_extracts", "memory.link_counts",
                      "memory.link_two_upns", "memory.link_families"):
            self._store.execute(f"DROP TABLE {table}")


def drop(store: Store, name: str) -> None:
    """Drop ``name``, a view or a table (a run before on this connection may have left either)."""
    for kind in ("VIEW", "TABLE"):
        try:
            store.execute(f"DROP {kind} IF EXISTS {name}")
        except duckdb.CatalogException:
            pass
