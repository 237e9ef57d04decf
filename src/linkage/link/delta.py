"""What a monthly delta reaches, and writing a run as a delta.

Constrained clustering decomposes over the connected components of the *strong graph*:
pairs at or above the match threshold (guarded ones too, which the ambiguity check
reads), a reviewer's matches, and each record's previous child. Within a component,
edges are joined strongest first and every constraint (twin guard, NHS numbers, UPNs,
a reviewer's decisions, the ambiguity gap) involves only the component's own records,
so a component that no new, changed or removed record reaches clusters exactly as it
did last time. An incremental run therefore:

* scores only new and changed records against their blocking candidates, keeping every other
  stored pair as it was scored; a pair's score is a function of its two records, its twin
  guard is not: the stored pairs of records whose guard evidence changed (``guard_sha``), and of
  two forenames whose standing as names twins are given moved (``twin_name_pairs``), are guarded
  again (``reguard``), not scored again;
* re-clusters only the components reached (``reach``) from those records, from records whose
  guard evidence changed, from the other end of every pair dropped with them or guarded
  otherwise, and from every record a reviewer decided on; everything else keeps its child;
* writes only what changed: pairs, hashes and identities where they differ deleted and
  appended (never updated in place: a checkpoint rewrites an updated column whole), queue rows
  replaced where reached.

A full run goes through the same code with every record reached.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from linkage.errors import StoreError
from linkage.store import Store, registered
from linkage.store.schema import t

__all__ = ["EDGES", "FLIPPED", "REACH", "children", "context", "earlier_pass", "reach", "reguard", "save_children",
           "save_guards", "save_identity", "save_pass_pairs", "save_records", "scoped_edges", "stage_children",
           "stage_identity", "stage_records", "twin_name_pairs", "widen"]

INPUT = "memory.link_input"         # the run's records (``engine.INPUT``)
EDGES = "memory.run_edges"          # this run's scored pairs: kept ones and new ones
REACH = "memory.reach"              # records re-clustered this run (column k)
CONTEXT = "memory.reach_context"    # records outside it whose child a reached pair touches
FLIPPED = "memory.link_flipped"     # kept pairs guarded otherwise this run (``reguard``)
TWIN_NAMES = "memory.twin_names"    # this run's names twins are given (``engine``, ``guards.twin_names_sql``)
_COLS = "unique_id_l, unique_id_r, match_probability, match_weight, guarded"


def _table(store: Store, name: str, frame: pd.DataFrame) -> None:
    """A frame of record keys and child ids as a table of text columns (also when empty); a
    column of ``bool`` dtype stays boolean."""
    view = f"_{name.split('.')[-1]}_df"
    cols = ", ".join(f'CAST("{c}" AS {"BOOLEAN" if frame[c].dtype == bool else "VARCHAR"}) AS "{c}"'
                     for c in frame.columns)
    with registered(store.connection, **{view: frame}):
        store.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {cols} FROM {view}")


def reach(store: Store, seeds: str, threshold: float, must_link: list[tuple[str, str]], passes: bool = True) -> int:
    """Fill ``REACH`` with every current record connected to ``seeds`` (a query of column k)
    in the strong graph over ``EDGES``, through previous children, and through the last run's
    second-pass candidates (``pass_pairs``: a kept child's candidates among kept children are
    as they were, so they are followed here rather than searched for again); returns how many."""
    _table(store, "memory.reach_must", pd.DataFrame(must_link or [], columns=["a", "b"], dtype=object))
    # Each step joins every record's child twice: read from the store once, not twice a step.
    store.execute(f"CREATE OR REPLACE TABLE memory.reach_identity AS SELECT record_key, child_id FROM {t('identity')}")
    current = "SELECT record_key FROM memory.link_hash"
    passes_sql = f"""
  UNION ALL SELECT p.record_key_r FROM {t('pass_pairs')} p JOIN memory.reach_front f ON p.record_key_l = f.k
  UNION ALL SELECT p.record_key_l FROM {t('pass_pairs')} p JOIN memory.reach_front f ON p.record_key_r = f.k"""
    store.execute(f"CREATE OR REPLACE TABLE {REACH} AS SELECT DISTINCT k FROM ({seeds}) WHERE k IN ({current})")
    store.execute(f"CREATE OR REPLACE TABLE memory.reach_front AS SELECT k FROM {REACH}")
    while True:
        store.execute(f"""CREATE OR REPLACE TABLE memory.reach_front AS
