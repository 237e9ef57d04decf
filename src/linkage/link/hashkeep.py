"""What a month needs to hash only the records whose guard can read otherwise (issue 11 item 7).

A record's ``guard_sha`` (``engine_input``) reads, beyond its own row: its co-twins (its co-twin
pairs), whether its forename is rare (the forename's count), its UPN's days on roll when that UPN
is one of two a forename, surname and birthday are held under (the *two-UPN groups*), and the
registers' readings. ``linked_records`` holds every record's hashes as the last saved run left
them; when the input cache a run starts from is the one that run saved beside (``STATE``'s
token is the cache's), and the guard's code and readings are the same, only these records can
hash otherwise now: the records derived, those whose co-twin pairs were dropped or added, those
of a forename whose rarity flipped, and those holding a UPN of a two-UPN group (now, or of a group
the month's keys took apart: their days on roll are read again whatever moved them). The rest
keep their row of ``linked_records``. Anything else (a first run, a run killed between the cache
and the save, other code) hashes every record, as before.

The two-UPN groups are kept beside the cache (``TWO_UPNS``), moved in its transaction by the keys
(forename, surname, birthday; NULL a key like any other, as ``GROUP BY`` has it) of the rows the
month drops or derives: a group is a function of its own key's rows. So are the co-twin pairs of
names spelt alike (``FAMILIES``, what ``guards.twin_names_sql`` counts): a function of a pair's two
rows, dropped and added with the pair.
"""

from __future__ import annotations

import hashlib
import uuid

from linkage.link.guards import twin_families_sql
from linkage.store import Store, table_exists
from linkage.store.schema import UNPUBLISHED, t

__all__ = ["CODE", "FAMILIES", "STATE", "TWO_UPNS", "before", "families", "families_beside", "forget", "groups_sql", "moved", "new_token", "save_state", "state", "update"]

TWO_UPNS, STATE, FAMILIES = (t(name) for name in UNPUBLISHED[4:7])
_KEY = ("forename", "surname", "dob")
_GROUP = (*_KEY, "upn")
_FAMILY = ("unique_id", "twin_id", "a", "b", "dob", "surname")
_SAME_KEY = " AND ".join(f"{{a}}.{c} IS NOT DISTINCT FROM {{b}}.{c}" for c in _KEY)


def groups_sql(rows: str) -> str:
    """(forename, surname, dob, upn): each UPN of a forename, surname and birthday held under more
    than one UPN in ``rows`` (input rows)."""
    return (f"SELECT forename, surname, dob, unnest(upns) AS upn FROM (SELECT forename, surname, dob, "
            f"list(DISTINCT upn) AS upns FROM {rows} WHERE upn IS NOT NULL GROUP BY forename, surname, dob "
            "HAVING count(DISTINCT upn) > 1)")


# The code of the facts kept beside the cache, written with it (``inputcache.EXTRACTS``): kept facts
# of other code (or of none: an empty table says nothing) are found again from every row.
CODE = hashlib.sha256(f"{groups_sql('r')}|{twin_families_sql('i', 'p')}".encode()).hexdigest()[:16]


def new_token() -> str:
    """A cache generation's name: written with the cache, and with the run's save (``save_state``)."""
    return uuid.uuid4().hex


def before(store: Store, cache: str, pairs: str, stale: str, derived: str) -> None:
    """Before the cache's transaction (memory tables cannot be written inside it): what the month's
    rows were and touched. ``stale``: a condition on ``unique_id`` (rows dropped or derived again);
    ``derived``: the new rows."""
    store.execute(f"CREATE OR REPLACE TABLE memory.hk_stale AS SELECT unique_id, forename, surname, dob, upn "
                  f"FROM {cache} WHERE {stale}")
    store.execute(f"CREATE OR REPLACE TABLE memory.hk_twinned AS SELECT DISTINCT unique_id AS k FROM {pairs} "
                  f"WHERE {stale.replace('unique_id', 'twin_id')}")
    store.execute(f"""CREATE OR REPLACE TABLE memory.hk_keys AS
SELECT DISTINCT forename, surname, dob FROM (SELECT forename, surname, dob FROM memory.hk_stale
UNION ALL SELECT forename, surname, dob FROM {derived})""")
    names = (f"SELECT forename FROM memory.hk_stale WHERE forename IS NOT NULL UNION SELECT forename FROM {derived} "
             "WHERE forename IS NOT NULL")
    store.execute(f"CREATE OR REPLACE TABLE memory.hk_names AS SELECT f.forename, count(c.forename) AS n "
                  f"FROM ({names}) f LEFT JOIN {cache} c USING (forename) GROUP BY f.forename")
    store.execute(f"CREATE OR REPLACE TABLE memory.hk_gone_upns AS SELECT DISTINCT g.upn FROM {TWO_UPNS} g "
                  f"SEMI JOIN memory.hk_keys k ON {_SAME_KEY.format(a='g', b='k')}"
                  if _holds(store, TWO_UPNS, _GROUP) else "CREATE OR REPLACE TABLE memory.hk_gone_upns (upn VARCHAR)")


