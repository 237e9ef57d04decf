"""One UPN on two school records, in two children, the names alike: queued.

``complement.shared_identifiers`` queues two children holding one UPN or NHS number, unless both
hold a record of one source: two school records are two pupils "whatever the number says" (at
250,000 easy records, 27 of 28 such pairs were a number typed against the wrong child). But a UPN
stays with a pupil for the whole of their school career, so two school records under one UPN are
also the one pupil at two schools, or entered twice by one school (the census's "duplicate UPN").
Then the two children share a source *because of* the two records that share the number, and that
says nothing against them.

What separates the two cases is the rest of the two records. A number typed against the wrong
child carries another child's names and birthday (Tiberia Marsden / William Sharkey, Romolo
McIntosh / Edward Leneghan); the one child's two records are alike despite a slip (Amelia Dcker /
Decker born ten days apart, Iuliia / Julia Kuznetsov / Kuznetsova, Giannis Chang / Ioannis Cheung,
Isk / Isla Borroini / Borromini, Clarke Iris / Ieis Clarke written the other way round). So two
records of one source holding one UPN (after its FormerUPN history), in two of the two to
``SHARED_MOST`` children holding it, are kept when they are born within ``reach.NEAR_DAYS`` days or a slip apart (day and month
transposed, a typed digit) and one name agrees: the forenames (a forename key or Jaro-Winkler at
least ``reach.NAME_JW``), the surnames (a surname key or at least ``reach.SURNAME_JW``), or one
record's forename and the other's surname (written the other way round). As every queue rule's
pairs, no co-twin of either record may fit the other better (``reach.clear_pairs_sql``), the two
children must be able to be one (no two NHS numbers, UPNs, sexes or first middle names) and hold no
*other* source in common. Queued, never linked.

Counted over session 35's final clusters (``linkage synth`` realistic, seed 42; docs/benchmarks.md,
"Session 36: queue8"): at 1,000,000 records, of the pairs of children no rule queued that hold one
number on two records of one source, 89 by a UPN (10 one child) and 225 by an NHS number (none), the
names-and-birthday test keeps 9 of the 10 and none of the others; at 250,000, 27, none one child, none kept.
Two GP records under one NHS number are left out: at 1M none was one child and reading them doubled
the rule's cost (0.8 against 0.4 CPU s over the stored clusters) for the same pairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import duckdb

from linkage.link.complement import SHARED_MOST
from linkage.link.evidence import _DATE_TEXT, ClusterPass
from linkage.link.guards import date_slip_sql, transposed_sql
from linkage.link.reach import NAME_JW, NEAR_DAYS, SURNAME_JW, _MET_NAMES, clear_pairs_sql, met_rows_sql, queue_apart

__all__ = ["HELDTWICE_REASON", "heldtwice_pairs", "heldtwice_sql"]

HELDTWICE_REASON = "one UPN on two {source} records in two children, names alike ({evidence}): not linked by the model"
_SOURCE = {"education": "school", "health": "GP", "social_care": "social care"}


def _alike(a: str, b: str) -> str:
    """One name of ``a`` agrees with ``b``'s: forenames, surnames, or crossed (pure SQL)."""
    jw = "jaro_winkler_similarity"
    return (f"(list_has_any({a}.forename_keys, {b}.forename_keys) OR {jw}({a}.forename, {b}.forename) >= {NAME_JW} "
            f"OR list_has_any({a}.surname_all, {b}.surname_all) OR {jw}({a}.surname, {b}.surname) >= {SURNAME_JW} "
            f"OR {jw}({a}.forename, {b}.surname) >= {SURNAME_JW} OR {jw}({a}.surname, {b}.forename) >= {SURNAME_JW})")


def heldtwice_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how, source) of the module docstring: two records of one source
    holding one UPN, in two children, alike in a name and born near (pure SQL)."""
    days = "abs(datediff('day', x.dob, y.dob))"
    near = f"({days} <= {NEAR_DAYS} OR {transposed_sql('x', 'y')} OR {date_slip_sql('x', 'y', _DATE_TEXT)})"
    return f"""
WITH ids AS (
  SELECT upn_root AS value, cluster_id, unique_id FROM {clusters_table} WHERE coalesce(upn_root, '') <> ''),
held AS MATERIALIZED (
  SELECT i.* FROM ids i SEMI JOIN (SELECT value FROM ids GROUP BY value
    HAVING count(DISTINCT cluster_id) BETWEEN 2 AND {SHARED_MOST}) s ON s.value = i.value),
-- The input read once, for the few records holding such a number (the co-twin test's names too).
rec AS MATERIALIZED (
  SELECT {_MET_NAMES.replace("x.unique_id", "x.unique_id, x.source_dataset, x.dob")}, x.forename_dm
  FROM {input_table} x WHERE x.unique_id IN (SELECT unique_id FROM held) AND x.dob IS NOT NULL),
met AS MATERIALIZED (
  SELECT a.unique_id AS l, b.unique_id AS r, a.cluster_id AS ca, b.cluster_id AS cb,
    CASE WHEN x.dob = y.dob THEN 'same birthday' WHEN {days} = 1 THEN 'born a day apart'
         WHEN {transposed_sql('x', 'y')} THEN 'day and month transposed'
         WHEN {days} <= {NEAR_DAYS} THEN 'born days apart' ELSE 'birthdays one typed digit apart' END AS how,
    x.source_dataset AS source
  FROM held a JOIN held b ON a.value = b.value AND a.unique_id < b.unique_id
  JOIN rec x ON x.unique_id = a.unique_id JOIN rec y ON y.unique_id = b.unique_id
  WHERE a.cluster_id <> b.cluster_id AND x.source_dataset = y.source_dataset AND {near} AND {_alike('x', 'y')}),
{met_rows_sql("rec", cotwin_table, _MET_NAMES + ", x.forename_dm")},
{clear_pairs_sql(input_table, clusters_table)}"""


def heldtwice_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                    found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``heldtwice_sql`` that the pass neither linked nor queued
    nor keeps apart, whose children hold no source in common but the one of the two records; one per
    two children. Returns how many were queued."""
    by_source: dict[str, list[tuple]] = defaultdict(list)
    for l, r, ca, cb, how, source in con.execute(heldtwice_sql(input_table, clusters_table, cotwin_table)).fetchall():
        by_source[source].append((l, r, ca, cb, how))
    return sum(queue_apart(rows, lambda how, s=source: HELDTWICE_REASON.format(
        source=_SOURCE.get(s, s), evidence=how), found, cluster_of, apart, shared=frozenset({source}))
        for source, rows in sorted(by_source.items()))
