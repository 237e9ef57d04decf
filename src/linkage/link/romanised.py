"""One child's full name from another script, romanised two ways: queued, never linked.

A name from another script reaches each agency through whoever typed it in: the school writes
the Wade-Giles Hsiao-ling Abdullah, the GP the pinyin Xiao Ling Abdallah; one writes Yulia Wang,
the other Julia Wong or Iuliia; a record kept in Arabic script transliterates to consonants only
(Ftmh); one agency writes the family name first (Cheung Fatima, Papadopoulou Anastasiya against
Anastasia Papadopoulos). Such a pair shares no forename key, sound code or surname spelling, and
when the child also lives at another address in one record no key of the second pass meets it
(``reach``'s ``script`` key needs one home). At 250,000 ``linkage synth`` realistic records (seed
42, session 31) 9 of the 35 missed true pairs no reason queued were of this kind, 7 of them with the
family name kept.

What one name romanised two ways keeps is its consonants (``roman_sql``): the romanisation
systems differ in the vowels (Abdullah / Abdallah, Wong / Wang), in the Wade-Giles initials (hs, tz,
ts, ch for pinyin x, z, z, zh), in a leading j, y or iu for one sound (Julia / Yulia / Iuliia), a
final h (Fatimah / Fatima) and doubled letters. Two records of one date of birth are met here
when their full names are written differently and the family names' consonants agree and the given
names' do too (whole, or in one record split into a forename and a first middle name: Xiao, middle
names Ling), or, forename and surname swapped in one record, when one record's family name is the
other's given name so written and the other way round as well (or, for that cross, the two spelt
alike: Papadopoulou / Papadopoulos). A name of fewer than ``ROMAN_SHORTEST`` consonants says too
little (Ella, Lily).

The date of birth must agree. A birthday one typed character out was met as well at first: at
250,000 realistic records it added 3 pairs, 2 one child (Iuliia Wang / Wong born 26 and 27 May), and
on the independent generator's 100,000 children all 8 pairs the rule queued were strangers of this
kind, a month typed out and a common name written the same or nearly (Joshua Thomas, Daniel
O'Brien / Brown): at two homes a name's consonants and a slipped birthday are too little. That check
decided the condition (docs/benchmarks.md, "Session 32: queue").

A pair is kept only when its two children could be one: they hold no source in common, no two
different UPNs, NHS numbers or sexes (``reach.could_be_one_sql``), the pair's first middle names
agree after a split (or one is missing), neither record has a co-twin in its own extract whose
forename is the other record's given name so written, and no twin guard or reviewer keeps them
apart.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.link.evidence import ClusterPass
from linkage.link.namesql import middle_name
from linkage.link.reach import SURNAME_JW, one_child_sql, queue_rule

__all__ = ["ROMAN_SHORTEST", "ROMANISED_REASON", "roman_sql", "romanised_pairs", "romanised_sql"]

ROMANISED_REASON = ("possibly one child in two: one full name from another script romanised two ways "
                    "(the consonants of both names agree), same birthday, no source holds both ({evidence})")
# Fewest consonants a given name keeps (``roman_sql``) to say which name it is.
ROMAN_SHORTEST = 2
_DOUBLED = "bcdfghjklmnpqrstvxz"


def roman_sql(col: str) -> str:
    """A name as any romanisation of it writes it (pure SQL): letters only; the Wade-Giles hs, tz, ts
    and ch read as pinyin x, z, z and zh; a leading iu, yu, ju, j or y as one sound, kept; then
    the vowels, y and w dropped, doubled letters run together, and a final h (ta marbuta) dropped."""
    x = f"regexp_replace(lower(coalesce({col}, '')), '[^a-z]', '', 'g')"
    for wade, pinyin in (("hs", "x"), ("tz", "z"), ("ts", "z"), ("ch", "zh")):
        x = f"replace({x}, '{wade}', '{pinyin}')"
    # The leading sound is written Y (upper case), which the vowels' pattern leaves.
    x = f"regexp_replace(regexp_replace({x}, '^(iu|yu|ju|j|y)', 'Y'), '[aeiouyw]', '', 'g')"
    for c in _DOUBLED:
        x = f"replace({x}, '{c}{c}', '{c}')"
    return f"regexp_replace({x}, '([^zsckgpt])h$', '\\1')"


def romanised_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how) of one date of birth, in two children with no UPN,
    NHS number or sex against them, whose full names are one name romanised two ways (the module
    docstring). Every record's keys are read once; the pairs met by equality (pure SQL)."""
    two = "a.cluster_id <> b.cluster_id AND a.source_dataset <> b.source_dataset"
    return f"""
WITH rec AS MATERIALIZED (
  SELECT x.unique_id, x.source_dataset, c.cluster_id, x.dob, x.forename, x.surname, x.forename_full,
    x.forename_join, x.middle_names
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id) WHERE x.dob IS NOT NULL AND x.surname IS NOT NULL),
-- Each name once (a month reads only the records it reached).
names AS MATERIALIZED (
  SELECT n, {roman_sql('n')} AS k FROM (SELECT surname AS n FROM rec UNION SELECT forename_full FROM rec
    UNION SELECT forename_join FROM rec) WHERE n IS NOT NULL),
k AS MATERIALIZED (
  SELECT x.*, s.k AS sk, g.k AS gk, coalesce(j.k, '') AS jk
  FROM rec x JOIN names s ON s.n = x.surname JOIN names g ON g.n = x.forename_full
  LEFT JOIN names j ON j.n = x.forename_join WHERE length(s.k) >= {ROMAN_SHORTEST}),
met AS (
  SELECT a.unique_id AS l, b.unique_id AS r, a.cluster_id AS ca, b.cluster_id AS cb, 'in one order' AS how,
    a.gk AS ga, a.jk AS ja, b.gk AS gb, b.jk AS jb,
    {middle_name('a.middle_names')} AS ma, {middle_name('b.middle_names')} AS mb
  FROM k a JOIN k b ON a.sk = b.sk AND a.dob = b.dob AND a.gk = b.gk
  WHERE a.unique_id < b.unique_id AND length(a.gk) >= {ROMAN_SHORTEST} AND {two}
    AND (a.forename_full <> b.forename_full OR a.surname <> b.surname)
  UNION ALL
  SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'a given name split in two', a.gk, a.jk, b.gk, b.jk,
    {middle_name('a.middle_names', 2)}, {middle_name('b.middle_names')}
  FROM k a JOIN k b ON a.sk = b.sk AND a.dob = b.dob AND a.jk = b.gk
  WHERE a.unique_id <> b.unique_id AND a.gk <> b.gk AND length(b.gk) >= {ROMAN_SHORTEST} AND {two}
  UNION ALL
  SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'forename and surname swapped', a.sk, a.sk, b.sk, b.sk,
    '', ''
  FROM k a JOIN k b ON a.sk = b.gk AND b.sk = a.gk AND a.dob = b.dob
  WHERE a.unique_id < b.unique_id AND a.sk <> a.gk AND {two}
  UNION ALL
  SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'forename and surname swapped', a.sk, a.sk, b.sk, b.sk,
    '', ''
  FROM k a JOIN k b ON a.sk = b.gk AND a.dob = b.dob
  WHERE a.unique_id <> b.unique_id AND a.sk <> a.gk AND b.sk <> a.gk AND {two}
    AND jaro_winkler_similarity(a.forename, b.surname) >= {SURNAME_JW}),
-- A co-twin counts only if its forename is the other record's given name so written (twins of two
-- names, Yulia and Ekaterina Wang, say nothing against Julia Wong being Yulia).
twin AS (
  SELECT t.unique_id, list_transform(t.cotwins, x -> {roman_sql('x.f')}) AS tk FROM {cotwin_table} t
  WHERE t.unique_id IN (SELECT l FROM met UNION SELECT r FROM met)),
pairs AS MATERIALIZED (
  SELECT least(l, r) AS l, greatest(l, r) AS r, CASE WHEN l < r THEN ca ELSE cb END AS ca,
    CASE WHEN l < r THEN cb ELSE ca END AS cb, min(how) AS how FROM met
  LEFT JOIN twin tl ON tl.unique_id = met.l LEFT JOIN twin tr ON tr.unique_id = met.r
  WHERE (coalesce(ma, '') = '' OR coalesce(mb, '') = '' OR jaro_winkler_similarity(ma, mb) >= 0.9)
    AND NOT coalesce(list_has_any(tl.tk, [gb, jb]) OR list_has_any(tr.tk, [ga, ja]), false)
  GROUP BY ALL),
{one_child_sql(input_table, clusters_table, middles=False)}"""


def romanised_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                    found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``romanised_sql`` whose two children hold no source in
    common and that the pass neither linked nor queued nor keeps apart (``apart``: record pairs);
    one per two children. Returns how many were queued."""
    return queue_rule(con, romanised_sql(input_table, clusters_table, cotwin_table), ROMANISED_REASON, found,
                      cluster_of, apart)
