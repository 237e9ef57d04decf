"""Queue-only keys for one child no other key of the second pass meets: the first middle name,
the home, a forename in the surname's place, one given name written two ways at one home, and one
family at one home born days or weeks apart.

The second pass (``evidence.candidates_sql``) meets two records of one child through their
forename (its sound code, canonical form, consonants, a slip of a rare one) and the month of birth,
or through the home and the month of birth. A child whose family name changed and who moved, and
whose records also differ by one more thing, meets none of them:

* the forename and the surname **swapped** in one record and one of the two then changed (Lexi
  Williams / Houston Lexxi, Mohammed Cotter / Devwnney Mohammed);
* a **date of birth** recorded with day and month transposed together with a typed forename
  (Poppy / Pooppt, born 3 December and 12 March), or **shifted by days** together with a typo in
  the surname (Toby Gaedner / Toby Gardner, born 9 June and 30 May);
* a forename in **another form** or spelling no key shares (Olivia / Livvy written in the surname
  place, Georgia / Geoorgia).

What such records still share is the **first middle name**, which a move and a new surname leave
alone; and a child who did *not* move, written with a swap, a typo or another script *and* a slip
in the date of birth (Kaoadua Akay / Akay Kapadia at one postcode, born 1 and 2 May), still shares
the **home**; and a swapped record still holds the **forename, in the surname's place**. A middle
name and a date of birth together are rare (two strangers born on one day share a middle name
seldom, and then mostly a common one), and so are a postcode and a birthday, or a forename written
as a surname on one birthday, so this module meets records on them with equality keys, cheap at any
size (no pair of a common forename is formed):

* ``birthday``: the first middle name and the date of birth (as written, or with day and month
  transposed), and the names related: the forenames one name (exact, another form, sound code,
  consonants), or alike (``NAME_JW``: typed), or one record's forename alike to the other's
  surname (a swap);
* ``forename``: the first middle name and the forename, born within ``NEAR_DAYS`` (or one
  typed character, or day and month transposed), with surnames spelt alike (``SURNAME_JW``: a
  typo, one family);
* ``swap``: one record's forename is the other's surname, on one date of birth: the forename and
  surname swapped in one record and the family name changed too (Georgia Mason / Pizzetti Georgia);
  the same day only (at 250,000 realistic records all 68 such pairs of children no source holds
  both were one child; with a date slip, 16 of 31);
* ``home``: the postcode and the year of birth, born on one day or one slip apart (day and month
  transposed, one typed character), the names related as for ``birthday``: twins at one home, one
  held only by the school and the other only by the GP, share all but the name (at 250,000 easy
  records the key without the names queued two such pairs of twins, Chloe / Maisie among them);
* ``spelling``: the forename and the surname spelt alike, born within ``NEAR_DAYS`` (or one slip
  apart), without a middle name: ``forename`` for the GP record, which holds none (Daisy Praga /
  Peaga born 22 and 12 March, Jacob Taprey / Tarpey a day apart). A full name written the same in
  both records is queued only where few namesakes are expected that near (``evidence.COINCIDENCE``):
  the records of that name in the source holding most, less the record itself, over the
  population's span of birthdays, times the ``2 * NEAR_DAYS + 1`` days. A common full name floods
  the key with strangers: on the independent generator's 100,000 children (seed 73, session 28)
  all 52 pairs it queued were two children, each one full name written the same, held by 12 to 28
  records (James Nguyen, born 18 April and 17 May, at two homes). Surnames written differently (a
  typo, two romanisations: Muhammad Wang / Wong) are the key's own evidence, and namesakes of one
  spelling are not namesakes of the pair: at 1,000,000 ``linkage synth`` realistic counting the
  rarer of two spellings dropped that one child (Wang held by 21 records), so only a name written
  the same is counted; there it drops 2 of the key's 31 pairs (Sienna Jones, Rosie Smith), both
  two children;
* ``family``: the family name spelt alike (``SURNAME_JW``) and one date of birth at two homes, the
  forenames written differently but not unrelated (``FAMILY_JW``): a forename typed or romanised past
  every forename key (Isla / Issl Vaughan, Julia / Iuliia Wang / Wong), the child moved, and the GP
  record holds no middle name for ``birthday`` to meet. A family name and a birthday are what twins
  share: no record with a co-twin in its own extract is read, and twins at one home each held by one
  source (Tzu-hao / Zixuan Wang) are left alone (one home is required *not* to be shared). Session 23
  rejected the family name and birthday alone (at 1M, 7 of 36 one child); with the forenames alike,
  see ``FAMILY_JW``;
* ``weeks``: the postcode, the family name spelt alike (``SURNAME_JW``) and forenames not unrelated
  (``FAMILY_JW``), born on two days at most ``NEAR_DAYS`` apart: one child whose birthday was
  recorded days out (a registration date, a typed digit) and whose name was typed too (Juluaa
  Kuznetsova / Yulia Kuznetsov at one postcode, born 27 and 28 May). Two children of one family at one
  home are born a year or more apart, or are twins born on one day (a co-twin in view counts only
  if it fits the other record as well, as for the middle-name keys). Over the children linking left
  at 250,000 realistic records (seed 42, session 29), the pairs of this shape whose two children no
  source holds both of were 30 with no co-twin in view, all one child, and 11 with one, 9 one child
  and 2 twins; on the independent generator's 100,000 children there were none. Most were queued by
  other keys already: the key added 1 pair at 250k (Juluaa / Yulia, whose school holds a twin sister:
  one child) and none at 100k;
* ``script``: the postcode and the year of birth, born on one day or one slip apart, and one given
  name from another script written two ways: romanised by another system (Wade-Giles Tzu-hao,
  pinyin Zihao), written without vowels (an Arabic-script record: bdlrhmn), and whole in one record
  but split into a forename and a first middle name in the other (Zi, middle names Hao Thomas). No
  forename key meets such a pair (Tzu / Zi share no sound code, nickname or consonants), and the
  ``home`` key's names are not related; the middle names are compared after the split (Thomas and
  Hao Thomas agree). At 1,000,000 realistic records these were most of the non-Latin misses left
  unqueued, school and GP records of one child at one home; over that run's clusters the key met 510
  pairs of children, 505 one child, 48 of them queued by nothing else (docs/benchmarks.md, session 24).

A pair is kept only when its two children could be one: they hold no source in common (a source
holds a child once: twins are mostly held by the same school and GP), no two different UPNs, NHS
numbers or sexes, no two first middle names that disagree (where both children hold one, one of
them must agree: ``evidence.candidates_sql``'s rule; for ``script``, the pair's own, after a
split), neither record has a co-twin in its own extract, and no twin guard or reviewer keeps them
apart. For ``script`` a co-twin counts only if its forename could begin the other's given name; for
the middle-name keys (``birthday``, ``forename``) and ``weeks`` only if it fits the other record at
least as well as the record itself does (``guards``' own test: a school record written "Kehoe Thom", middle
name Callum, born 3 November, whose school also holds a twin, and the GP's Thomas Mageean, middle
name Callum, born 11 March, are one boy). At 1,000,000 records (seed 42,
session 27) that added 3 pairs of children realistic, 1 easy, all one child; the other keys with a
twin in view were rejected there: ``swap`` 7 pairs (2 twins of each other), ``spelling`` 29 (5 one
child; easy 19, none), ``family`` 3 (none). The pairs are **queued, never linked**:
these keys say the two records may be one child, not that they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import duckdb

from linkage.link.complement import settled, sources_of
from linkage.link.evidence import _DATE_TEXT, COINCIDENCE, ClusterPass
from linkage.link.guards import _closer_to_cotwin, birthday_sql, date_slip_sql as _slip, transposed_sql as _transposed
from linkage.link.namesql import middle_name, only

__all__ = ["FAMILY_JW", "FAMILY_REASON", "HOME_REASON", "MIDDLE_REASON", "NAME_JW", "NEAR_DAYS", "ROMAN_SHORTEST", "SCRIPT_REASON",
           "SPELLING_REASON", "SURNAME_JW", "SWAP_REASON", "WEEKS_REASON", "clear_pairs_sql", "could_be_one_sql", "either_sql",
           "halves_sql", "kin_sql", "lone_sql", "narrow_sql",
           "met_rows_sql", "one_child_sql", "queue_apart", "queue_rule", "reach_pairs", "reach_sql"]

MIDDLE_REASON = ("possibly one child in two: same first middle name and {how}, no source holds both "
                 "({evidence})")
HOME_REASON = "possibly one child in two: same home and birthday, no source holds both ({evidence})"
SWAP_REASON = ("possibly one child in two: one record's forename is the other's surname, same birthday, "
               "no source holds both ({evidence})")
SPELLING_REASON = ("possibly one child in two: same forename, surnames alike, born days apart, "
                   "no source holds both ({evidence})")
FAMILY_REASON = ("possibly one child in two: family name spelt alike, same birthday, forenames written differently, "
                 "no source holds both ({evidence})")
WEEKS_REASON = ("possibly one child in two: same home and family name, born days or weeks apart, forenames alike, "
                "no source holds both ({evidence})")
SCRIPT_REASON = ("possibly one child in two: one given name written another way (split in two, or romanised "
                 "another way), same home and birthday, no source holds both ({evidence})")
# The keys with a reason of their own; the middle-name keys share ``MIDDLE_REASON``.
_REASONS = {"home": HOME_REASON, "swap": SWAP_REASON, "spelling": SPELLING_REASON, "family": FAMILY_REASON,
            "script": SCRIPT_REASON, "weeks": WEEKS_REASON}
# Fewest consonants a romanised given name (``_roman``) must keep to say which name it is.
ROMAN_SHORTEST = 2
# Forenames (or a forename and the other record's surname) this alike are taken as one name typed
# or written another way (Lexi / Lexxi, Olivia / Livvy).
NAME_JW = 0.8
# Forenames at least this alike (Jaro-Winkler) in one family on one birthday (``family``): a typed or
# romanised forename (Isla / Issl 0.87, Julia / Iuliia 0.82, Hamzah / Hqzh 0.78, Isabelle / Isy
# 0.64), not two names (Lawrence's "Laweecne" / Lonny 0.55 and Isla / Maryam 0.47 are left). Chosen
# on 1,000,000 realistic records (seed 42, session 26: over the pairs nothing queued, 44 pairs of
# children at 0.6, 23 one child, none twins; 197 and 32 with no forename condition). The key as
# written (two homes, no co-twin in view) added there 25 pairs of children, 18 one child, reaching 20
# of the 388 missed record pairs nothing queued; at 1,000,000 easy 8, 4 one child (docs/benchmarks.md).
FAMILY_JW = 0.6
# Most days between two birthdays of one child recorded under one forename and middle name.
NEAR_DAYS = 31
# Surnames this alike are one family name typed two ways (Gaedner / Gardner, Dunord / Dunford).
SURNAME_JW = 0.85


def _names_related(a: str, b: str) -> str:
    """The forenames are one name, or one record's forename is the other's surname (a swap); each
    possibly typed or written another way (pure SQL)."""
    jw = "jaro_winkler_similarity"
    return (f"coalesce({a}.forename = {b}.forename OR list_has_any({a}.forename_keys, {b}.forename_keys) "
            f"OR {a}.forename_dm = {b}.forename_dm OR {a}.forename_skel = {b}.forename_skel "
            f"OR {a}.forename_abjad = {b}.forename_skel OR {a}.forename_skel = {b}.forename_abjad "
            f"OR {jw}({a}.forename, {b}.forename) >= {NAME_JW} OR {jw}({a}.forename, {b}.surname) >= {NAME_JW} "
            f"OR {jw}({a}.surname, {b}.forename) >= {NAME_JW}, false)")


def _roman(col: str) -> str:
    """A given name as any romanisation of it writes it: the Wade-Giles initials hs, tz and ts read
    as pinyin x and z (Hsiao-ling / Xiaoling, Tzu-hao / Zihao), then its consonants only, doubled
    letters run together (Abdul Rahman / bdlrhmn, an Arabic-script record) (pure SQL)."""
    wade = f"replace(replace(replace(coalesce({col}, ''), 'hs', 'x'), 'tz', 'z'), 'ts', 'z')"
    bare = f"regexp_replace(regexp_replace({wade}, '[^a-z]', '', 'g'), '[aeiouyw]', '', 'g')"
    return f"list_reduce(string_split('^' || {bare}, ''), (s, c) -> CASE WHEN right(s, 1) = c THEN s ELSE s || c END)"


def _split_middle(a: str, b: str) -> str:
    """The first middle name of side ``a`` (columns ``a`` + rk_full, rk_join, middle_names) once a
    part of its given name is taken out of it: the second when ``a``'s forename and first middle
    name are ``b``'s given name split in two."""
    return (f"coalesce(CASE WHEN {a}rk_join = {b}rk_full THEN {middle_name(f'{a}middle_names', 2)} "
            f"ELSE {middle_name(f'{a}middle_names')} END, '')")


