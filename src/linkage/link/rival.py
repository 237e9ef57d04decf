"""A twin is no rival for a record whose forename says whose it is.

``cluster.ambiguous_records`` refuses a record whose best link into another child comes within
``AMBIGUITY_GAP`` of its best link into its own. The other child is most often the record's
twin's: one home, one birthday, one surname, so the pair scores high on everything but the
forename, and the twin guard keeps it apart. The model's forename comparison gives a near
spelling partial credit, as it must for typos, so the school's Ella Cameron scores 21.8 against
the GP's Ella and 20.5 against the GP's Bella, her twin, and is linked to neither: at 250k
realistic (seed 42, session 23) 212 of the 213 records refused against a twin-guarded pair were
linked to the right child, and 210 stayed apart from it to the end.

A guarded other-child partner ``y`` is no rival to the record ``x``'s own partner ``o`` when
``x``'s forename is not ``y``'s and:

* ``x``'s forename is one name with ``o``'s (the same, a nickname or another form, or swapped with
  the surname: ``guards.same_name_sql``), and ``x``'s and ``y``'s are different names, not
  spellings of one name, as the guard reads them (``guards.different_names_sql``: Reuben / Aaron,
  Grace / Isla); or
* ``x``'s forename is one name with ``o``'s and spelt like ``y``'s (Mason / Jason), or is ``o``'s
  very forename and one name with ``y``'s (Anna / Hannah, Louis / Lewis), and ``x``'s own source
  holds a record of ``y``'s child as another child (a co-twin of ``x``,
  ``guards.cotwin_pairs_sql``): that source holds a child once, so ``x`` is not ``y``'s unless it
  holds one child twice *and* wrote ``x`` with exactly its sibling's name; or ``y``'s child holds
  an NHS number or UPN other than ``x``'s own (the GP's Ryan beside Bryan at the GP, born a day
  apart, so no co-twin: two NHS numbers, two children).

Nor is any other-child partner ``y`` a rival when ``x`` and ``o`` give one first middle name and no
record of ``y``'s child gives that name or a spelling of it (``middle_no_rivals``): the model weighs
the middle name with the rest, yet a record agreeing on everything but the surname and the home
with its twin's or a namesake's child still comes within the gap of its own. At 1M realistic
(seed 42, session 24) 138 refused records' partners held the record's middle name and every one
was its own child; none of their rivals' children held it.

Same-name twins (Fintan and Fintan Eduardo) are one forename and stay refused; so does a record
whose forename fits neither partner, and a spelling or nickname with neither a co-twin in ``x``'s
source nor another identifier in ``y``'s child (the GP's Mason beside Jason held only at school):
a slip there could be either twin's.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

import duckdb
import pandas as pd

from linkage.link.evidence import identifiers_of
from linkage.link.guards import different_names_sql, same_name_sql
from linkage.link.namesql import middle_name
from linkage.store import registered

__all__ = ["middle_no_rivals", "no_rivals"]


def no_rivals_sql(triples: str, rows: str, counts: str, cotwins: str) -> str:
    """(rec, alt, far) for the triples (rec, own, alt), read as (x, o, y) above, whose forenames
    allow ``y`` to be no rival: ``far`` when that needs nothing more (different names), else only
    with another child of ``x``'s source or another identifier in ``y``'s child (the caller's).
    ``rows``: input rows; ``counts``: ``guards.forename_counts_sql`` rows (the guard's
    ``forename_n``); ``cotwins``: ``cotwins_from_pairs_sql`` rows. Pure SQL."""
    return f"""
WITH t AS (SELECT * FROM {triples}),
ids AS (SELECT rec AS k FROM t UNION SELECT own FROM t UNION SELECT alt FROM t),
one AS (SELECT i.* FROM {rows} i SEMI JOIN ids ON ids.k = i.unique_id),
r AS (SELECT one.*, c.cotwins, n.n AS forename_n FROM one LEFT JOIN {cotwins} c USING (unique_id)
      LEFT JOIN {counts} n USING (forename))
SELECT t.rec, t.alt, coalesce({different_names_sql('rx', 'ry')}, false) AS far
FROM t JOIN r rx ON rx.unique_id = t.rec JOIN r ro ON ro.unique_id = t.own JOIN r ry ON ry.unique_id = t.alt
WHERE rx.forename <> ry.forename AND coalesce({same_name_sql('rx', 'ro')}, false)
  AND (NOT coalesce({same_name_sql('rx', 'ry')}, false) OR rx.forename = ro.forename)
"""


def no_rivals(con: duckdb.DuckDBPyConnection, triples: Iterable[tuple[str, str, str]], cluster_of: dict[str, str],
              identifiers: dict[str, dict[str, str | None]], rows: str, counts: str, cotwins: str,
              cotwin_pairs: str) -> set[tuple[str, str]]:
    """The (x, y) of ``triples`` (record, its own partner, a guarded partner in another child)
    whose ``y`` is no rival to ``o`` (module docstring). ``identifiers``: record -> NHS number and
    UPN root; ``cotwin_pairs``: ``cotwin_pairs_sql`` rows, read for the co-twins of ``x`` and the
    child each is in (``cluster_of``)."""
    frame = pd.DataFrame(list(dict.fromkeys(triples)), columns=["rec", "own", "alt"], dtype=object)
    if frame.empty:
        return set()
    with registered(con, _rival_df=frame):
        read = con.execute(no_rivals_sql("_rival_df", rows, counts, cotwins)).fetchall()
        near = sorted({x for x, _, far in read if not far})
        twins: dict[str, set[str]] = {}
        if near:
            with registered(con, _rival_near_df=pd.DataFrame({"k": pd.Series(near, dtype=object)})):
                for x, twin in con.execute(f"SELECT unique_id, twin_id FROM {cotwin_pairs} "
                                           "WHERE unique_id IN (SELECT k FROM _rival_near_df)").fetchall():
                    if twin in cluster_of:
                        twins.setdefault(x, set()).add(cluster_of[twin])
    held = identifiers_of(cluster_of, identifiers, {cluster_of.get(y) for x, y, far in read if not far})

    def apart(x: str, child: str | None) -> bool:
        mine = identifiers.get(x) or {}
        return child in twins.get(x, ()) or any(v and held.get(child, {}).get(kind, set()) - {v}
                                                for kind, v in mine.items())

    return {(x, y) for x, y, far in read if far or apart(x, cluster_of.get(y))}


# A first middle name spelt like another (the model's middle name comparison reads 0.9 as agreeing;
# the guard reads below 0.88 as a different name): the looser of the two, so a slip is no escape.
MIDDLE_NEAR = 0.88


def middle_no_rivals(con: duckdb.DuckDBPyConnection, triples: Iterable[tuple[str, str, str]],
                     cluster_of: dict[str, str], rows: str) -> set[tuple[str, str]]:
    """The (x, y) of ``triples`` (record, its own partner, a partner in another child) where ``x``
    and ``o`` give one first middle name and no record of ``y``'s child (``cluster_of``) gives
    it or a spelling of it (Jaro-Winkler at least ``MIDDLE_NEAR``). ``rows``: input rows."""
    frame = pd.DataFrame(list(dict.fromkeys(triples)), columns=["rec", "own", "alt"], dtype=object)
    if frame.empty:
        return set()
    frame["child"] = [cluster_of.get(y) for y in frame["alt"]]
    children = set(frame["child"]) - {None}
    members = [(k, c) for k, c in cluster_of.items() if c in children]
    members_table = pa.table({"unique_id": pa.array([k for k, _ in members], pa.string()),
                              "child": pa.array([c for _, c in members], pa.string())})
    with registered(con, _mid_triples_df=frame, _mid_members_df=members_table):
        read = con.execute(f"""
WITH t AS (SELECT * FROM _mid_triples_df),
m AS (SELECT unique_id, nullif({middle_name("coalesce(middle_names, '')")}, '') AS m FROM {rows}
      WHERE unique_id IN (SELECT rec FROM t UNION SELECT own FROM t UNION SELECT unique_id FROM _mid_members_df)),
held AS (SELECT k.child, list(DISTINCT m.m) FILTER (WHERE m.m IS NOT NULL) AS ms
         FROM _mid_members_df k JOIN m USING (unique_id) GROUP BY k.child)
SELECT t.rec, t.alt FROM t JOIN m mx ON mx.unique_id = t.rec JOIN m mo ON mo.unique_id = t.own
LEFT JOIN held h ON h.child = t.child
WHERE mx.m = mo.m AND NOT coalesce(list_bool_or(list_transform(h.ms, y -> jaro_winkler_similarity(mx.m, y) >= {MIDDLE_NEAR})), false)
""").fetchall()
    return {(x, y) for x, y in read}
