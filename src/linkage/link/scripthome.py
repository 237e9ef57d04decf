"""One child at one home whose name from another script is written two ways *and* typed: queued.

``romanised`` and ``reach``'s ``script`` key meet a name from another script written two ways
(Tzu-hao / Zihao, bdlrhmn / Abdul Rahman) when its consonants (``romanised.roman_sql``) agree, the
given name keeps at least ``ROMAN_SHORTEST`` of them and the birthday is one. They miss the same
child when one more thing slips on top: a letter typed or lost (Tzu-hao / Zi Ao, the GP's "Zi Hao"
without its h; blrhmn / Abdul Rahman; Hsaio-linf / Xiao Ling), or the birthday recorded days out
(Zihai / Tzu-hao born 31 January and 10 February). At 1,000,000 ``linkage synth`` realistic records
(seed 42, session 34's final run) such school and GP records of one child at one home were among
the 40 non-Latin pairs no reason queued.

A typed letter in a short consonant key is weak evidence alone: twins at one home held by one source
each (Aidan / Aiden, Leo Noah / Leon) are one letter apart too. What such twins do not have is the
mark of a romanisation on one record only: a given name written with a **Wade-Giles initial**
(hs, tz, ts: the pinyin x and z) or **without a vowel** (an Arabic-script record transliterated
letter for letter: bdlrhmn), the other record's given name not so written. So a record so marked is
met with the records at its postcode (an equality join of the few marked records), born within
``reach.NEAR_DAYS`` days or a slip apart (day and month transposed, one typed digit), and the pair is
kept when the given names' and family names' consonants together differ by at most one letter
(Levenshtein; the given name whole or split into a forename and a first middle name, as
``romanised`` reads it), their first middle names agree where both hold one (either record's first
two, for a split), no co-twin of either record fits the other's given name as well as the record's
own does, and the two children could be one (``reach.could_be_one_sql``) and hold no source in
common. Queued, never linked.

Counted over the final clusters of session 34's runs (``linkage synth`` realistic, seed 42; the
marks were chosen knowing the generator writes Wade-Giles and consonant-only variants): every pair
of children the key met with a mark was one child (1M: 148, 4 not queued by anything else; 250k:
24, none new). Without the mark (any pair at one home one letter apart) 250k met 159 pairs queued by
nothing else, none one child; the family name written two ways as the mark (Wang / Wong, Chen /
Chan) met typed surnames of twins (Richardson / Richarddson), 40 strangers at 1M. See
docs/benchmarks.md, "Session 35: queue7".
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.link.evidence import _DATE_TEXT, ClusterPass
from linkage.link.guards import date_slip_sql, transposed_sql
from linkage.link.namesql import middle_name
from linkage.link.reach import NEAR_DAYS, one_child_sql, queue_rule
from linkage.link.romanised import roman_sql

__all__ = ["SCRIPTHOME_REASON", "marked_sql", "scripthome_pairs", "scripthome_sql"]

SCRIPTHOME_REASON = ("possibly one child in two: same home, one name from another script written two ways "
                     "and one letter apart, no source holds both ({evidence})")
# A given name this long with no vowel is a letter-for-letter transliteration, not an initial.
_ABJAD_SHORTEST = 3


def marked_sql(col: str) -> str:
    """The romanisation a given name shows (pure SQL): 'Wade-Giles' for an initial hs, tz or ts,
    'consonants only' for a name of at least ``_ABJAD_SHORTEST`` letters without a vowel, else ''."""
    return (f"CASE WHEN prefix({col}, 'hs') OR prefix({col}, 'tz') OR prefix({col}, 'ts') THEN 'Wade-Giles' "
            f"WHEN length({col}) >= {_ABJAD_SHORTEST} AND NOT regexp_matches({col}, '[aeiouy]') "
            f"THEN 'consonants only' ELSE '' END")


def _readings(a: str, b: str) -> tuple[str, str, str]:
    """Letters between side ``a``'s given name and side ``b``'s (``*_f``: whole, ``*_j``: forename and
    first middle name run together) as each reads the other: whole against whole, whole against
    split, split against whole (NULL where a side has no middle name to split with; pure SQL)."""
    return (f"levenshtein({a}_f, {b}_f)", f"CASE WHEN {b}_j <> '' THEN levenshtein({a}_f, {b}_j) END",
            f"CASE WHEN {a}_j <> '' THEN levenshtein({a}_j, {b}_f) END")


def _apart(a: str, b: str) -> str:
    """Letters between the two given names, the nearest reading (``_readings``; pure SQL)."""
    return f"least({', '.join(_readings(a, b))})"


def _middles_agree(a: str, b: str) -> str:
    """Under a nearest reading, the first middle names left once a split name's second part is taken
    out (``*_m``: each record's first two) agree, or one record holds none (pure SQL)."""
    ok = lambda x, y: f"({x} = '' OR {y} = '' OR jaro_winkler_similarity({x}, {y}) >= 0.9)"  # noqa: E731
    ff, fj, jf = _readings(a, b)
    least = _apart(a, b)
    return (f"(({ff} = {least} AND {ok(f'{a}_m[1]', f'{b}_m[1]')}) "
            f"OR coalesce({fj} = {least} AND {ok(f'{a}_m[1]', f'{b}_m[2]')}, false) "
            f"OR coalesce({jf} = {least} AND {ok(f'{a}_m[2]', f'{b}_m[1]')}, false))")


def scripthome_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how) of the module docstring: a marked record and another at its
    postcode, born near, names a letter apart, in two children that could be one (pure SQL)."""
    near = (f"(abs(datediff('day', a.dob, b.dob)) <= {NEAR_DAYS} OR {transposed_sql('a', 'b')} "
            f"OR {date_slip_sql('a', 'b', _DATE_TEXT)})")
    cols = "x.unique_id, x.source_dataset, x.dob, x.postcode, x.forename_full, x.forename_join, x.surname, x.middle_names"
    mids = lambda s: f"[coalesce({middle_name(f'{s}.middle_names')}, ''), coalesce({middle_name(f'{s}.middle_names', 2)}, '')]"  # noqa: E731
    return f"""
