"""One child's birthday with day and month transposed, and the name written another way: queued.

One agency writes a date of birth day first and another month first (7 October / 10 July), and
one writes the child's forename in another form or with a slip (Ollie / Oliver, Sammy / Samuel,
Michael / Mixhael), or the family name first (Snyder Toni / Toni Snyder, Casserly Abiona / Abiona
Caserly). Splitting the pair takes both: the model weighs the date of birth most, and the second
pass's keys that read a transposed birthday need a middle name (``reach``'s ``birthday``), one home
(``home``) or the forename written the same in its place (``spelling``); ``reach``'s ``swap`` key
needs one birthday. At two homes, with no middle name on the GP's record, nothing meets the pair.

What the two records still share is the family name, written the same (in one record possibly in
the forename's place), and a birthday that reads as the other's with day and month transposed: a
rare coincidence for two children (siblings are not born a transposed date apart in one year but a
gestation apart, and two strangers of one surname seldom are). So records are met on that equality
(the surname, or one's forename against the other's surname, and the transposed date: cheap at any
size) and a pair is kept when the names are one name: the forenames one, possibly typed or in
another form (``reach._names_related``), or, swapped, each record's forename the other's surname so
written (``guards.swapped_sql``); no co-twin of either record fits the other record as well as the
record itself does (``guards._closer_to_cotwin``); the two children hold no source in common and no
two different UPNs, NHS numbers, sexes or first middle names (``reach.one_child_sql``); and no twin
guard or reviewer keeps them apart. A day above 12, or equal to the month, has no transposed
reading.

Counted over the clusters of session 32's final run at 1,000,000 ``linkage synth`` realistic
records (seed 42; docs/benchmarks.md, "Session 33: queue4"): 51 pairs of children, 50 one child; 11
not queued by any other reason, 10 of them one child (the eleventh Harry / Henry Smith, born 3
February and 2 March): 3 of those 11 swapped. At 250,000, 6 pairs, all one child and all queued
already. Queued, never linked.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.link.evidence import ClusterPass
from linkage.link.guards import _closer_to_cotwin, swapped_sql
from linkage.link.reach import _MET_NAMES, _names_related, met_rows_sql, one_child_sql, queue_rule

__all__ = ["TRANSPOSED_REASON", "transposed_pairs", "transposed_sql"]

TRANSPOSED_REASON = ("possibly one child in two: one full name (the forename in another form or with a slip), birthday "
                     "with day and month transposed, no source holds both ({evidence})")


def transposed_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how) of the module docstring: one surname (or one record's forename
    the other's surname), one birthday read with day and month transposed, the names one name, in
    two children that could be one (pure SQL)."""
    return f"""
WITH rec AS MATERIALIZED (
  SELECT x.unique_id, x.source_dataset, c.cluster_id, x.forename, x.surname, x.dob,
    CASE WHEN day(x.dob) <= 12 AND day(x.dob) <> month(x.dob) THEN make_date(year(x.dob), day(x.dob), month(x.dob))
    END AS read_transposed
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id) WHERE x.dob IS NOT NULL AND x.surname IS NOT NULL),
met AS MATERIALIZED (
  SELECT a.unique_id AS l, b.unique_id AS r, a.cluster_id AS ca, b.cluster_id AS cb, 'in one order' AS how
  FROM rec a JOIN rec b ON a.surname = b.surname AND a.read_transposed = b.dob
  WHERE a.unique_id < b.unique_id AND a.cluster_id <> b.cluster_id AND a.source_dataset <> b.source_dataset
  UNION ALL
  SELECT least(a.unique_id, b.unique_id), greatest(a.unique_id, b.unique_id),
    CASE WHEN a.unique_id < b.unique_id THEN a.cluster_id ELSE b.cluster_id END,
    CASE WHEN a.unique_id < b.unique_id THEN b.cluster_id ELSE a.cluster_id END, 'forename and surname swapped'
  FROM rec a JOIN rec b ON a.forename = b.surname AND a.read_transposed = b.dob
  WHERE a.unique_id <> b.unique_id AND a.cluster_id <> b.cluster_id AND a.source_dataset <> b.source_dataset),
-- The name keys and co-twins of the records met, read from the input once more (a few records).
{met_rows_sql(input_table, cotwin_table, _MET_NAMES + ", x.forename_dm")},
-- A pair met both ways (Toni Toni) is kept once, under the first way.
pairs AS MATERIALIZED (
  SELECT p.l, p.r, p.ca, p.cb, min(p.how) AS how FROM met p JOIN wide a ON a.unique_id = p.l JOIN wide b ON b.unique_id = p.r
  WHERE CASE p.how WHEN 'in one order' THEN {_names_related('a', 'b')} ELSE {swapped_sql('a', 'b')} END
    AND NOT {_closer_to_cotwin('a', 'b')} AND NOT {_closer_to_cotwin('b', 'a')}
  GROUP BY ALL),
{one_child_sql(input_table, clusters_table)}"""


def transposed_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                     found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``transposed_sql`` whose two children hold no source in
    common and that the pass neither linked nor queued nor keeps apart (``apart``: record pairs);
    one per two children. Returns how many were queued."""
    return queue_rule(con, transposed_sql(input_table, clusters_table, cotwin_table), TRANSPOSED_REASON, found,
                      cluster_of, apart)
