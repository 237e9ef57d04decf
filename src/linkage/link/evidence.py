"""Cluster-level evidence: a second pass after pairwise scoring, for a new surname and a move.

A child whose family name changed and who moved home keeps the forename, the middle name,
the sex and the date of birth; the surname and the postcode both differ. Pairwise, such a
pair scores low (two strong disagreements), and nothing in the one pair can tell it from two
children who happen to share a forename and a birthday. The candidate *child* (every record
already clustered with each side) may hold what the pair lacks:

* a **former surname**: any record's surname or former surname on one side equals one on the
  other (a school that recorded FormerSurname, a hyphenated name);
* a **historic address**: any postcode or first address line held on one side is held on the
  other (an old school enrolment, an agency that missed the move);
* the **middle name**, compared across every record of the two children;
* the **UPNs and NHS numbers of every other record** in the two children: two different ones
  of a kind are evidence of two children, and the pair is dropped (as is a sex conflict or
  a middle name that disagrees everywhere).

Candidates are record pairs from different sources, in different children, whose forenames are
one name (exact, a nickname or transliteration key, the same double metaphone code, a typo, or
the consonants of an Arabic-script spelling, or one compound given name split into a forename
and a middle name in one record: Xiaoling / Xiao Ling) and whose dates of birth agree, have day
and month transposed, or differ in one character within the month; and pairs whose forename and
surname are swapped (one of them possibly with a typo, one part of a double surname, or another
form of the forename: Angus Betsy / Elizabeth Angus), born in the same month, which no blocking rule brings together once a typo or a move is added (queued, never
linked); and pairs no other key meets (``unreached``): a rare forename a typed slip from
another on the same birthday, and every nickname key of a forename, not only its canonical
one. Two records of one source are not candidates: a source holds a child once under its own
identifiers, and two of its records that the model left apart are evidence of two children (at
1M, none of about 26,000 such pairs queued by the first version of this pass was one child).
The pass *links* a candidate only when its surnames and postcodes both differ (a pair sharing
either was scored with that evidence already, and left apart by the model for a reason), the
forename is one name, the date of birth is exact, neither child has a co-twin in its own extract
(the twin guard's evidence of a second child wins), no pair between the two children is
twin-guarded, at least two of {middle name, former surname, historic address} agree, and the
record's child has no second such candidate. Every
other candidate is *queued* for review unless it is likely a coincidence (below), among them
pairs that no blocking rule brought together (a date-of-birth slip with a surname typo): a true
pair the model cannot decide is not silently lost.

A candidate whose surnames and postcodes differ is queued only when it is unlikely to be a
coincidence. In a population of a million, children who share a common forename and a birthday
are many, and a queue of them costs reviewers their time on strangers. The number of other
children expected by chance to share the forename and the birthday (``coincidences``) is
estimated from the population itself (term frequency): the children with that forename's sound
code born in that year, counted in the source holding most of them (a source holds each child
about once) over every current record (so an incremental run estimates as a full one does),
over the days of a year, times ``SLIP_DATES`` for a date of birth one slip apart. Each agreeing
piece of cluster evidence multiplies it by ``EVIDENCE_U``, the share of unrelated pairs taken to
agree on it. The pair is queued when at most ``COINCIDENCE`` such children are expected. The
estimate grows with the population, so the rule keeps the queue's share of true matches at any
size, where a fixed rule queues ever more strangers as the population grows. A pair sharing a
surname or a postcode is always queued (the family or the address is itself the evidence).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from linkage.link.features import register_sql
from linkage.link.guards import birthday_sql, split_name_sql, surname_as_given_sql, swapped_sql
from linkage.link.namesql import middle_name
from linkage.link.unreached import COUNT_TABLE, counts_sql, name_keys_sql, slip_sql, typo_pairs_sql
from linkage.link.wording import agreement, forename_how_sql
from linkage.validation.postcode import NOT_A_PLACE_PREFIXES

__all__ = ["CHANGE_REASON", "COINCIDENCE", "UNSCORED_REASON", "ClusterPass", "candidates_sql", "identifiers_of", "sources_of",
           "clusters_arrow", "coincidences", "decide"]

# ``{agree}``: what the two records agree on (``wording.agreement``); a swap says so there.
CHANGE_REASON = "possible change of surname and address: {agree} ({evidence})"
UNSCORED_REASON = "{agree}, not linked by the model ({evidence})"
# How many of middle name, former surname and historic address must agree to link without a reviewer.
LINK_EVIDENCE = 2
# What links a pair that shares a surname or the postcode without a reviewer (``_at_home``): the
# former surname is no evidence there (a shared surname is one), a home or a middle name is. At 1M
# realistic (seed 42, session 23's queue) about 200 such pairs of children with a home or a middle
# name agreeing and no twin in view were queued, every one one child; with only a former surname,
# 17 of 73 were not. Forenames only spelt alike are left to a reviewer: at 250k twins Alfie and
# Albie, one at the GP, one in social care, at one home, would have been joined.
HOME_EVIDENCE = ("historic address", "middle name")
# Most children expected by chance to share the forename and the birthday, for a pair with nothing
# else in common to be queued (chosen on seed 42 realistic, 30,000 children; docs/benchmarks.md).
COINCIDENCE = 0.04
# Share of unrelated pairs assumed to agree on one piece of cluster evidence (chosen on the 1M easy
# queue of seed 42, where 28 of 30 such pairs with one piece agreeing were true; docs/benchmarks.md).
EVIDENCE_U = 0.01
# Dates of birth one slip (a transposition or one character within the month) from a given date.
SLIP_DATES = 20


def _keyed(inp: str) -> str:
    """Each record under each key it can meet another by: a forename code (the forename with its
    first middle name run on, too: Xiao Ling meets Xiaoling), or the home (a typo that changes
    every forename code, Harriet/Hsrriet), and the month of birth (as written, or with day and
    month transposed); with what ``_may_pair`` reads and nothing more: at 1M records these are six
    million rows, materialised and spilt under the run's memory limit, and every column of them is
    written out and read back by each way (the sound code, which only makes the key, was about 50 MB
    of that spill). ``inp``'s identifying columns are numbers (``candidates_sql``'s ``ik``): with
    text and 64-bit hashes in them these rows spilt 1.17 GB at 1M, with numbers 0.5 GB, and the
    query took half the CPU."""
    month = "date_trunc('month', dob)"
    swapped = "date_trunc('month', make_date(year(dob), day(dob), month(dob)))"
    cols = "n, kid, register, dob, k_upn, k_nhs, k_sex"
    return f"""
  SELECT {cols}, 'm:' || forename_dm AS k, {month} AS d FROM {inp} WHERE forename_dm IS NOT NULL
  UNION ALL SELECT {cols}, 'c:' || forename_canon, {month} FROM {inp} WHERE forename_canon IS NOT NULL
  UNION ALL SELECT {cols}, 's:' || forename_skel, {month} FROM {inp} WHERE forename_skel IS NOT NULL
  UNION ALL SELECT {cols}, 'm:' || forename_dm, {swapped} FROM {inp}
    WHERE forename_dm IS NOT NULL AND day(dob) <= 12 AND day(dob) <> month(dob)
  UNION ALL SELECT {cols}, 'c:' || forename_join, {month} FROM {inp} WHERE forename_join IS NOT NULL
  UNION ALL {name_keys_sql(inp, cols)}
  UNION ALL SELECT {cols}, 'p:' || postcode, {month} FROM {inp} WHERE postcode IS NOT NULL
  UNION ALL SELECT {cols}, 'p:' || past_postcode, {month} FROM {inp} JOIN past USING (unique_id)
  UNION ALL SELECT {cols}, 'p:' || postcode, {swapped} FROM {inp}
    WHERE postcode IS NOT NULL AND day(dob) <= 12 AND day(dob) <> month(dob)"""


def _may_pair(a: str, b: str) -> str:
    """What every candidate must pass that two keyed rows already tell, checked as the rows meet
    so that the join keeps only these (the pairs of a common forename and month grow with the
    square of the population): different children and registers (a source's own extract or a
    second file of it), one birthday (one slip
    allowed), and no UPN, NHS number or sex that ``candidates_sql``'s last step would find
    against the pair in two children holding one each (``k_upn``, ``k_nhs``: hashes, so two
    that differ are two values; ``k_sex``)."""
    return (f"{a}.kid <> {b}.kid AND {a}.register <> {b}.register "
            f"AND NOT coalesce({a}.k_upn <> {b}.k_upn OR {a}.k_nhs <> {b}.k_nhs OR {a}.k_sex <> {b}.k_sex, false) "
            f"AND {birthday_sql(a, b, _DATE_TEXT)}")


# 32 bits of a value's hash (``candidates_sql``'s ``k_upn``, ``k_nhs``): four bytes of six million keyed rows
# fewer than the whole hash; a pair two values meet by chance is dropped by the identifiers themselves.
_HASH32 = "CAST(hash({v}) & 4294967295 AS UINTEGER)"


# The written date (``dob_str``) is not carried in the pass's six million keyed rows (16 bytes each,
# spilt and read back by every way of the join): ``birthday_sql`` makes it from the date, and only
# for a pair with two of year, month and day in common.
_DATE_TEXT = "CAST({t}.dob AS VARCHAR)"


_SURNAME_ROWS = "SELECT n, kid, register, dob, k_upn, k_nhs, k_sex, f, unnest(surname_all) AS s FROM ik"
_SAME_MONTH = "date_trunc('month', a.dob) = date_trunc('month', b.dob)"


def _keyed_pairs(left: str = "keyed", right: str = "keyed") -> str:
    """Pairs (a, b: record numbers, a < b) of rows of ``left`` and ``right`` (the keyed rows, or a
    month's focus rows against the others) under one key and month that ``_may_pair`` admits, met
    in the three disjoint ways a pair can pass its identifier test: both children hold one UPN
    (then it is the same: only the rows of a UPN two children hold, joined on it), or some side
    holds none and both hold one NHS number (likewise), or some side holds no UPN and some side no
    NHS number (a child with neither, met only by the rows under its keys; or one with only a UPN
    against one with only an NHS number). One join on key and month alone formed every pair of a
    common forename's month (23.6M at 1M records, 85k kept); the third way's sides are a few per
    cent of the records."""
    may, by = _may_pair("a", "b"), "a.k = b.k AND a.d = b.d"
    both = left == right                   # one table: each pair met once
    shared = "(SELECT * FROM {t} WHERE {c} IN (SELECT {c} FROM one GROUP BY {c} HAVING count(*) > 1))"
    rows = "(SELECT * FROM {t} WHERE k_upn IS {u} NULL AND k_nhs IS {h} NULL)"
    none, only_nhs, only_upn = dict(u="", h=""), dict(u="", h="NOT"), dict(u="NOT", h="")

    def near(t: str, few: str) -> str:     # ``t``'s rows under a key and month of ``few``'s
        return f"(SELECT * FROM {t} SEMI JOIN {few} USING (k, d))"

    ways = [(shared.format(t=left, c="k_upn"), shared.format(t=right, c="k_upn"), " AND a.k_upn = b.k_upn"),
            (shared.format(t=left, c="k_nhs"), shared.format(t=right, c="k_nhs"),
             " AND a.k_nhs = b.k_nhs AND (a.k_upn IS NULL OR b.k_upn IS NULL)"),
            (rows.format(t=left, **none), near(right, rows.format(t=left, **none)), ""),
            (rows.format(t=left, **only_nhs), rows.format(t=right, **only_upn), "")]
    if not both:       # the mirror of the last two: the focus on the other side
        ways += [(near(left, rows.format(t=right, **none)), rows.format(t=right, **none), ""),
                 (rows.format(t=left, **only_upn), rows.format(t=right, **only_nhs), "")]
    return "\n      UNION ALL\n".join(
        f"      SELECT least(a.n, b.n) AS a, greatest(a.n, b.n) AS b FROM {x} a JOIN {y} b ON {by}{on} "
        f"AND {'a.n < b.n' if both and on else 'a.n <> b.n'} AND {may}" for x, y, on in ways)


def _all_pairs() -> str:
    """``keyed`` and ``pairs`` CTEs: every candidate record pair of the population, once."""
    return f"""keyed AS MATERIALIZED ({_keyed('ik')}),
pairs AS (
  SELECT least(a.unique_id, b.unique_id) AS l, greatest(a.unique_id, b.unique_id) AS r FROM (
    SELECT DISTINCT a, b FROM ({_keyed_pairs()})
    UNION
    SELECT least(a.n, b.n), greatest(a.n, b.n)
    FROM ik a JOIN ({_SURNAME_ROWS}) b ON a.forename = b.s AND {_SAME_MONTH} AND {_may_pair('a', 'b')}
    UNION
    {typo_pairs_sql('ik', _may_pair('a', 'b'))}) p
  JOIN ik a ON a.n = p.a JOIN ik b ON b.n = p.b),"""


def _focus_pairs() -> str:
    """The same CTEs for the pairs with a record of the focus (``ik.f``): the focus records' keys,
    and only the rows of other records under one of those keys (a semi-join, nothing of the
    population's keys kept), met one way round."""
    return f"""ikf AS (SELECT * FROM ik WHERE f),
keyed_f AS MATERIALIZED ({_keyed('ikf')}),
keyed_o AS MATERIALIZED (SELECT x.* FROM ({_keyed('ik')}) x SEMI JOIN keyed_f USING (k, d)),
pairs AS (
  SELECT least(a.unique_id, b.unique_id) AS l, greatest(a.unique_id, b.unique_id) AS r FROM (
    SELECT DISTINCT a, b FROM ({_keyed_pairs('keyed_f', 'keyed_o')})
    UNION
    SELECT least(a.n, b.n), greatest(a.n, b.n)
    FROM ikf a JOIN ({_SURNAME_ROWS}) b ON a.forename = b.s AND {_SAME_MONTH} AND {_may_pair('a', 'b')}
    UNION
    SELECT least(a.n, b.n), greatest(a.n, b.n)
    FROM ik a JOIN ({_SURNAME_ROWS} WHERE f) b ON a.forename = b.s AND {_SAME_MONTH} AND {_may_pair('a', 'b')}
    UNION
    {typo_pairs_sql('ik', f"(a.f OR b.f) AND {_may_pair('a', 'b')}")}) p
  JOIN ik a ON a.n = p.a JOIN ik b ON b.n = p.b),"""


# Forename and surname swapped (one of them possibly with a typo, one token of a double surname,
# or another form of the forename: Angus Betsy / Elizabeth Angus).
_SWAPPED = swapped_sql("l", "r")
# One compound given name, whole in one record and split into forename and middle name in the other.
_SPLIT = split_name_sql("l", "r")
# A surname of several words written where the given names go (``SURNAME, Forenames`` filled the
# wrong way round): the forename is its first word and the middle names the rest, so those middle
# names are the other record's surname, no evidence of another child.
_GIVEN_SURNAME = f"({surname_as_given_sql('l', 'r')} OR {surname_as_given_sql('r', 'l')})"


# An address_history postcode as the records' own are kept: upper case, one space before the
# inward code; no-fixed-abode and BFPO markers are no evidence of a home.
_PAST_POSTCODE = ("CASE WHEN length({c}) BETWEEN 5 AND 7 AND "
                  + " AND ".join(f"NOT starts_with({{c}}, '{p.strip()}')" for p in NOT_A_PLACE_PREFIXES)
                  + " THEN left({c}, length({c}) - 3) || ' ' || right({c}, 3) END")


def candidates_sql(input_table: str, clusters_table: str, cotwin_table: str, past_table: str | None = None,
                   focus: str | None = None) -> str:
    """Candidate pairs with the two children's evidence; pure SQL, no I/O.

    ``clusters_table`` has unique_id, cluster_id and upn_root (the UPN mapped to the root of
    its FormerUPN history). ``past_table`` (unique_id, postcode): the postcodes a source held
    for a record before its current one (``address_history``); each is a home the record meets
    others by, and a historic address of its child, as its current postcode is. ``focus`` (a table
    of unique_id): only the candidates with a record in it, met from its records' keys alone (a
    month's few thousand records against every other, not every pair of the population).
    """
    compact = "upper(regexp_replace(postcode, '[^A-Za-z0-9]', '', 'g'))"
    past = (f"SELECT unique_id, past_postcode FROM (SELECT unique_id, {_PAST_POSTCODE.format(c=compact)} "
            f"AS past_postcode FROM {past_table}) WHERE past_postcode IS NOT NULL" if past_table else
            "SELECT NULL::VARCHAR AS unique_id, NULL::VARCHAR AS past_postcode WHERE false")
    return f"""
WITH {COUNT_TABLE} AS ({counts_sql(input_table)}),
past AS ({past}),
-- The columns the pass reads, named: in a run the input is a view over the store's encrypted,
-- compressed cache, and every column of it read (x.*) cost a million rows decrypted for nothing.
i AS (
  SELECT x.unique_id, x.source_dataset, {register_sql('x')} AS register, x.forename, x.forename_full, x.forename_join, x.middle_names, x.surname,
    x.dob, x.sex, x.postcode, x.address, x.nhs_number, x.forename_canon, x.forename_dm, x.forename_skel,
    x.forename_abjad, x.forename_family, x.forename_keys, x.surname_all,
    c.cluster_id, c.upn_root, x.unique_id IN (SELECT unique_id FROM {cotwin_table}) AS has_cotwin,
    fc.n AS held, {f"x.unique_id IN (SELECT unique_id FROM {focus})" if focus else "true"} AS f
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id) LEFT JOIN {COUNT_TABLE} fc ON fc.forename = x.forename
  WHERE x.dob IS NOT NULL),
-- The keyed rows' columns are numbers, as narrow as they go (``_keyed``): the child and the record
-- as INTEGER, the register by its number here, the sex as whether it is M, the child's one UPN
-- and one NHS number as 32 bits of their hash. Two values whose 32 bits agree only let a pair
-- through to the last step, which compares the identifiers themselves (``kids``).
one AS (
  SELECT cluster_id, CAST(row_number() OVER () AS INTEGER) AS kid,
    CASE WHEN min(upn_root) = max(upn_root) THEN {_HASH32.format(v='min(upn_root)')} END AS k_upn,
    CASE WHEN min(nhs_number) = max(nhs_number) THEN {_HASH32.format(v='min(nhs_number)')} END AS k_nhs,
    CASE WHEN min(sex) FILTER (WHERE sex IN ('M', 'F')) = max(sex) FILTER (WHERE sex IN ('M', 'F'))
         THEN min(sex) FILTER (WHERE sex IN ('M', 'F')) = 'M' END AS k_sex
  FROM i GROUP BY cluster_id),
-- Each register by its place in a list of them (a scalar, not a join: joined to ``ik``'s million
-- rows, the plan changed and spilt more than the text it saves).
registers AS (
  SELECT DISTINCT {register_sql('x')} AS register FROM {input_table} x),
-- Materialised: the numbers ``n`` and ``kid`` name one record and one child in every use.
ik AS MATERIALIZED (
  SELECT CAST(row_number() OVER () AS INTEGER) AS n, unique_id, forename, forename_keys, surname_all, forename_dm,
    forename_canon, forename_skel, forename_join, postcode,
    CAST(list_position((SELECT list(DISTINCT register) FROM registers), register) AS INTEGER) AS register,
    dob, kid, k_upn, k_nhs, k_sex, f
  FROM i JOIN one USING (cluster_id)),
-- Each first middle name's share of the population's middle names: how often a stranger's agrees.
middle_share AS (
  SELECT {middle_name('middle_names')} AS m, count(*) / sum(count(*)) OVER () AS share
  FROM {input_table} WHERE coalesce(middle_names, '') <> '' GROUP BY 1),
cohort AS (
  SELECT fk, y, max(n) AS n FROM (
    SELECT coalesce(forename_dm, forename) AS fk, year(dob) AS y, source_dataset, count(*) AS n
    FROM {input_table} WHERE dob IS NOT NULL GROUP BY ALL) GROUP BY fk, y),
{_focus_pairs() if focus else _all_pairs()}
cand AS (
  SELECT p.l, p.r, l.cluster_id AS ca, r.cluster_id AS cb,
    (l.forename = r.forename OR list_has_any(l.forename_keys, r.forename_keys)) AS one_name,
    coalesce(l.forename = r.forename, false) AS same_forename,
    {forename_how_sql('l', 'r')} AS forename_how,
    l.dob = r.dob AS dob_exact,
    greatest(coalesce(nl.n, 1), coalesce(nr.n, 1)) AS cohort,
    {_SWAPPED} AS swapped,
    {_SPLIT} AS split,
    {_GIVEN_SURNAME} AS given_surname,
    CASE WHEN NOT {_SPLIT} AND coalesce(l.middle_names, '') <> ''
              AND {middle_name('l.middle_names')} = {middle_name('r.middle_names')}
         THEN {middle_name('l.middle_names')} END AS middle_same,
    NOT {_SWAPPED} AND NOT coalesce(list_has_any(l.surname_all, r.surname_all)
                                    OR jaro_winkler_similarity(l.surname, r.surname) >= 0.9, false)
      AND NOT coalesce(l.postcode = r.postcode, false) AS moved
  FROM pairs p JOIN i l ON l.unique_id = p.l JOIN i r ON r.unique_id = p.r
  LEFT JOIN cohort nl ON nl.fk = coalesce(l.forename_dm, l.forename) AND nl.y = year(l.dob)
  LEFT JOIN cohort nr ON nr.fk = coalesce(r.forename_dm, r.forename) AND nr.y = year(r.dob)
  WHERE l.register <> r.register
    AND ({_SWAPPED} OR l.forename = r.forename OR list_has_any(l.forename_keys, r.forename_keys)
         OR l.forename_full = r.forename_full OR {_SPLIT}
         OR l.forename_dm = r.forename_dm OR l.forename_abjad = r.forename_skel OR l.forename_skel = r.forename_abjad
         OR jaro_winkler_similarity(l.forename, r.forename) >= 0.88 OR {slip_sql('l', 'r')})
    AND {birthday_sql('l', 'r', _DATE_TEXT)}),
kids AS (
  SELECT cluster_id,
    coalesce(list(DISTINCT upn_root) FILTER (WHERE upn_root IS NOT NULL), []::VARCHAR[]) AS upns,
    coalesce(list(DISTINCT nhs_number) FILTER (WHERE nhs_number IS NOT NULL), []::VARCHAR[]) AS nhss,
    coalesce(list(DISTINCT sex) FILTER (WHERE sex IN ('M', 'F')), []::VARCHAR[]) AS sexes,
    coalesce(list(DISTINCT {middle_name('middle_names')}) FILTER (WHERE coalesce(middle_names, '') <> ''),
             []::VARCHAR[]) AS middles,
    list_distinct(flatten(list(surname_all))) AS surnames,
    coalesce(list(DISTINCT postcode) FILTER (WHERE postcode IS NOT NULL), []::VARCHAR[]) AS postcodes,
    coalesce(list(DISTINCT address) FILTER (WHERE address IS NOT NULL), []::VARCHAR[]) AS addresses,
    bool_or(has_cotwin) AS cotwin
  FROM i WHERE cluster_id IN (SELECT ca FROM cand UNION SELECT cb FROM cand) GROUP BY cluster_id),
earlier AS (
  SELECT i.cluster_id, list(DISTINCT p.past_postcode) AS postcodes FROM past p JOIN i USING (unique_id)
  GROUP BY i.cluster_id)
SELECT c.l, c.r, c.ca, c.cb, c.one_name, c.same_forename, c.forename_how, c.dob_exact, c.moved, c.swapped, c.cohort,
  CASE WHEN len(a.middles) = 0 OR len(b.middles) = 0 OR c.split OR c.given_surname THEN NULL
       ELSE list_bool_or(list_transform(a.middles, x -> list_bool_or(list_transform(
              b.middles, y -> jaro_winkler_similarity(x, y) >= 0.9)))) END AS middle,
  list_has_any(a.surnames, b.surnames) AS former_surname,
  (list_has_any(list_concat(a.postcodes, coalesce(pa.postcodes, [])), list_concat(b.postcodes, coalesce(pb.postcodes, [])))
   OR list_has_any(a.addresses, b.addresses)) AS historic_address,
  a.cotwin OR b.cotwin AS cotwin,
  ms.share AS middle_share
FROM cand c JOIN kids a ON a.cluster_id = c.ca JOIN kids b ON b.cluster_id = c.cb
  LEFT JOIN earlier pa ON pa.cluster_id = c.ca LEFT JOIN earlier pb ON pb.cluster_id = c.cb
  LEFT JOIN middle_share ms ON ms.m = c.middle_same
WHERE NOT (len(a.upns) > 0 AND len(b.upns) > 0 AND NOT list_has_any(a.upns, b.upns))
  AND NOT (len(a.nhss) > 0 AND len(b.nhss) > 0 AND NOT list_has_any(a.nhss, b.nhss))
  AND len(list_distinct(list_concat(a.sexes, b.sexes))) <= 1
  AND (c.split OR c.given_surname OR coalesce(list_bool_or(list_transform(a.middles, x -> list_bool_or(list_transform(
        b.middles, y -> jaro_winkler_similarity(x, y) >= 0.9)))), true))
"""


def clusters_arrow(cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]]) -> pa.Table:
    """The pass's clusters table: unique_id, cluster_id, upn_root (the UPN after its history) and
    nhs, as Arrow strings (built in C: a million records in well under a second, where pandas'
    string conversion checks every value in Python)."""
    ids = [identifiers.get(k, {}) for k in cluster_of]
    return pa.table({"unique_id": pa.array(list(cluster_of), pa.string()),
                     "cluster_id": pa.array(list(cluster_of.values()), pa.string()),
                     "upn_root": pa.array([i.get("upn") for i in ids], pa.string()),
                     "nhs": pa.array([i.get("nhs") for i in ids], pa.string())})


