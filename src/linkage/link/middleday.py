"""One child whose first middle name agrees but whose birthday two sources wrote a day apart: queued.

``reach``'s middle-name keys meet two records of a child whose family name changed and who moved
on the first middle name and the birthday as written (or with day and month transposed), or on the
middle name and the forename written the same with surnames alike. A surname change with a move
leaves the middle name alone but takes the surname away, so a birthday recorded a day out (a
registration date, a typed digit) together with a typed forename meets neither key: Leo Conway /
Leo Lippomano, middle name Adeshina, born 7 and 8 April; Georgia Contarini / the GP's Geoorgia
Mistry, middle name Zoe, born 23 and 22 October. At 1,000,000 ``linkage synth`` realistic records
(seed 42, session 35's final run) these were among the 125 record pairs of that class no reason
queued.

The key is the first middle name and the date of birth one day later, an equality join of the
records holding a middle name (no pair of a common name is formed); the pair is kept when the
forenames are one name or alike, or one record's forename is the other's surname (``reach``'s
``_names_related``), no co-twin of either record fits the other as well as the record does
(``guards``' test), and the two children could be one (``reach.one_child_sql``: no two UPNs, NHS
numbers, sexes or first middle names against it) and hold no source in common. Queued, never
linked. Wider birthdays were counted and left: see docs/benchmarks.md, "Session 36: queue9".
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.link.evidence import ClusterPass
from linkage.link.guards import _closer_to_cotwin
from linkage.link.namesql import middle_name
from linkage.link.reach import _MET_NAMES, _names_related, met_rows_sql, one_child_sql, queue_rule

__all__ = ["MIDDLEDAY_REASON", "middleday_pairs", "middleday_sql"]

MIDDLEDAY_REASON = ("possibly one child in two: same first middle name, forenames alike, born a day apart, "
                    "no source holds both ({evidence})")


def middleday_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how) of the module docstring: one first middle name, birthdays a
    day apart, names related, in two children that could be one (pure SQL)."""
    return f"""
WITH m AS MATERIALIZED (
  SELECT x.unique_id, x.source_dataset, x.dob, {middle_name('x.middle_names')} AS mid, c.cluster_id
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id)
  WHERE x.dob IS NOT NULL AND coalesce(x.middle_names, '') <> ''),
-- Each pair once: the later birthday on side b.
met AS MATERIALIZED (
  SELECT least(a.unique_id, b.unique_id) AS l, greatest(a.unique_id, b.unique_id) AS r,
    CASE WHEN a.unique_id < b.unique_id THEN a.cluster_id ELSE b.cluster_id END AS ca,
    CASE WHEN a.unique_id < b.unique_id THEN b.cluster_id ELSE a.cluster_id END AS cb
  FROM m a JOIN m b ON a.mid = b.mid AND b.dob = CAST(a.dob + INTERVAL 1 DAY AS DATE)
  WHERE a.mid <> '' AND a.cluster_id <> b.cluster_id AND a.source_dataset <> b.source_dataset),
{met_rows_sql(input_table, cotwin_table, _MET_NAMES + ", x.forename_dm")},
pairs AS MATERIALIZED (
  SELECT p.l, p.r, p.ca, p.cb,
    CASE WHEN a.forename = b.forename THEN 'forename written the same' ELSE 'forename typed or another form' END AS how
  FROM met p JOIN wide a ON a.unique_id = p.l JOIN wide b ON b.unique_id = p.r
  WHERE {_names_related('a', 'b')} AND NOT {_closer_to_cotwin('a', 'b')} AND NOT {_closer_to_cotwin('b', 'a')}),
{one_child_sql(input_table, clusters_table)}"""


def middleday_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                    found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``middleday_sql`` that the pass neither linked nor queued
    nor keeps apart; one per two children. Returns how many were queued."""
    return queue_rule(con, middleday_sql(input_table, clusters_table, cotwin_table), MIDDLEDAY_REASON, found,
                      cluster_of, apart)