def _script_related(a: str, b: str) -> str:
    """Sides ``a`` and ``b`` (column prefixes) hold one given name written two ways (``_roman``): whole
    in both, or whole in one and split into a forename and a first middle name in the other; their
    middle names then agree where both hold one after the split (pure SQL)."""
    ma, mb = _split_middle(a, b), _split_middle(b, a)
    return (f"length({a}rk_full) > {ROMAN_SHORTEST} "
            f"AND ({a}rk_full = {b}rk_full OR {a}rk_full = {b}rk_join OR {a}rk_join = {b}rk_full) "
            f"AND ({ma} = '' OR {mb} = '' OR jaro_winkler_similarity({ma}, {mb}) >= 0.9)")


def _twin_of(a: str, b: str) -> str:
    """Side ``a`` has a co-twin (``guards.cotwin_sql``) whose forename could begin ``b``'s given name as
    ``_roman`` writes it: ``b`` might be that sibling's record. A co-twin of another name (Hsiao-ling
    Cheung's schoolmate Oliver Chen, born the same day) says nothing against the pair (pure SQL)."""
    twin = "'^' || replace(replace(replace(coalesce(x.s, ''), 'hs', 'x'), 'tz', 'z'), 'ts', 'z')"
    return (f"coalesce(list_bool_or(list_transform({a}cotwins, x -> starts_with({b}rk_full, {twin}) "
            f"OR starts_with({twin}, {b}rk_full) OR starts_with(coalesce({b}rk_join, ''), {twin}))), false)")