WITH marked AS MATERIALIZED (
  SELECT DISTINCT x.postcode FROM {input_table} x
  WHERE x.postcode IS NOT NULL AND x.dob IS NOT NULL AND x.surname IS NOT NULL AND {marked_sql('x.forename_full')} <> ''),
-- Every record at a marked record's home (a few per home) and its child, then the pairs born near.
home AS MATERIALIZED (
  SELECT {cols}, {marked_sql('x.forename_full')} AS mark FROM {input_table} x
  WHERE x.postcode IN (SELECT postcode FROM marked) AND x.dob IS NOT NULL AND x.surname IS NOT NULL),
kid AS MATERIALIZED (SELECT unique_id, cluster_id FROM {clusters_table} WHERE unique_id IN (SELECT unique_id FROM home)),
met AS MATERIALIZED (
  SELECT a.unique_id AS l, b.unique_id AS r, ka.cluster_id AS ca, kb.cluster_id AS cb,
    CASE WHEN a.mark = 'Wade-Giles' THEN 'a Wade-Giles spelling in one record' ELSE 'written without vowels in one record'
    END || CASE WHEN a.dob = b.dob THEN ', same birthday' ELSE ', born days apart' END AS how,
    a.forename_full AS af, a.forename_join AS aj, a.surname AS asur,
    b.forename_full AS bf, b.forename_join AS bj, b.surname AS bsur, {mids('a')} AS a_m, {mids('b')} AS b_m
  FROM home a JOIN home b ON a.postcode = b.postcode JOIN kid ka ON ka.unique_id = a.unique_id
  JOIN kid kb ON kb.unique_id = b.unique_id
  WHERE a.mark <> '' AND b.mark <> a.mark AND a.source_dataset <> b.source_dataset AND ka.cluster_id <> kb.cluster_id
    AND {near}),
names AS MATERIALIZED (
  SELECT n, {roman_sql('n')} AS k FROM (SELECT af AS n FROM met UNION SELECT aj FROM met UNION SELECT bf FROM met
    UNION SELECT bj FROM met UNION SELECT asur FROM met UNION SELECT bsur FROM met) WHERE n IS NOT NULL),
keyed AS MATERIALIZED (
  SELECT m.l, m.r, m.ca, m.cb, m.how, m.a_m, m.b_m, fa.k AS a_f, coalesce(ja.k, '') AS a_j, fb.k AS b_f, coalesce(jb.k, '') AS b_j,
    levenshtein(sa.k, sb.k) AS sur
  FROM met m JOIN names fa ON fa.n = m.af LEFT JOIN names ja ON ja.n = m.aj JOIN names sa ON sa.n = m.asur
  JOIN names fb ON fb.n = m.bf LEFT JOIN names jb ON jb.n = m.bj JOIN names sb ON sb.n = m.bsur),
-- One letter between the whole names; the middle names left agree where both hold one.
close AS MATERIALIZED (
  SELECT * FROM keyed
  WHERE {_apart('a', 'b')} + sur <= 1 AND greatest(length(a_f), length(b_f)) >= 2
    AND {_middles_agree('a', 'b')}),
-- No co-twin of either record whose given name is as near the other record's as the record's own is.
twin AS (
  SELECT t.unique_id, list_transform(t.cotwins, x -> {roman_sql('x.f')}) AS tk FROM {cotwin_table} t
  WHERE t.unique_id IN (SELECT l FROM close UNION SELECT r FROM close)),
pairs AS MATERIALIZED (
  SELECT least(p.l, p.r) AS l, greatest(p.l, p.r) AS r, CASE WHEN p.l < p.r THEN p.ca ELSE p.cb END AS ca,
    CASE WHEN p.l < p.r THEN p.cb ELSE p.ca END AS cb, min(p.how) AS how
  FROM close p LEFT JOIN twin tl ON tl.unique_id = p.l LEFT JOIN twin tr ON tr.unique_id = p.r
  WHERE NOT coalesce(list_bool_or(list_transform(tl.tk, x -> least(levenshtein(x, p.b_f),
          CASE WHEN p.b_j <> '' THEN levenshtein(x, p.b_j) END) <= {_apart('p.a', 'p.b')})), false)
    AND NOT coalesce(list_bool_or(list_transform(tr.tk, x -> least(levenshtein(x, p.a_f),
          CASE WHEN p.a_j <> '' THEN levenshtein(x, p.a_j) END) <= {_apart('p.a', 'p.b')})), false)
  GROUP BY ALL),
{one_child_sql(input_table, clusters_table, middles=False)}"""


def scripthome_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                     found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``scripthome_sql`` that the pass neither linked nor queued
    nor keeps apart; one per two children. Returns how many were queued."""
    return queue_rule(con, scripthome_sql(input_table, clusters_table, cotwin_table), SCRIPTHOME_REASON, found,
                      cluster_of, apart)