@dataclass
class ClusterPass:
    """The pass's outcome: children to join, and record pairs to queue with their reason."""

    links: list[tuple[str, str]] = field(default_factory=list)      # record pairs, one per pair of children
    queue: list[tuple[str, str, str]] = field(default_factory=list)  # (record, record, reason)
    pairs: list[tuple[str, str]] = field(default_factory=list)      # every candidate met (``candidates_sql``)

    def queue_frame(self, edges: pd.DataFrame) -> pd.DataFrame:
        """The queued pairs as review band rows, with their pairwise score where they were scored."""
        keys = {k for a, b, _ in self.queue for k in (a, b)}     # only pairs of queued records looked up
        near = edges[edges["unique_id_l"].isin(keys) & edges["unique_id_r"].isin(keys)]
        scored = {frozenset(p): (prob, w) for *p, prob, w in zip(
            near["unique_id_l"], near["unique_id_r"], near["match_probability"], near["match_weight"])}
        return pd.DataFrame([(a, b, *scored.get(frozenset((a, b)), (None, None)), why) for a, b, why in self.queue],
                            columns=["unique_id_l", "unique_id_r", "match_probability", "match_weight", "reason"])

    def apply(self, cluster_of: dict[str, str]) -> dict[str, str]:
        """``cluster_of`` with each linked pair's two children made one."""
        parent: dict[str, str] = {}

        def find(c: str) -> str:
            while parent.get(c, c) != c:
                c = parent[c]
            return c

        for a, b in self.links:
            ra, rb = find(cluster_of[a]), find(cluster_of[b])
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        # A million records, a few hundred joined: only a joined child's records are looked up.
        return {k: find(c) if c in parent else c for k, c in cluster_of.items()}


