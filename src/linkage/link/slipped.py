"""One child typed twice beside a twin: the surname and the birthday each one slip apart, queued.

A school record and a GP record of one child can differ by a typed letter in the surname (Devan /
Decan, Whyte / Whyre, Kgan / Khan) *and* a slip in the date of birth: a day out (27 and 28
February), one typed digit (14 and 24 November), or day and month transposed (3 October and 10
March). The model scores such a pair low (the date of birth is its strongest comparison), and
``reach``'s ``spelling`` key, which meets the same forename with surnames spelt alike born days
apart, reads no record with a co-twin in view at all (``guards.cotwin_sql``: a source holding a
sibling of that birthday and family). In realistic extracts many children have one, and most co-
twins have another forename (Emily Devan's school also holds a Grace Deegan born that day): they
say nothing against the GP's Emily Decan being Emily.

So a pair is met here when the forename is written the same, the surnames are one typed character
apart (Damerau-Levenshtein 1) and the longer has at least ``unreached.TYPO_SHORTEST`` letters (a slip
leaves too little of a shorter one: Lily Rea / Roa, two girls), the birthdays are one day apart, one typed character apart or have
day and month transposed, and at least one record has a co-twin in view (the others are
``reach``'s). It is kept only when no co-twin of either record fits the other record's forename as
well as the record itself does (``guards._closer_to_cotwin``: a twin given the same forename, or a
twin sister Emma beside an Emily, could be the other record), the two children hold no source in
common and no two different UPNs, NHS numbers, sexes or first middle names (``reach.clear_pairs_sql``), and
no twin guard or reviewer keeps them apart.

Counted on ``linkage synth`` realistic, seed 42 (main's linked homes, session 32's final runs,
clusters as linked): at 250,000 records 5 pairs of children of this shape, all one child, 4 queued
already by other reasons; at 1,000,000 45, 43 one child, 41 queued already; the 4 left all one
child (docs/benchmarks.md, "Session 33: queue4"). The wider forms were rejected there: a birthday
within a month and surnames Jaro-Winkler 0.85 (``spelling``'s own test) met 45 pairs left at 1M,
6 one child (Carley / Carry, Thompson / Thomas, two Oliver Joneses born 18 days apart). Queued,
never linked: two slips are what one child typed twice looks like, and, now and then, two children.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.link.evidence import _DATE_TEXT, ClusterPass
from linkage.link.guards import date_slip_sql, transposed_sql
from linkage.link.reach import clear_pairs_sql, met_rows_sql, queue_rule
from linkage.link.unreached import TYPO_SHORTEST

__all__ = ["SLIPPED_REASON", "slipped_pairs", "slipped_sql"]

SLIPPED_REASON = ("possibly one child in two: same forename, surname one typed letter apart, birthday a slip apart, "
                  "no source holds both ({evidence}; a twin is in view whose forename is not the other record's)")


def slipped_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how) of the module docstring: one forename, surnames one typed
    character apart, birthdays a slip apart, a co-twin in view that could not be the other record,
    in two children that could be one. Only records with a co-twin are joined, against the records
    of their forename and year of birth (pure SQL)."""
    days = "abs(datediff('day', a.dob, b.dob))"
    return f"""
WITH rec AS MATERIALIZED (
  SELECT x.unique_id, x.source_dataset, c.cluster_id, x.forename, x.surname, left(x.surname, 1) AS s1, x.dob,
    x.unique_id IN (SELECT unique_id FROM {cotwin_table}) AS twin
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id)
  WHERE x.dob IS NOT NULL AND x.forename IS NOT NULL AND x.surname IS NOT NULL),
met AS MATERIALIZED (
  SELECT DISTINCT least(a.unique_id, b.unique_id) AS l, greatest(a.unique_id, b.unique_id) AS r,
    CASE WHEN a.unique_id < b.unique_id THEN a.cluster_id ELSE b.cluster_id END AS ca,
    CASE WHEN a.unique_id < b.unique_id THEN b.cluster_id ELSE a.cluster_id END AS cb,
    CASE WHEN {days} = 1 THEN 'born a day apart' WHEN {transposed_sql('a', 'b')} THEN 'day and month transposed'
         ELSE 'birthdays one typed digit apart' END AS how
  FROM rec a JOIN rec b ON a.forename = b.forename AND a.s1 = b.s1 AND year(a.dob) = year(b.dob)
  WHERE a.twin AND a.cluster_id <> b.cluster_id AND a.source_dataset <> b.source_dataset AND a.dob <> b.dob
    AND greatest(length(a.surname), length(b.surname)) >= {TYPO_SHORTEST} AND damerau_levenshtein(a.surname, b.surname) = 1
    AND ({days} = 1 OR {transposed_sql('a', 'b')} OR {date_slip_sql('a', 'b', _DATE_TEXT)})),
-- The name keys and co-twins of the records met, read from the input once more (a few records).
{met_rows_sql(input_table, cotwin_table)},
{clear_pairs_sql(input_table, clusters_table)}"""


def slipped_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                  found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``slipped_sql`` whose two children hold no source in
    common and that the pass neither linked nor queued nor keeps apart (``apart``: record pairs);
    one per two children. Returns how many were queued."""
    return queue_rule(con, slipped_sql(input_table, clusters_table, cotwin_table), SLIPPED_REASON, found,
                      cluster_of, apart)
