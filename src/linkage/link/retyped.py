"""One child typed three times: forename, surname and birthday each one slip apart, queued.

A school record and a GP record of one child can differ by a typed letter in the forename
(Jessia / Jessica, Freddie / Freie), another in the surname (Levann / Levan, Purcel / Purcell)
*and* in the date of birth (a day out, one typed digit, day and month transposed, or days apart).
No key of the second pass meets such a pair: the forename keys (sound code, nickname, consonants)
differ, the surname is spelt two ways and the birthday differs, and ``slipped`` and ``reach``'s
``spelling`` need the forename written the same. A key for three slips at once over every record
is dear (session 32's join on the forename's first letter and the year took 29 s at 1M).

What makes it cheap, and precise, is that a slip is a spelling nobody else has. So the surnames
written by **one record** of the whole input (counted over the input, so a month counts as a full
run does) are met with the surnames one typed character from them (Damerau-Levenshtein 1, the
longer at least ``unreached.TYPO_SHORTEST`` letters; found through the surnames with a letter taken
out, an equality join of the distinct names), and that one record with the other spelling's records
of its forename's first letter and year of birth. A pair is kept when the forenames are written
differently but alike (a forename key shared, or Jaro-Winkler at least ``reach.NAME_JW``), the
birthdays differ by a slip (``guards.date_slip_sql``, a day, day and month transposed) or by at most
``reach.NEAR_DAYS`` days, no co-twin of either record fits the other record's forename as well as the
record itself does (``guards._closer_to_cotwin``), the two children hold no source in common and no
two different UPNs, NHS numbers, sexes or first middle names (``reach.clear_pairs_sql``), and no twin
guard or reviewer keeps them apart. A forename written the same is left to ``slipped`` and
``spelling``.

Counted over the final clusters of session 33's runs on ``linkage synth`` realistic (seed 42;
docs/benchmarks.md, "Session 34: queue6"): at 250,000 records 18 pairs of children, all one child,
2 not queued by anything else; at 1,000,000 60, all one child, 4 not queued. Without the one-record
condition the key met at 1M 9 such pairs not queued, 3 one child (Sophia Balla / Sofia Walla, Aida
Davis / Aria Davies: two real names and two real family names). Queued, never linked.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.link.evidence import _DATE_TEXT, ClusterPass
from linkage.link.guards import date_slip_sql, transposed_sql
from linkage.link.reach import NAME_JW, NEAR_DAYS, _MET_NAMES, clear_pairs_sql, met_rows_sql, queue_rule
from linkage.link.unreached import TYPO_SHORTEST

__all__ = ["RETYPED_REASON", "retyped_pairs", "retyped_sql"]

RETYPED_REASON = ("possibly one child in two: forename, surname and birthday each one slip apart (a typed letter "
                  "in each name), no source holds both ({evidence})")


def retyped_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how) of the module docstring: a surname written once and one typed
    character from another, forenames alike, birthdays a slip or days apart, in two children that
    could be one (pure SQL)."""
    days = "abs(datediff('day', a.dob, b.dob))"
    return f"""
WITH names AS MATERIALIZED (
  SELECT surname AS s, count(*) AS n FROM {input_table} WHERE length(surname) >= {TYPO_SHORTEST - 1} GROUP BY surname),
-- A slip is a spelling nobody else has: the records whose surname no other record of the whole input
-- writes, in the run's children (a month: those it reached).
ones AS MATERIALIZED (
  SELECT x.unique_id, x.source_dataset, x.forename, x.forename_keys, x.surname, x.dob, c.cluster_id AS ka,
    left(x.forename, 1) AS f1, year(x.dob) AS y
  FROM {input_table} x JOIN names m ON m.s = x.surname AND m.n = 1 JOIN {clusters_table} c ON c.unique_id = x.unique_id
  WHERE x.dob IS NOT NULL AND x.forename IS NOT NULL),
cut AS MATERIALIZED (
  SELECT s, s AS v FROM names
  UNION ALL
  SELECT s, left(s, i - 1) || substr(s, i + 1) FROM (SELECT s, unnest(range(1, length(s) + 1)) AS i FROM names)),
-- Each such spelling and the surnames one typed character from it (Damerau-Levenshtein 1): the two
-- share a surname with a letter taken out.
typed AS MATERIALIZED (
  SELECT DISTINCT a.s AS sa, b.s AS sb FROM cut a JOIN cut b ON a.v = b.v
  WHERE a.s IN (SELECT surname FROM ones) AND a.s <> b.s AND greatest(length(a.s), length(b.s)) >= {TYPO_SHORTEST} AND damerau_levenshtein(a.s, b.s) = 1),
-- That record beside the other spelling's records of its forename's first letter and year of birth
-- (the input probed once), the forenames written differently but alike, then theirs in another child.
near AS MATERIALIZED (
  SELECT a.unique_id AS ua, b.unique_id AS ub, a.ka,
    CASE WHEN {days} = 1 THEN 'born a day apart' WHEN {transposed_sql('a', 'b')} THEN 'day and month transposed'
         WHEN {date_slip_sql('a', 'b', _DATE_TEXT)} THEN 'birthdays one typed digit apart' ELSE 'born days apart' END AS how
  FROM ones a JOIN typed t ON t.sa = a.surname
  JOIN {input_table} b ON b.surname = t.sb AND left(b.forename, 1) = a.f1 AND year(b.dob) = a.y
  WHERE a.source_dataset <> b.source_dataset AND a.forename <> b.forename AND a.dob <> b.dob
    AND (list_has_any(a.forename_keys, b.forename_keys) OR jaro_winkler_similarity(a.forename, b.forename) >= {NAME_JW})
    AND ({days} <= {NEAR_DAYS} OR {transposed_sql('a', 'b')} OR {date_slip_sql('a', 'b', _DATE_TEXT)})),
met AS MATERIALIZED (
  SELECT DISTINCT least(n.ua, n.ub) AS l, greatest(n.ua, n.ub) AS r,
    CASE WHEN n.ua < n.ub THEN n.ka ELSE c.cluster_id END AS ca,
    CASE WHEN n.ua < n.ub THEN c.cluster_id ELSE n.ka END AS cb, n.how
  FROM near n JOIN {clusters_table} c ON c.unique_id = n.ub WHERE n.ka <> c.cluster_id),
{met_rows_sql(input_table, cotwin_table, _MET_NAMES + ", x.forename_dm")},
{clear_pairs_sql(input_table, clusters_table)}"""


def retyped_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                  found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``retyped_sql`` that the pass neither linked nor queued nor
    keeps apart; one per two children. Returns how many were queued."""
    return queue_rule(con, retyped_sql(input_table, clusters_table, cotwin_table), RETYPED_REASON, found,
                      cluster_of, apart)