SELECT DISTINCT k FROM (
  SELECT e.unique_id_r AS k FROM {EDGES} e JOIN memory.reach_front f ON e.unique_id_l = f.k
  WHERE e.match_probability >= {float(threshold)}
  UNION ALL SELECT e.unique_id_l FROM {EDGES} e JOIN memory.reach_front f ON e.unique_id_r = f.k
  WHERE e.match_probability >= {float(threshold)}
  UNION ALL SELECT m.b FROM memory.reach_must m JOIN memory.reach_front f ON m.a = f.k
  UNION ALL SELECT m.a FROM memory.reach_must m JOIN memory.reach_front f ON m.b = f.k
  UNION ALL SELECT o.record_key FROM memory.reach_identity i JOIN memory.reach_front f ON i.record_key = f.k
            JOIN memory.reach_identity o ON o.child_id = i.child_id
{passes_sql if passes else ""})
WHERE k NOT IN (SELECT k FROM {REACH}) AND k IN ({current})""")
        grown = store.scalar("SELECT count(*) FROM memory.reach_front")
        if not grown:
            store.execute("DROP TABLE memory.reach_identity")
            return int(store.scalar(f"SELECT count(*) FROM {REACH}"))
        store.execute(f"INSERT INTO {REACH} SELECT k FROM memory.reach_front")


def widen(store: Store, more: set[str], threshold: float, must_link: list[tuple[str, str]]) -> int:
    """``REACH`` grown by the records ``more`` and everything ``reach`` connects to them; returns
    how many records it then holds."""
    _table(store, "memory.reach_seed", pd.DataFrame({"k": sorted(more)}, dtype=object))
    store.execute(f"INSERT INTO memory.reach_seed SELECT k FROM {REACH}")
    try:
        return reach(store, "SELECT k FROM memory.reach_seed", threshold, must_link)
    finally:
        store.execute("DROP TABLE memory.reach_seed")


def earlier_pass(store: Store) -> set[str]:
    """Records outside ``REACH`` in the last run's second-pass pairs (``pass_pairs``) in a cohort
    (forename code, year of birth) of a reached record: the namesakes ``evidence.coincidences``
    counts changed there, and a full relink decides those pairs again with the new count. (The
    pairs' own ends are reached by ``reach``.)"""
    cohort = "coalesce(x.forename_dm, x.forename) AS fk, year(x.dob) AS y"
    return {r[0] for r in store.rows(f"""
SELECT k FROM (
  SELECT p.k, {cohort} FROM (SELECT record_key_l AS k FROM {t('pass_pairs')} UNION SELECT record_key_r
                            FROM {t('pass_pairs')}) p JOIN {INPUT} x ON x.unique_id = p.k
  WHERE p.k NOT IN (SELECT k FROM {REACH})) q
SEMI JOIN (SELECT DISTINCT {cohort} FROM {INPUT} x SEMI JOIN {REACH} r ON r.k = x.unique_id) c
  USING (fk, y)""")}


def save_pass_pairs(store: Store, pairs: list[tuple[str, str]], run_id: int, full: bool) -> None:
    """The second pass's candidate record pairs: all of them (a full run), or those touching
    ``REACH`` replaced (a month's pass met every candidate of the records it reached)."""
    if full:
        store.execute(f"DELETE FROM {t('pass_pairs')}")
    else:
        store.execute(f"DELETE FROM {t('pass_pairs')} WHERE record_key_l IN (SELECT k FROM {REACH}) "
                      f"OR record_key_r IN (SELECT k FROM {REACH})")
    frame = pd.DataFrame(sorted({tuple(sorted(p)) for p in pairs}), columns=["record_key_l", "record_key_r"],
                         dtype=object).assign(run_id=int(run_id))
    if not frame.empty:
        store.insert_df(t("pass_pairs"), frame)


def scoped_edges(store: Store) -> pd.DataFrame:
    """Every pair in ``EDGES`` touching a reached record."""
    return store.df(f"SELECT {_COLS} FROM {EDGES} WHERE unique_id_l IN (SELECT k FROM {REACH}) "
                    f"OR unique_id_r IN (SELECT k FROM {REACH})")


def context(store: Store, edges: pd.DataFrame) -> tuple[dict[str, str], pd.DataFrame]:
    """The unreached end of each reached pair belongs to a child that keeps its records: those
    records (record -> a cluster label for that child) and the pairs among them, so the queue
    can tell whether such a pair is worth asking about as a full run would."""
    reached = set(store.connection.execute(f"SELECT k FROM {REACH}").fetchnumpy()["k"].tolist())
    outside = (set(edges["unique_id_l"]) | set(edges["unique_id_r"])) - reached
    if not outside:
        return {}, edges.iloc[0:0]
    _table(store, "memory.reach_outside", pd.DataFrame({"k": sorted(outside)}, dtype=object))
    store.execute(f"""CREATE OR REPLACE TABLE {CONTEXT} AS
SELECT DISTINCT o.record_key AS k, o.child_id FROM {t('identity')} i
JOIN memory.reach_outside x ON i.record_key = x.k
JOIN {t('identity')} o ON o.child_id = i.child_id
WHERE o.record_key IN (SELECT record_key FROM memory.link_hash) AND o.record_key NOT IN (SELECT k FROM {REACH})""")
    labels = {k: "kept:" + c for k, c in store.rows(f"SELECT k, child_id FROM {CONTEXT}")}
    inner = store.df(f"SELECT {_COLS} FROM {EDGES} WHERE unique_id_l IN (SELECT k FROM {CONTEXT}) "
                     f"AND unique_id_r IN (SELECT k FROM {CONTEXT})")
    return labels, inner


def stage_records(store: Store, moved: bool = False) -> None:
    """``memory.hash_delta``: current records that are new or whose hashes changed (``rescore``:
    new or its fields changed, so its pairs are scored again; else only its guard's evidence), and
    ``memory.hash_gone`` (column k): saved records no longer current (before the saving
    transaction, which may write to the store only). Both from one join of the million rows; or,
    when ``moved`` (the engine hashed only ``memory.link_hash_moved``, ``hashkeep``), from those
    records and the cache's dropped ones (``memory.link_dropped``): every other one is as saved."""
    if moved:
        store.execute(f"""CREATE OR REPLACE TABLE memory.hash_delta AS
SELECT h.record_key, h.content_sha, h.guard_sha, p.record_key IS NULL AS new,
       p.record_key IS NULL OR p.content_sha <> h.content_sha AS rescore FROM memory.link_hash_moved h
LEFT JOIN {t('linked_records')} p USING (record_key)
WHERE p.record_key IS NULL OR p.content_sha <> h.content_sha OR p.guard_sha IS DISTINCT FROM h.guard_sha""")
        store.execute(f"CREATE OR REPLACE TABLE memory.hash_gone AS SELECT record_key AS k FROM {t('linked_records')} "
                      "WHERE record_key IN (SELECT k FROM memory.link_dropped)")
        return
    store.execute(f"""CREATE OR REPLACE TABLE memory.hash_join AS
SELECT coalesce(h.record_key, p.record_key) AS record_key, h.content_sha, h.guard_sha,
       p.record_key IS NULL AS new, h.record_key IS NULL AS gone,
       p.record_key IS NULL OR p.content_sha <> h.content_sha AS rescore FROM memory.link_hash h
FULL JOIN {t('linked_records')} p USING (record_key)
WHERE p.record_key IS NULL OR h.record_key IS NULL
   OR p.content_sha <> h.content_sha OR p.guard_sha IS DISTINCT FROM h.guard_sha""")
    store.execute("CREATE OR REPLACE TABLE memory.hash_delta AS SELECT record_key, content_sha, guard_sha, new, rescore "
                  "FROM memory.hash_join WHERE NOT gone")
    store.execute("CREATE OR REPLACE TABLE memory.hash_gone AS SELECT record_key AS k FROM memory.hash_join WHERE gone")
    store.execute("DROP TABLE memory.hash_join")


def twin_name_pairs(store: Store) -> str:
    """A query of (a, b): the pairs of forenames that are names twins are given this run and were
    not at the last, or the other way round (``guards.twin_names_sql``; a store saved before they
    were kept counts as having none: its records of such names were guarded under its old
    ``guard_sha``, which held them, and so are guarded again through that)."""
    store.execute(f"""CREATE OR REPLACE TABLE memory.twin_moved AS
(SELECT a, b FROM {TWIN_NAMES} EXCEPT SELECT a, b FROM {t('twin_names')})
UNION (SELECT a, b FROM {t('twin_names')} EXCEPT SELECT a, b FROM {TWIN_NAMES})""")
    return "SELECT a, b FROM memory.twin_moved"


def reguard(store: Store, guard: Callable[[str], pd.DataFrame]) -> int:
    """Guard again the kept pairs of ``EDGES`` whose guard may read otherwise now: those of a record
    whose guard evidence changed (``hash_delta`` without ``rescore``) and those of two forenames
    whose standing as twins' names moved (``twin_name_pairs``). ``guard(query)``: the pairs of
    the query whose verdict is now another (``LinkEngine.reguard``). Those are set in ``EDGES``
    and kept in ``FLIPPED`` for the save; returns how many."""
    moved = twin_name_pairs(store)
    store.execute("CREATE OR REPLACE TABLE memory.reguard_keys AS SELECT record_key AS k FROM memory.hash_delta "
                  "WHERE NOT rescore")
    edges = f"""SELECT e.unique_id_l, e.unique_id_r, e.guarded FROM {EDGES} e
WHERE e.unique_id_l IN (SELECT k FROM memory.reguard_keys) OR e.unique_id_r IN (SELECT k FROM memory.reguard_keys)"""
    if store.scalar(f"SELECT count(*) FROM ({moved})"):     # most months: none (no need to read every forename)
        store.execute(f"""CREATE OR REPLACE TABLE memory.reguard_names AS SELECT unique_id, forename FROM {INPUT}
WHERE forename IN (SELECT a FROM ({moved}) UNION SELECT b FROM ({moved}))""")
        edges += f"""
UNION
SELECT e.unique_id_l, e.unique_id_r, e.guarded FROM {EDGES} e
JOIN memory.reguard_names l ON l.unique_id = e.unique_id_l JOIN memory.reguard_names r ON r.unique_id = e.unique_id_r
WHERE (least(l.forename, r.forename), greatest(l.forename, r.forename)) IN (SELECT (a, b) FROM ({moved}))"""
    _table(store, FLIPPED, guard(edges)[["unique_id_l", "unique_id_r", "guarded"]].astype({"guarded": bool}))
    store.execute(f"UPDATE {EDGES} SET guarded = f.guarded FROM {FLIPPED} f "
                  f"WHERE {EDGES}.unique_id_l = f.unique_id_l AND {EDGES}.unique_id_r = f.unique_id_r")
    for table in ("memory.reguard_names", "memory.reguard_keys", "memory.twin_moved"):
        store.execute(f"DROP TABLE IF EXISTS {table}")
    return int(store.scalar(f"SELECT count(*) FROM {FLIPPED}"))


def save_guards(store: Store, run_id: int, full: bool) -> None:
    """The kept pairs guarded otherwise (``FLIPPED``; a full run writes every pair anew), and the
    names twins are given that this run's pairs were guarded with, for the next run's
    ``twin_name_pairs``. A flipped pair is appended as it now is and its old row deleted, not
    updated in place (the note above ``_once``)."""
    if not full:
        edges = t("link_edges")
        store.execute(f"INSERT INTO {edges} (record_key_l, record_key_r, match_probability, match_weight, guarded, "
                      f"run_id) SELECT e.record_key_l, e.record_key_r, e.match_probability, e.match_weight, f.guarded, "
                      f"{int(run_id)} FROM {edges} e JOIN {FLIPPED} f ON e.record_key_l = f.unique_id_l "
                      "AND e.record_key_r = f.unique_id_r AND e.guarded <> f.guarded")
        store.execute(f"DELETE FROM {edges} USING {FLIPPED} f WHERE {edges}.record_key_l = f.unique_id_l "
                      f"AND {edges}.record_key_r = f.unique_id_r AND {edges}.guarded <> f.guarded")
    store.execute(f"DELETE FROM {t('twin_names')}")
    store.execute(f"INSERT INTO {t('twin_names')} (a, b, run_id) SELECT a, b, {int(run_id)} FROM {TWIN_NAMES}")


# The saves change a month's few rows of million-row tables by deleting them and appending them
# anew, never by UPDATE: DuckDB checkpoints an updated column by rewriting it whole in every row
# group an update touched (a month's changes touch them all), while a deleted row costs a mark
# and an appended one only itself. At a million records the month's UPDATEs made its commit
# (the checkpoint) 2 of its 14 seconds.


def _once(store: Store, what: str, column: str, added: str, table: str) -> None:
    """Refuse (rolling the save back) rows ``added`` that repeat a ``column`` value among
    themselves or of ``table``: the big tables keep one row per key without a PRIMARY KEY
    (``store.schema``), and a run must never be the one that breaks that."""
    twice = store.rows(f"SELECT {column} FROM ({added}) GROUP BY 1 HAVING count(*) > 1 LIMIT 1") or store.rows(
        f"SELECT a.{column} FROM ({added}) a SEMI JOIN {table} t ON t.{column} = a.{column} LIMIT 1")
    if twice:
        raise StoreError(f"not saved: {what} {twice[0][0]} would be in {table} twice; nothing from this run was saved")


def save_records(store: Store, run_id: int) -> None:
    """``linked_records`` brought to ``memory.link_hash``: only new, changed and removed rows
    (``stage_records``) touched, a changed one deleted and appended anew (the note above ``_once``)."""
    _once(store, "record", "record_key", "SELECT record_key FROM memory.hash_delta WHERE new", t("linked_records"))
    store.execute(f"DELETE FROM {t('linked_records')} WHERE record_key IN (SELECT k FROM memory.hash_gone) "
                  "OR record_key IN (SELECT record_key FROM memory.hash_delta WHERE NOT new)")
    store.execute(f"INSERT INTO {t('linked_records')} (record_key, content_sha, guard_sha, run_id) "
                  f"SELECT record_key, content_sha, guard_sha, {int(run_id)} FROM memory.hash_delta")


def stage_identity(store: Store, record_to_child: dict[str, str], previous: dict[str, str],
                   aliases: dict[str, str]) -> None:
    """``memory.id_alias`` (retired -> survivor) and ``memory.id_delta`` (records whose child
    changed; ``new``: the record has no identity row yet). ``previous``: the saved child of every
    record of ``record_to_child`` that has one."""
    _table(store, "memory.id_alias", pd.DataFrame({"old": list(aliases), "survivor": list(aliases.values())},
                                                  dtype=object))
    if previous:
        changed = [(k, c, k not in previous) for k, c in record_to_child.items() if previous.get(k) != c]
        delta = pd.DataFrame(changed, columns=["record_key", "child_id", "new"], dtype=object)
    else:       # a first run: every record is new, a million of them, as columns rather than rows
        delta = pd.DataFrame({"record_key": np.asarray(list(record_to_child), dtype=object),
                              "child_id": np.asarray(list(record_to_child.values()), dtype=object),
                              "new": True})
    _table(store, "memory.id_delta", delta.astype({"new": bool}))


def stage_children(store: Store) -> None:
    """``memory.children_touched``: the only children whose having a current record a month's save
    can change, and ``memory.children_before``: how many of them have one before it (``children``).
    A record's child changes only in ``REACH`` (``memory.id_delta``) or by an alias (both ends
    kept), and a record stops or starts being current only as gone (``hash_gone``) or new (reached),
    so every other child keeps its records and their standing."""
    identity = t("identity")
    store.execute(f"""CREATE OR REPLACE TABLE memory.children_touched AS
SELECT child_id FROM {identity} WHERE record_key IN (SELECT k FROM {REACH} UNION ALL SELECT k FROM memory.hash_gone)
UNION SELECT child_id FROM memory.id_delta UNION SELECT old FROM memory.id_alias
UNION SELECT survivor FROM memory.id_alias""")
    store.execute(f"CREATE OR REPLACE TABLE memory.children_before AS {_current_children(t('linked_records'))}")


def _current_children(current: str) -> str:
    """How many ``children_touched`` have a record in ``current``: their records, a few thousand
    read out of ``identity`` by child, then looked up among the current ones (never a million
    keys hashed)."""
    return f"""SELECT count(DISTINCT i.child_id) AS n FROM (SELECT record_key, child_id FROM {t('identity')}
  WHERE child_id IN (SELECT child_id FROM memory.children_touched)) i JOIN {current} c USING (record_key)"""


def children(store: Store, previous: int | None) -> int:
    """The children with a current record after the save (in its transaction, after
    ``save_identity`` and ``save_records``): ``previous``, the last run's count, moved by the
    children staged by ``stage_children``; counted over every record when there is none."""
    if previous is None:
        return int(store.scalar(f"SELECT count(DISTINCT child_id) FROM {t('identity')} "
                                "WHERE record_key IN (SELECT record_key FROM memory.link_hash)"))
    after = int(store.scalar(_current_children("memory.link_hash")))
    return int(previous) + after - int(store.scalar("SELECT n FROM memory.children_before"))


def save_children(store: Store, minted: list[str], run_id: int) -> None:
    """The identifiers minted this run, each new to ``child_ids``."""
    if not minted:
        return
    frame = pd.DataFrame({"child_id": pd.Series(minted, dtype=object), "status": "active", "created_run": run_id})
    # A registered view, not a memory table (``_table``): this runs inside the store's transaction,
    # and DuckDB lets one transaction write to one attached database only.
    with registered(store.connection, _minted_df=frame):
        _once(store, "child identifier", "child_id", "SELECT child_id FROM _minted_df", t("child_ids"))
    store.insert_df(t("child_ids"), frame)


def save_identity(store: Store, run_id: int) -> None:
    """Retired identifiers followed to their survivor in every row (records of superseded
    extracts keep their last child), then only the records whose child changed written. Each
    row that changes is appended as it now is and its old row deleted (the note above
    ``_once``); a survivor is never itself retired (``identity.assign_ids``), so the old rows
    are told apart by their identifier."""
    ids, identity, run = t("child_ids"), t("identity"), int(run_id)
    store.execute(f"INSERT INTO {ids} (child_id, status, alias_of, created_run, retired_run) SELECT c.child_id, "
                  f"'alias', a.survivor, c.created_run, {run} FROM {ids} c "
                  "JOIN memory.id_alias a ON c.child_id = a.old")
    store.execute(f"DELETE FROM {ids} WHERE child_id IN (SELECT old FROM memory.id_alias) "
                  f"AND retired_run IS DISTINCT FROM {run}")
    store.execute(f"INSERT INTO {identity} (record_key, child_id, run_id) SELECT i.record_key, a.survivor, i.run_id "
                  f"FROM {identity} i JOIN memory.id_alias a ON i.child_id = a.old")
    store.execute(f"DELETE FROM {identity} WHERE child_id IN (SELECT old FROM memory.id_alias)")
    # The new rows, checked against the table (a probe of it, not a million keys hashed).
    _once(store, "record", "record_key", "SELECT record_key FROM memory.id_delta WHERE new", identity)
    store.execute(f"DELETE FROM {identity} WHERE record_key IN (SELECT record_key FROM memory.id_delta WHERE NOT new)")
    store.execute(f"INSERT INTO {identity} (record_key, child_id, run_id) SELECT record_key, child_id, {run} "
                  "FROM memory.id_delta")
