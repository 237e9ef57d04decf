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
forenames are written the same or typed (``CLOSE_JW``), or one record's forename is written as the
other's surname (a swap), no co-twin of either record fits the other as well as the record does
(``guards``' test), and the two children could be one (``reach.one_child_sql``: no two UPNs, NHS
numbers, sexes or first middle names against it) and hold no source in common. Queued, never
linked. Over session 35's 1M children (the second pass alone) the key with ``reach``'s looser names
(other forms, nicknames) queued 4 pairs no other reason did, 2 one child; with ``CLOSE_JW`` 2, both
one child. Wider birthdays were counted and left: docs/benchmarks.md, "Session 36: queue9".
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.link.evidence import ClusterPass
from linkage.link.guards import _closer_to_cotwin
from linkage.link.namesql import middle_name
from linkage.link.reach import _MET_NAMES, met_rows_sql, one_child_sql, queue_rule

__all__ = ["CLOSE_JW", "MIDDLEDAY_REASON", "middleday_pairs", "middleday_sql"]

# Forenames at least this alike (Jaro-Winkler) are one name typed (Georgia / Geoorgia 0.97). A day
# apart, a middle name and a name's other form or nickname (``reach.NAME_JW``, forename keys) met
# strangers as often as one child: Isla / Isabella, Ella / Agnieszka (1M, see the docstring).
CLOSE_JW = 0.9

MIDDLEDAY_REASON = ("possibly one child in two: same first middle name, forenames alike, born a day apart, "
                    "no source holds both ({evidence})")


def _close(a: str, b: str) -> str:
    """The forenames written the same or typed (``CLOSE_JW``), or one record's forename written as the
    other's surname (a swap; pure SQL)."""
    return (f"coalesce({a}.forename = {b}.forename OR {a}.forename = {b}.surname OR {a}.surname = {b}.forename "
            f"OR jaro_winkler_similarity({a}.forename, {b}.forename) >= {CLOSE_JW}, false)")


def middleday_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how) of the module docstring: one first middle name, birthdays a
    day apart, names related, in two children that could be one (pure SQL)."""
    return f"""
WITH m AS MATERIALIZED (
  SELECT x.unique_id, x.source_dataset, x.dob, {middle_name('x.middle_names')} AS mid FROM {input_table} x
  WHERE x.dob IS NOT NULL AND coalesce(x.middle_names, '') <> ''),
-- Each pair once (the later birthday on side b); their children read for the few pairs met only.
two AS MATERIALIZED (
  SELECT least(a.unique_id, b.unique_id) AS l, greatest(a.unique_id, b.unique_id) AS r
  FROM m a JOIN m b ON a.mid = b.mid AND b.dob = CAST(a.dob + INTERVAL 1 DAY AS DATE)
  WHERE a.mid <> '' AND a.source_dataset <> b.source_dataset),
met AS MATERIALIZED (
  SELECT p.l, p.r, ka.cluster_id AS ca, kb.cluster_id AS cb
  FROM two p JOIN {clusters_table} ka ON ka.unique_id = p.l JOIN {clusters_table} kb ON kb.unique_id = p.r
  WHERE ka.cluster_id <> kb.cluster_id),
{met_rows_sql(input_table, cotwin_table, _MET_NAMES)},
pairs AS MATERIALIZED (
  SELECT p.l, p.r, p.ca, p.cb,
    CASE WHEN a.forename = b.forename THEN 'forename written the same'
      WHEN a.forename = b.surname OR a.surname = b.forename THEN 'forename and surname swapped' ELSE 'forename typed' END AS how
  FROM met p JOIN wide a ON a.unique_id = p.l JOIN wide b ON b.unique_id = p.r
  WHERE {_close('a', 'b')} AND NOT {_closer_to_cotwin('a', 'b')} AND NOT {_closer_to_cotwin('b', 'a')}),
{one_child_sql(input_table, clusters_table)}"""


def middleday_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                    found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``middleday_sql`` that the pass neither linked nor queued
    nor keeps apart; one per two children. Returns how many were queued."""
    return queue_rule(con, middleday_sql(input_table, clusters_table, cotwin_table), MIDDLEDAY_REASON, found,
                      cluster_of, apart)