def _evidence(row: dict) -> list[str]:
    return [name for name, key in (("middle name", "middle"), ("former surname", "former_surname"),
                                   ("historic address", "historic_address")) if row[key]]


def _at_home(row: dict) -> bool:
    """One child whose records the model left apart for slips in several fields at once (forename,
    surname and date of birth typed, Maian Cook / Marian Cok): not moved (a surname or the postcode
    shared), not swapped, no co-twin in either child, and a home or a middle name of the two
    children the same (``HOME_EVIDENCE``); ``decide`` asks too that no source holds both and that
    neither child meets any other candidate. A stranger of that forename and birthday at that
    home is what twins are, and a twin in view keeps the pair to a reviewer."""
    return (not row["moved"] and bool(row["one_name"]) and not row.get("swapped") and not row["cotwin"]
            and any(e in row["evidence"] for e in HOME_EVIDENCE))


def sources_of(cluster_of: dict[str, str], children: set[str] | None = None) -> dict[str, frozenset[str]]:
    """Each child's sources (child id -> the sources of its records); only ``children``'s if given
    (a run asks about the few children of its guarded pairs, not every child)."""
    held: dict[str, set[str]] = defaultdict(set)
    items = cluster_of.items() if children is None else ((k, c) for k, c in cluster_of.items() if c in children)
    for key, child in items:
        held[child].add(key.split(":", 1)[0])
    return {child: frozenset(s) for child, s in held.items()}