def update(store: Store, cache: str, whole: bool) -> None:
    """In the cache's transaction, after its rows are brought up to date: the two-UPN groups of the
    month's keys counted again from them (``whole``: every group)."""
    keyed = f"(SELECT c.* FROM {cache} c SEMI JOIN memory.hk_keys k ON {_SAME_KEY.format(a='c', b='k')})"
    _move(store, TWO_UPNS, _GROUP, whole, groups_sql(cache),
          f"g USING memory.hk_keys k WHERE {_SAME_KEY.format(a='g', b='k')}", groups_sql(keyed))


def families(store: Store, cache: str, pairs: str, stale: str, fresh: str, whole: bool) -> None:
    """In the cache's transaction, after its rows and pairs are brought up to date: the twin families
    (``guards.twin_families_sql``) of the pairs dropped (``stale`` on either side) taken out, and
    those of the pairs added (a ``fresh`` record on either side) put in (``whole``: every pair's)."""
    added = f"(SELECT * FROM {pairs} WHERE unique_id IN ({fresh}) OR twin_id IN ({fresh}))"
    _move(store, FAMILIES, _FAMILY, whole, twin_families_sql(cache, pairs),
          f"WHERE {stale} OR {stale.replace('unique_id', 'twin_id')}", twin_families_sql(cache, added))


def _move(store: Store, table: str, columns: tuple[str, ...], whole: bool, every: str, drop: str, add: str) -> None:
    """A kept ``table`` moved in place (``DELETE FROM table {drop}``, then ``add``'s rows), or made
    anew from ``every`` when ``whole`` or not kept in ``columns``."""
    if whole or not _holds(store, table, columns):
        store.execute(f"CREATE OR REPLACE TABLE {table} AS {every}")
        return
    store.execute(f"DELETE FROM {table} {drop}")
    store.execute(f"INSERT INTO {table} {add}")


def families_beside(store: Store, rows: str, pairs: str) -> str:
    """``memory.link_families``: every pair's twin families, for a cache written beside the run."""
    store.execute(f"CREATE OR REPLACE TABLE memory.link_families AS {twin_families_sql(rows, pairs)}")
    return "memory.link_families"


def moved(store: Store, rows: str, pairs: str, fresh: str, counts: str, rare: int, two_upns: str) -> str:
    """A query of the current records (``k``) whose hashes may differ from those the last run saved:
    derived (``fresh``), co-twin pairs dropped (``before``) or added, a forename whose rarity
    (``counts``: ``guards.forename_counts_sql`` rows; at most ``rare``) flipped, or a UPN of a two-UPN
    group now or of one the month's keys held before."""
    store.execute(f"""CREATE OR REPLACE TABLE memory.hk_moved AS
SELECT unique_id AS k FROM {rows} i
WHERE unique_id IN (SELECT k FROM {fresh} UNION ALL SELECT k FROM memory.hk_twinned
                    UNION ALL SELECT unique_id FROM {pairs} WHERE twin_id IN (SELECT k FROM {fresh}))
   OR forename IN (SELECT b.forename FROM memory.hk_names b LEFT JOIN {counts} a USING (forename)
                   WHERE (b.n <= {int(rare)}) IS DISTINCT FROM (coalesce(a.n, 0) <= {int(rare)}))
   OR upn IN (SELECT upn FROM {two_upns} UNION ALL SELECT upn FROM memory.hk_gone_upns)""")
    return "SELECT k FROM memory.hk_moved"


def forget(store: Store) -> None:
    """Drop what ``before`` and ``moved`` left in memory (a run that hashed every record leaves them too)."""
    for table in ("hk_stale", "hk_twinned", "hk_keys", "hk_names", "hk_gone_upns", "hk_moved"):
        store.execute(f"DROP TABLE IF EXISTS memory.{table}")


def state(store: Store) -> tuple[str, str] | None:
    """(token, code) the last saved run's hashes were made under, if kept."""
    if not _holds(store, STATE, ("token", "code")):
        return None
    rows = store.rows(f"SELECT token, code FROM {STATE}")
    return rows[0] if len(rows) == 1 else None


def save_state(store: Store, token: str, code: str) -> None:
    """In the run's saving transaction, beside ``linked_records``: the cache and code they were made from."""
    store.execute(f"CREATE OR REPLACE TABLE {STATE} AS SELECT ? AS token, ? AS code", [token, code])


def _holds(store: Store, table: str, columns: tuple[str, ...]) -> bool:
    """``table`` is kept, in exactly ``columns`` (a store of other code may hold it otherwise)."""
    return table_exists(store.connection, *table.split(".")) and \
        [r[0] for r in store.rows(f"DESCRIBE {table}")] == list(columns)