def narrow_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Each record with a birthday as the keys join it: what they meet on and test pair by pair, its
    child, and whether a co-twin is in view; no name keys and no co-twins, which only the few
    records of the pairs met are read for (``reach_sql``'s ``wide``): at 1,000,000 records the wide
    rows, read by seven self-joins, spilt 1.5 GB under the run's 2 GB limit (pure SQL)."""
    return f"""
  SELECT x.unique_id, x.source_dataset, x.forename, x.surname, x.dob, x.postcode,
    {middle_name('x.middle_names')} AS mid, c.cluster_id, left(x.surname, 1) AS s1, t.cotwins IS NOT NULL AS twin
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id) LEFT JOIN {cotwin_table} t USING (unique_id)
  WHERE x.dob IS NOT NULL"""


def lone_sql(clusters_table: str) -> str:
    """The children (cluster_id) of ``clusters_table`` holding no record of the source most of its
    records are of (a record key's source: ``complement.sources_of``). Of two children holding no
    source in common, one at least is such a child: at 1,000,000 realistic records the GP's (health)
    children are 85% of the records, and a key's pairs of two of them, every one dropped by
    ``queue_apart``, were most of what the keys joined (pure SQL)."""
    src = "split_part(unique_id, ':', 1)"
    return (f"SELECT cluster_id FROM {clusters_table} GROUP BY cluster_id HAVING NOT bool_or({src} = ("
            f"SELECT {src} FROM {clusters_table} GROUP BY ALL ORDER BY count(*) DESC, {src} LIMIT 1))")


def halves_sql(rows: str) -> str:
    """CTEs ``rows`` + n and + p: the rows of CTE ``rows`` (with cluster_id) of a child of CTE
    ``lone`` (``lone_sql``; few, materialised) and the others (pure SQL)."""
    return (f"{rows}n AS MATERIALIZED (SELECT * FROM {rows} SEMI JOIN lone USING (cluster_id)),\n"
            f"{rows}p AS (SELECT * FROM {rows} ANTI JOIN lone USING (cluster_id))")


def either_sql(select: str, rows: str = "h") -> str:
    """``select`` (a self-join of ``rows``' rows ``@a`` and ``@b``) over the pairs with at least one
    record of a ``lone_sql`` child, each once: ``@a`` such a record (``rows`` + n, ``halves_sql``)
    against every row, then ``@a`` any other (+ p) against such a ``@b``. A rule whose every pair
    is of two children holding no source in common (``queue_apart``) loses none (pure SQL)."""
    return (select.replace("@a", f"{rows}n").replace("@b", rows) + "\n  UNION ALL\n  "
            + select.replace("@a", f"{rows}p").replace("@b", f"{rows}n"))


def reach_sql(input_table: str, clusters_table: str, cotwin_table: str) -> str:
    """Record pairs (l, r, ca, cb, how, dob_exact, twin) met by the module's keys, in two children
    with no UPN, NHS number or sex against them and no co-twin in view that could be the other
    record (``twin``: a co-twin is in view, for the middle-name keys and ``weeks``; pure SQL). The
    keys join ``narrow_sql``'s rows; the name keys and co-twins are read for the pairs met."""
    near = f"(abs(datediff('day', a.dob, b.dob)) <= {NEAR_DAYS} OR {_transposed('a', 'b')} OR {_slip('a', 'b', _DATE_TEXT)})"
    differ = "a.cluster_id <> b.cluster_id AND a.source_dataset <> b.source_dataset AND a.unique_id < b.unique_id"
    surnames = f"a.s1 = b.s1 AND jaro_winkler_similarity(a.surname, b.surname) >= {SURNAME_JW}"
    twin = "(a.twin OR b.twin)"
    # The middle-name keys and ``weeks`` read a record with a co-twin in view unless that co-twin fits
    # the other record as well as the record does (``guards``' test); the other keys read none.
    clear = f"NOT {_closer_to_cotwin('a', 'b')} AND NOT {_closer_to_cotwin('b', 'a')}"
    alone = "NOT a.twin AND NOT b.twin"
    birthday = either_sql(f"""SELECT a.unique_id AS l, b.unique_id AS r, a.cluster_id AS ca, b.cluster_id AS cb, 'birthday' AS how,
    a.dob = b.dob AS dob_exact, {twin} AS twin
  FROM @a a JOIN @b b ON a.mid = b.mid AND a.dob = b.dob WHERE {differ}""", "m")
    transposed = either_sql(f"""SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'birthday', false, {twin}
  FROM @a a JOIN @b b ON a.mid = b.mid AND year(a.dob) = year(b.dob) AND day(a.dob) = month(b.dob)
    AND month(a.dob) = day(b.dob)
  WHERE {differ} AND a.dob <> b.dob""", "m")
    forename = either_sql(f"""SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'forename', a.dob = b.dob, {twin}
  FROM @a a JOIN @b b ON a.mid = b.mid AND a.forename = b.forename
  WHERE {differ} AND {near} AND jaro_winkler_similarity(a.surname, b.surname) >= {SURNAME_JW}""", "m")
    at_home = either_sql(f"""SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'at_home', a.dob = b.dob, {twin}
  FROM @a a JOIN @b b ON a.postcode = b.postcode AND year(a.dob) = year(b.dob)
  WHERE {differ} AND {birthday_sql('a', 'b', _DATE_TEXT)}""")
    weeks = either_sql(f"""SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'weeks', false, {twin}
  FROM @a a JOIN @b b ON a.postcode = b.postcode
  WHERE {differ} AND a.dob <> b.dob AND abs(datediff('day', a.dob, b.dob)) <= {NEAR_DAYS}
    AND {surnames} AND jaro_winkler_similarity(a.forename, b.forename) >= {FAMILY_JW}""")
    spelt = either_sql(f"""SELECT a.unique_id AS l, b.unique_id AS r, a.cluster_id AS ca, b.cluster_id AS cb, a.forename,
    a.surname, a.surname = b.surname AS same
  FROM @a a JOIN @b b ON a.forename = b.forename AND a.s1 = b.s1 AND year(a.dob) = year(b.dob)
  WHERE {differ} AND a.dob <> b.dob AND {near} AND {surnames} AND {alone}""")
    swap = either_sql(f"""SELECT least(a.unique_id, b.unique_id), greatest(a.unique_id, b.unique_id),
    CASE WHEN a.unique_id < b.unique_id THEN a.cluster_id ELSE b.cluster_id END,
    CASE WHEN a.unique_id < b.unique_id THEN b.cluster_id ELSE a.cluster_id END, 'swap', true, false
  FROM @a a JOIN @b b ON a.forename = b.surname AND a.dob = b.dob
  WHERE a.cluster_id <> b.cluster_id AND a.source_dataset <> b.source_dataset AND {alone}""")
    family = either_sql(f"""SELECT a.unique_id, b.unique_id, a.cluster_id, b.cluster_id, 'family', true, false
  FROM @a a JOIN @b b ON a.dob = b.dob AND a.s1 = b.s1
  WHERE {differ} AND {surnames} AND {alone} AND jaro_winkler_similarity(a.forename, b.forename) >= {FAMILY_JW}
    AND NOT coalesce(a.postcode = b.postcode, false)""")
    return f"""
WITH h AS MATERIALIZED ({narrow_sql(input_table, clusters_table, cotwin_table)}),
m AS (SELECT * FROM h WHERE coalesce(mid, '') <> ''),
-- Every pair the keys keep is of two children holding no source in common (``reach_pairs``), so at
-- least one of them lacks the source most records are of (``lone_sql``): each key joins those
-- children's few rows to every row, not every row to every row (``either_sql``).
lone AS ({lone_sql(clusters_table)}),
{halves_sql('h')},
mn AS (SELECT * FROM hn WHERE coalesce(mid, '') <> ''),
mp AS (SELECT * FROM hp WHERE coalesce(mid, '') <> ''),
-- The keys whose tests read the name keys or co-twins: met here on the narrow rows, tested below.
-- ``at_home``: two children at one home, born one day or a slip apart (``home``, ``script``).
met AS MATERIALIZED (
  {birthday}
  UNION ALL
  {transposed}
  UNION ALL
  {forename}
  UNION ALL
  {at_home}
  UNION ALL
  {weeks}),
-- The name keys and co-twins of the records met, read from the input once more (a few records: restricted
-- before the co-twins are joined, else DuckDB joins every record of the input to them first).
{met_rows_sql(input_table, cotwin_table, _MET_NAMES + ", x.forename_dm, x.forename_full, x.forename_join, "
              "x.middle_names")},
tested AS MATERIALIZED (
  SELECT p.l, p.r, p.ca, p.cb, p.how, p.dob_exact, p.twin, a.forename_full AS a_full, b.forename_full AS b_full,
    a.forename_join AS a_join, b.forename_join AS b_join, a.middle_names AS a_middle_names,
    b.middle_names AS b_middle_names, a.cotwins AS a_cotwins, b.cotwins AS b_cotwins,
    p.how = 'at_home' AND NOT p.twin AND {_names_related('a', 'b')} AS home
  FROM met p JOIN wide a ON a.unique_id = p.l JOIN wide b ON b.unique_id = p.r
  WHERE CASE p.how WHEN 'birthday' THEN {_names_related('a', 'b')} AND {clear} WHEN 'at_home' THEN true
    ELSE {clear} END),
-- Records of two children at one home, born one day or a slip apart, under two given names; only
-- their few names are romanised (``_roman``), not every record's.
one_home AS (SELECT * FROM tested WHERE how = 'at_home' AND a_full <> b_full),
roman AS MATERIALIZED (
  SELECT n, {_roman('n')} AS rk FROM (SELECT a_full AS n FROM one_home UNION SELECT b_full FROM one_home
    UNION SELECT a_join FROM one_home UNION SELECT b_join FROM one_home) WHERE n IS NOT NULL),
script AS MATERIALIZED (
  SELECT l, r, ca, cb, dob_exact FROM (
    SELECT h.*, af.rk AS a_rk_full, bf.rk AS b_rk_full, aj.rk AS a_rk_join, bj.rk AS b_rk_join FROM one_home h
    JOIN roman af ON af.n = h.a_full JOIN roman bf ON bf.n = h.b_full
    LEFT JOIN roman aj ON aj.n = h.a_join LEFT JOIN roman bj ON bj.n = h.b_join)
  WHERE {_script_related('a_', 'b_')} AND NOT {_twin_of('a_', 'b_')} AND NOT {_twin_of('b_', 'a_')}),
-- A full name written the same in both records (``spelling``): its records in the source holding
-- most of them, and the days the births span, give the namesakes expected within ``NEAR_DAYS``.
-- Counted over the run's records (``h``, already read), only for the names met: a month's run counts
-- only the children it reached, so it expects fewer namesakes and queues as a full run would or
-- more, never less.
spelt AS MATERIALIZED (
  {spelt}),
namesakes AS (
  SELECT forename, surname, max(n) AS n FROM (
    SELECT forename, surname, source_dataset, count(*) AS n FROM h
    SEMI JOIN (SELECT forename, surname FROM spelt WHERE same) s USING (forename, surname) GROUP BY ALL) GROUP BY ALL),
span AS (SELECT greatest(datediff('day', min(dob), max(dob)), 365) AS days FROM h),
pairs AS MATERIALIZED (
  SELECT l, r, ca, cb, CASE how WHEN 'at_home' THEN 'home' ELSE how END AS how, dob_exact, twin FROM tested
  WHERE how <> 'at_home' OR home
  UNION ALL
  {swap}
  UNION ALL
  {family}
  UNION ALL
  SELECT l, r, ca, cb, 'script', dob_exact, false FROM script
  UNION ALL
  SELECT s.l, s.r, s.ca, s.cb, 'spelling', false, false FROM spelt s LEFT JOIN namesakes n USING (forename, surname)
  WHERE NOT s.same OR (n.n - 1) * {2 * NEAR_DAYS + 1} <= {COINCIDENCE} * (SELECT days FROM span)),
{kin_sql(input_table, clusters_table)}
SELECT p.* FROM pairs p JOIN kids a ON a.cluster_id = p.ca JOIN kids b ON b.cluster_id = p.cb
WHERE {could_be_one_sql()}
  AND (p.how = 'script' OR coalesce(list_bool_or(list_transform(a.middles, x -> list_bool_or(list_transform(
        b.middles, y -> jaro_winkler_similarity(x, y) >= 0.9)))), true))
ORDER BY p.l, p.r, p.how"""


def kin_sql(input_table: str, clusters_table: str) -> str:
    """CTEs ``member`` and ``kids`` over a CTE ``pairs`` (ca, cb: two children): each child's UPN roots,
    NHS numbers, sexes and first middle names; only the pairs' few children are read (pure SQL)."""
    return f"""-- Only the few children of the pairs are looked up: their records first, then those records' fields.
member AS MATERIALIZED (
  SELECT unique_id, cluster_id, upn_root FROM {clusters_table}
  WHERE cluster_id IN (SELECT ca FROM pairs UNION SELECT cb FROM pairs)),
kids AS (
  SELECT c.cluster_id,
    list(DISTINCT c.upn_root) FILTER (WHERE c.upn_root IS NOT NULL) AS upns,
    list(DISTINCT x.nhs_number) FILTER (WHERE x.nhs_number IS NOT NULL) AS nhss,
    list(DISTINCT x.sex) FILTER (WHERE x.sex IN ('M', 'F')) AS sexes,
    list(DISTINCT {middle_name('x.middle_names')}) FILTER (WHERE coalesce(x.middle_names, '') <> '') AS middles
  FROM member c JOIN {input_table} x ON x.unique_id = c.unique_id GROUP BY c.cluster_id)"""


# The name columns every rule's ``wide`` reads of the records it met.
_MET_NAMES = ("x.unique_id, x.forename, x.surname, x.forename_keys, x.forename_skel, x.forename_abjad, "
              "x.forename_family, x.surname_all")


def met_rows_sql(input_table: str, cotwin_table: str, columns: str = _MET_NAMES) -> str:
    """The CTE ``wide``: ``columns`` (of ``x``) and the co-twins of the records of a CTE ``met``
    (l, r), the input narrowed to them before the left join (``namesql.only``: in a month, not
    every record joined to the co-twins first). Pure SQL."""
    return f"""wide AS MATERIALIZED (
  SELECT {columns}, t.cotwins
  FROM {only(input_table, "SELECT l FROM met UNION SELECT r FROM met")} x LEFT JOIN {cotwin_table} t USING (unique_id))"""


def queue_rule(con: duckdb.DuckDBPyConnection, sql: str, reason: str, found: ClusterPass,
               cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Run a queue rule's ``sql`` (rows l, r, ca, cb, how) and ``queue_apart`` its rows under
    ``reason`` (formatted with ``evidence=how``). Returns how many were queued."""
    rows = con.execute(sql).fetchall()
    return queue_apart(rows, lambda how: reason.format(evidence=how), found, cluster_of, apart)


def clear_pairs_sql(input_table: str, clusters_table: str) -> str:
    """After CTEs ``met`` (l, r, ca, cb, how) and ``wide`` (``met_rows_sql``): the pairs no co-twin of
    either record fits better, kept where their two children could be one (``one_child_sql``). Pure SQL."""
    return f"""pairs AS MATERIALIZED (
  SELECT p.* FROM met p JOIN wide a ON a.unique_id = p.l JOIN wide b ON b.unique_id = p.r
  WHERE NOT {_closer_to_cotwin('a', 'b')} AND NOT {_closer_to_cotwin('b', 'a')}),
{one_child_sql(input_table, clusters_table)}"""


def one_child_sql(input_table: str, clusters_table: str, middles: bool = True) -> str:
    """After a CTE ``pairs`` (l, r, ca, cb, ...): the CTEs of ``kin_sql`` and the pairs whose two
    children could be one (``could_be_one_sql``) and hold no two first middle names that differ
    (where both hold one, one must agree), ordered (pure SQL). ``middles=False``: without the middle
    names' test, for rules that test them their own way (a name split in two)."""
    differ = """
  AND coalesce(list_bool_or(list_transform(a.middles, x -> list_bool_or(list_transform(
        b.middles, y -> jaro_winkler_similarity(x, y) >= 0.9)))), true)""" if middles else ""
    return f"""{kin_sql(input_table, clusters_table)}
SELECT p.* FROM pairs p JOIN kids a ON a.cluster_id = p.ca JOIN kids b ON b.cluster_id = p.cb
WHERE {could_be_one_sql()}{differ}
ORDER BY p.l, p.r"""


def could_be_one_sql() -> str:
    """The children ``a`` and ``b`` (``kin_sql``'s ``kids`` rows) hold no two different UPN roots, NHS
    numbers or sexes (pure SQL)."""
    return """NOT coalesce(len(a.upns) > 0 AND len(b.upns) > 0 AND NOT list_has_any(a.upns, b.upns), false)
  AND NOT coalesce(len(a.nhss) > 0 AND len(b.nhss) > 0 AND NOT list_has_any(a.nhss, b.nhss), false)
  AND coalesce(len(list_distinct(list_concat(a.sexes, b.sexes))), 0) <= 1"""


def reach_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_table: str,
                 found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> int:
    """Add to ``found.queue`` the pairs of ``reach_sql`` whose two children hold no source in
    common and that the pass neither linked nor queued nor keeps apart (``apart``: record pairs);
    one per two children. Returns how many were queued."""
    rows = con.execute(reach_sql(input_table, clusters_table, cotwin_table)).fetchall()

    def reason(how: str, dob_exact: bool, twin: bool) -> str:
        said = "same birthday" if dob_exact else "birthdays a slip or days apart"
        said += "; a twin is in view" if twin else ""
        if how in _REASONS:
            return _REASONS[how].format(evidence=said)
        return MIDDLE_REASON.format(how="birthday, forenames alike" if how == "birthday"
                                    else "forename, surnames alike", evidence=said)
    return queue_apart(rows, reason, found, cluster_of, apart)


def queue_apart(rows: list[tuple], reason: Callable[..., str], found: ClusterPass, cluster_of: dict[str, str],
                apart: Iterable[tuple[str, str]], *, shared: frozenset[str] = frozenset(),
                keep: Callable[[str, str], bool] | None = None) -> int:
    """Add to ``found.queue`` each row (l, r, ca, cb, *evidence) whose two children hold no source in
    common but ``shared``, that ``keep(ca, cb)`` (if given) allows, and that the pass neither linked
    nor queued nor keeps apart (``apart``: record pairs), as (l, r, ``reason(*evidence)``); one per
    two children. Returns how many were queued."""
    if not rows:
        return 0
    done = settled(found, cluster_of, apart)
    held = sources_of(cluster_of, {c for _, _, ca, cb, *_ in rows for c in (ca, cb)})
    queued = 0
    for l, r, ca, cb, *evidence in rows:
        kids = frozenset((ca, cb))
        if kids in done or held[ca] & held[cb] - shared or (keep is not None and not keep(ca, cb)):
            continue
        done.add(kids)
        found.queue.append((l, r, reason(*evidence)))
        queued += 1
    return queued