def identifiers_of(cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]],
                   children: set[str | None]) -> dict[str, dict[str, set[str]]]:
    """Each of ``children``'s identifiers by kind (NHS numbers, UPN roots): only those children's,
    as ``sources_of``."""
    out: dict[str, dict[str, set[str]]] = {}
    if not children - {None}:
        return out
    for k, c in cluster_of.items():
        if c in children:
            for kind, v in (identifiers.get(k) or {}).items():
                if v:
                    out.setdefault(c, {}).setdefault(kind, set()).add(v)
    return out


def coincidences(row: dict) -> float:
    """Children expected by chance to share this forename, (within the pair's slip) this birthday,
    and the pair's agreeing cluster evidence."""
    per_day = max(int(row["cohort"]) - 1, 0) / 365.25
    return per_day * (1 if row["dob_exact"] else SLIP_DATES) * EVIDENCE_U ** len(row["evidence"])


def decide(rows: Iterable[dict], guarded: Iterable[tuple[str, str]], cluster_of: dict[str, str]) -> ClusterPass:
    """Link or queue each pair of children the candidates connect (see the module docstring).

    ``rows`` come from ``candidates_sql``; ``guarded`` are the twin-guarded record pairs.
    """
    apart = {frozenset((cluster_of[a], cluster_of[b])) for a, b in guarded if a in cluster_of and b in cluster_of}
    rows = [{**row, "evidence": _evidence(row)} for row in rows]
    held = sources_of(cluster_of, {c for row in rows if _at_home(row) for c in (row["ca"], row["cb"])})
    met: dict[str, set[str]] = defaultdict(set)     # child -> every child a candidate meets it in
    for row in rows:
        met[row["ca"]].add(row["cb"])
        met[row["cb"]].add(row["ca"])
    best: dict[frozenset, dict] = {}
    for row in rows:
        kids = frozenset((row["ca"], row["cb"]))
        if kids in apart:
            continue            # the twin guard has spoken for these two children
        # At one home, two children one source holds are two children (it holds a child once), and
        # a child that meets a third is a choice for a reviewer: the GP's and social care's Freya El
        # Masri, each held back from the school's two Freyas (twins, one forename, no middle name),
        # met each other as well (independent generator, 20k).
        row["strong"] = ((bool(row["moved"]) and bool(row["one_name"]) and bool(row["dob_exact"])
                          and not row["cotwin"] and len(row["evidence"]) >= LINK_EVIDENCE)
                         or (_at_home(row)
                             and held.get(row["ca"], frozenset()).isdisjoint(held.get(row["cb"], frozenset()))
                             and met[row["ca"]] == {row["cb"]} and met[row["cb"]] == {row["ca"]}))
        # Worth a reviewer's time: shares a family or an address, or unlikely to be a coincidence.
        row["worth"] = not row["moved"] or coincidences(row) <= COINCIDENCE
        rank = (row["strong"], row["worth"], bool(row["moved"]), len(row["evidence"]), bool(row["one_name"]),
                bool(row["dob_exact"]), row["l"], row["r"])
        if kids not in best or rank > best[kids]["rank"]:
            best[kids] = {**row, "rank": rank}
    strong_of: dict[str, set[str]] = defaultdict(set)
    for kids, row in best.items():
        if row["strong"]:
            strong_of[row["ca"]].add(row["cb"])
            strong_of[row["cb"]].add(row["ca"])
    out = ClusterPass()
    for kids, row in sorted(best.items(), key=lambda kv: (kv[1]["l"], kv[1]["r"])):
        # A child with two strong candidates fits two children equally well: a reviewer decides.
        if row["strong"] and len(strong_of[row["ca"]]) == 1 and len(strong_of[row["cb"]]) == 1:
            out.links.append((row["l"], row["r"]))
        elif row["worth"]:
            said = ", ".join(f"{e} agrees" for e in row["evidence"]) or "nothing else agrees"
            if row["cotwin"]:
                said += "; a twin is in view"
            why = CHANGE_REASON if row["moved"] else UNSCORED_REASON
            out.queue.append((row["l"], row["r"], why.format(agree=agreement(row), evidence=said)))
    return out
