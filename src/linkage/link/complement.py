"""Children held by complementary sources: the evidence a missed link leaves behind.

A source holds a child once, under its own identifiers. When the model leaves one child in two,
the two halves hold *complementary* sources: the school record in one, the GP record in the
other, and no source in both. Two children who each hold a record of one source are, by the same
rule, evidence of two children (twins each on the school roll and a GP list). So whether two
candidate children share a source is cluster-level evidence, and it sharpens two queue rules:

* **Expected namesakes** (``evidence.coincidences``): a pair with a new surname and a move is
  queued when few other children are expected to share its forename and birthday by chance.
  Only children that could be the other half count: those with that forename born that year
  that hold *none* of the first child's sources. A school-age child missing from the GP
  extract has few namesakes also missing from it, however common the name
  (``partner_cohorts``). Counted in the data, so the estimate follows each population's
  coverage (a source that holds few children, as social care does, excludes few).
* **Twin-guarded pairs** whose names share nothing are kept apart and not queued when the guard
  has evidence of a second child; when the two children hold complementary sources there is
  no second child in view, and the pair is queued (``complementary_pairs``).

Record keys are ``<source>:<source record id>`` (``model.PersonRecord.record_key``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import combinations

import duckdb
import pandas as pd

from linkage.link.evidence import COINCIDENCE, ClusterPass, sources_of
from linkage.link.guards import RARE, spelling_sql, split_name_sql
from linkage.link.namesql import middle_name, only
from linkage.link.unreached import HOME_DAYS, home_and_family_sql
from linkage.store import registered

__all__ = ["COMPLEMENT_REASON", "FAMILY_REASON", "IDENTIFIER_REASON", "SHARED_MOST", "SKELETON_SHORTEST", "SLIP_PER",
           "WITHIN_DAYS",
           "complementary_guarded", "complementary_pairs", "family_pairs", "family_sql", "partner_cohorts",
           "flagged", "queue_moved", "settled", "shared_identifiers", "sources_of"]


def complementary_pairs(pairs: Iterable[tuple[str, str]], cluster_of: dict[str, str]) -> set[frozenset[str]]:
    """The record pairs of ``pairs`` whose two children hold no source in common."""
    pairs = [(a, b, cluster_of.get(a), cluster_of.get(b)) for a, b in pairs]
    held = sources_of(cluster_of, {c for *_, ca, cb in pairs for c in (ca, cb) if c is not None})
    return {frozenset((a, b)) for a, b, ca, cb in pairs
            if ca is not None and cb is not None and ca != cb and held[ca].isdisjoint(held[cb])}


def _partners_sql(input_table: str, clusters_table: str) -> str:
    """For each candidate pair in ``_cands`` (l, r, ca, cb), the children that could be either
    side's other half: with the other side's forename code and year of birth, and none of this
    side's sources; the pair's two children included (so ``coincidences`` subtracts one)."""
    return f"""
WITH rec AS (
  SELECT x.unique_id, coalesce(x.forename_dm, x.forename) AS fk, year(x.dob) AS y, x.source_dataset, c.cluster_id
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id) WHERE x.dob IS NOT NULL),
kid AS (
  SELECT cluster_id, list_sort(list_distinct(list(source_dataset))) AS sources FROM rec
  WHERE cluster_id IN (SELECT ca FROM _cands UNION SELECT cb FROM _cands) GROUP BY cluster_id),
wanted AS (
  SELECT DISTINCT fk, y FROM rec WHERE unique_id IN (SELECT l FROM _cands UNION SELECT r FROM _cands)),
held AS (
  SELECT cluster_id, list_sort(list_distinct(list(source_dataset))) AS sources FROM rec
  WHERE cluster_id IN (SELECT cluster_id FROM rec JOIN wanted USING (fk, y)) GROUP BY cluster_id),
cohort AS (
  SELECT r.fk, r.y, h.sources, count(DISTINCT r.cluster_id) AS n
  FROM rec r JOIN wanted USING (fk, y) JOIN held h USING (cluster_id) GROUP BY ALL),
pl AS (
  SELECT c.l, c.r, sum(k.n) AS n FROM _cands c JOIN kid a ON a.cluster_id = c.ca JOIN rec rr ON rr.unique_id = c.r
  JOIN cohort k ON k.fk = rr.fk AND k.y = rr.y WHERE NOT list_has_any(k.sources, a.sources) GROUP BY c.l, c.r),
pr AS (
  SELECT c.l, c.r, sum(k.n) AS n FROM _cands c JOIN kid b ON b.cluster_id = c.cb JOIN rec rl ON rl.unique_id = c.l
  JOIN cohort k ON k.fk = rl.fk AND k.y = rl.y WHERE NOT list_has_any(k.sources, b.sources) GROUP BY c.l, c.r)
SELECT c.l, c.r, coalesce(pl.n, 0) AS partners_l, coalesce(pr.n, 0) AS partners_r
FROM _cands c JOIN kid a ON a.cluster_id = c.ca JOIN kid b ON b.cluster_id = c.cb
LEFT JOIN pl ON pl.l = c.l AND pl.r = c.r LEFT JOIN pr ON pr.l = c.l AND pr.r = c.r
WHERE NOT list_has_any(a.sources, b.sources)"""


def partner_cohorts(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, input_table: str,
                    clusters_table: str) -> pd.DataFrame:
    """``rows`` (from ``evidence.candidates_sql``) with ``cohort`` narrowed, for pairs of children
    holding complementary sources, to the children that could be the other half (the larger of
    the two sides' counts, never more than before). Only pairs with a new surname and a move
    are looked at: the count decides nothing else."""
    if rows.empty:
        return rows
    todo = rows[rows["moved"].astype(bool)][["l", "r", "ca", "cb"]]
    if todo.empty:
        return rows
    with registered(con, _cands=todo.astype("string")):
        found = con.execute(_partners_sql(input_table, clusters_table)).df()
    if found.empty:
        return rows
    narrowed = {(l, r): max(int(a), int(b)) for l, r, a, b in
                zip(found["l"], found["r"], found["partners_l"], found["partners_r"])}
    out = rows.copy()
    out["cohort"] = [min(int(c), narrowed.get((l, r), int(c)))
                     for l, r, c in zip(out["l"], out["r"], out["cohort"])]
    return out


# A guarded pair whose two children hold complementary sources: no second child is in view.
COMPLEMENT_REASON = "possibly one child under two forenames: same date of birth and family, no source holds both"


def complementary_guarded(guarded: pd.DataFrame, cluster_of: dict[str, str]) -> pd.DataFrame:
    """Review band rows for the twin-guarded pairs (``guarded``: unique_id_l, unique_id_r,
    match_probability, match_weight) left in two children that hold no source in common."""
    keep = complementary_pairs(zip(guarded["unique_id_l"], guarded["unique_id_r"]), cluster_of)
    cols = ["unique_id_l", "unique_id_r", "match_probability", "match_weight"]
    # a boolean Series, not a list: an empty list would select no columns instead of no rows
    mask = pd.Series([frozenset(p) in keep for p in zip(guarded["unique_id_l"], guarded["unique_id_r"])],
                     index=guarded.index, dtype=bool)
    return guarded.loc[mask, cols].assign(reason=COMPLEMENT_REASON)


def flagged(value: object) -> bool:
    """A candidate row's yes/no column read as set: a missing value (None, NaN, NA) is not."""
    return value is not None and not pd.isna(value) and bool(value)


def settled(found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> set[frozenset[str]]:
    """The pairs of children the pass already linked or queued, or that are kept apart."""
    return {frozenset((cluster_of[a], cluster_of[b])) for a, b, *_ in (*found.links, *found.queue, *apart)
            if a in cluster_of and b in cluster_of}


def queue_moved(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, found: ClusterPass, cluster_of: dict[str, str],
                apart: Iterable[tuple[str, str]], *, pick: Callable[[pd.DataFrame], pd.Series], table: str,
                sql: Callable[[str], str], judge: Callable[[dict, list], tuple | None], ask_all: bool = False) -> None:
    """The shape of the queue rules for a new surname and a move (``changed``, ``household``): the
    candidate pairs of ``rows`` that ``pick`` (rows -> mask) keeps and the pass has not settled
    (``settled``) are asked of ``sql`` (over ``table``: their l, r, ca, cb; ``ask_all``: every
    picked pair's, settled or not), and each answered one is judged (``judge``: the row and the
    answer's columns after l, r -> its rank, ending l, r, and reason; or None). The best ranked pair
    of each two children is queued, in key order."""
    if rows.empty:
        return
    done = settled(found, cluster_of, apart)
    picked = rows[pick(rows)]
    todo = picked[[frozenset(p) not in done for p in zip(picked["ca"], picked["cb"])]]
    if todo.empty:
        return
    with registered(con, **{table: (picked if ask_all else todo)[["l", "r", "ca", "cb"]].astype("string")}):
        answers = {(l, r): rest for l, r, *rest in con.execute(sql(table)).df().itertuples(index=False)}
    best: dict[frozenset[str], tuple] = {}
    for row in todo.to_dict("records"):
        judged = judge(row, answers[(row["l"], row["r"])]) if (row["l"], row["r"]) in answers else None
        if judged is None:
            continue
        kids = frozenset((row["ca"], row["cb"]))
        if kids not in best or judged[0] > best[kids][0]:
            best[kids] = (*judged, row)
    for rank, reason, row in sorted(best.values(), key=lambda v: v[0][-2:]):
        found.queue.append((row["l"], row["r"], reason))


# A family or a home and a forename, a birthday within a month (a year at one home in one family:
# ``unreached.home_and_family_sql``), in two children no source holds both of.
FAMILY_REASON = ("possibly one child in two: same family or home, forename spelt alike, born within a month "
                 "(within a year at one home in one family), no source holds both ({evidence})")
# Splink's date-of-birth comparison counts dates within a month as a partial agreement; a
# recorded birthday out by more than that is looked for only where the home and the family agree.
WITHIN_DAYS = 31


# A surname's consonants (no vowels, nor y, w or h): one family name spelt or romanised two ways
# (Turner / Turneer, Abdulla / Abdallah), counted as a family when at least this many are left.
_CONSONANTS = "regexp_replace({s}, '[^bcdfgjklmnpqrstvxz]', '', 'g')"
SKELETON_SHORTEST = 3
# A slip recurs as the population grows (Loen for Leon: 3 records in 250,000), so a forename is read
# as a slip of a nickname here while at most one record in this many holds it (and always at ``RARE``).
SLIP_PER = 50_000


def family_sql(input_table: str, clusters_table: str, rows_table: str | None = None) -> str:
    """Record pairs in two children holding complementary sources, sharing a family (a surname
    token, former surnames included, or its consonants: ``SKELETON_SHORTEST``) or a home
    (postcode), with a forename spelt alike (the twin
    guard's test, a swap with the surname included), born within
    ``WITHIN_DAYS`` of each other, with no identifier, sex or first middle name against them.
    Only children lacking a source take part, so the join stays small at any population.
    ``rows_table``: the rows of ``clusters_table``'s records (a month's reached rows), read for
    them instead of the input, which is then read only for the population's counts."""
    rows = rows_table or input_table
    return f"""
WITH held AS (
  SELECT c.cluster_id, list_sort(list_distinct(list(x.source_dataset))) AS sources
  FROM {rows} x JOIN {clusters_table} c USING (unique_id) GROUP BY c.cluster_id),
-- The source most children hold (``lone``: a child without it; see ``wants``).
commonest AS (
  SELECT s FROM (SELECT unnest(sources) AS s, n FROM (SELECT sources, count(*) AS n FROM held GROUP BY sources))
  GROUP BY s ORDER BY sum(n) DESC, s LIMIT 1),
lacking AS (
  SELECT cluster_id, sources, array_to_string(sources, ',') AS held_key, NOT list_contains(sources, m.s) AS lone
  FROM held, commonest m
  WHERE len(sources) < (SELECT count(DISTINCT source_dataset) FROM {input_table})),
-- The sets of sources two children may hold between them without a source holding both.
fits AS (
  SELECT a.held_key AS a, b.held_key AS b FROM (SELECT DISTINCT sources, held_key FROM lacking) a,
    (SELECT DISTINCT sources, held_key FROM lacking) b WHERE NOT list_has_any(a.sources, b.sources)),
light AS (
  SELECT *, datediff('day', DATE '1800-01-01', dob) // CASE WHEN starts_with(family, 'home ') THEN {HOME_DAYS}
                                                        ELSE {WITHIN_DAYS} END AS span
  FROM (
  SELECT x.unique_id, x.dob, c.cluster_id, k.held_key, k.lone,
    unnest(list_concat(x.surname_all, CASE WHEN x.postcode IS NULL THEN [] ELSE ['home ' || x.postcode] END,
                       list_filter(list_transform(x.surname_all, s -> 'consonants ' || {_CONSONANTS.format(s='s')}),
                                   k -> length(k) >= {len('consonants ') + SKELETON_SHORTEST}))) AS family
  FROM {rows} x JOIN {clusters_table} c USING (unique_id) JOIN lacking k USING (cluster_id)
  WHERE x.dob IS NOT NULL)),
-- Two children holding no source in common: one of them at least lacks the source most children hold
-- (``lone``), so each pair is met from such a child's row (``wants``), under one family and a
-- span of birthdays the same or either next one (two birthdays at most a span apart lie in one span
-- or two neighbouring ones), against every row, and kept where the two children's sources fit. Rows
-- of every child, each wanting each set of sources that fits its own and met from its span and the
-- next, were 6.8M rows probing 2.5M at 1M records (the GP's children are 85% of the records; their
-- rows wanted only the few sets without the GP, yet were every row twice, and more).
-- The rows carry only the join's keys and the birthdays: at a million records with the surnames on
-- them the join spilt a gigabyte; the surnames are read for the few pairs met more than a month apart.
wants AS (SELECT l.unique_id, l.cluster_id, l.held_key, l.family, l.dob,
            unnest([l.span - 1, l.span, l.span + 1]) AS near_span
          FROM light l WHERE l.lone),
paired AS (
  SELECT l.unique_id AS l, r.unique_id AS r, l.cluster_id AS ca, r.cluster_id AS cb, l.family, l.dob AS ldob, r.dob AS rdob
  FROM wants l JOIN light r ON r.family = l.family AND r.span = l.near_span
  SEMI JOIN fits f ON f.a = l.held_key AND f.b = r.held_key
  WHERE abs(datediff('day', l.dob, r.dob)) <= {HOME_DAYS}),
-- Each pair named as before, the record of the child first in order of its id on the left (a pair
-- met from both sides is the same row twice: ``near`` keeps one).
met AS (
  SELECT l, r, ca, cb, family, ldob, rdob FROM paired WHERE ca < cb
  UNION ALL
  SELECT r, l, cb, ca, family, rdob, ldob FROM paired WHERE cb < ca),
near AS (
  SELECT DISTINCT m.l, m.r, m.ca, m.cb FROM met m
  WHERE abs(datediff('day', m.ldob, m.rdob)) <= {WITHIN_DAYS}
  UNION
  SELECT m.l, m.r, m.ca, m.cb FROM (SELECT * FROM met WHERE abs(datediff('day', ldob, rdob)) > {WITHIN_DAYS}) m
    JOIN {rows} l ON l.unique_id = m.l JOIN {rows} r ON r.unique_id = m.r
  WHERE {home_and_family_sql('m', 'l', 'r')}),
kid AS (
  SELECT c.cluster_id,
    coalesce(list(DISTINCT c.upn_root) FILTER (WHERE c.upn_root IS NOT NULL), []::VARCHAR[]) AS upns,
    coalesce(list(DISTINCT x.nhs_number) FILTER (WHERE x.nhs_number IS NOT NULL), []::VARCHAR[]) AS nhss,
    coalesce(list(DISTINCT x.sex) FILTER (WHERE x.sex IN ('M', 'F')), []::VARCHAR[]) AS sexes,
    coalesce(list(DISTINCT {middle_name('x.middle_names')}) FILTER (WHERE coalesce(x.middle_names, '') <> ''),
             []::VARCHAR[]) AS middles
  FROM {rows} x JOIN {clusters_table} c USING (unique_id)
  WHERE c.cluster_id IN (SELECT ca FROM near UNION SELECT cb FROM near) GROUP BY c.cluster_id),
n AS (SELECT forename, count(*) AS forename_n FROM {input_table}
      WHERE forename IN (SELECT forename FROM {rows} WHERE unique_id IN (SELECT l FROM near UNION SELECT r FROM near))
      GROUP BY forename),
one AS (SELECT x.*, n.forename_n FROM {only(rows, "SELECT l FROM near UNION SELECT r FROM near")} x
        LEFT JOIN n USING (forename)),
-- Children under each of these full names, and the days the population's birthdays span: how many
-- namesakes a child has within a window of its birthday by chance (``family_pairs``).
named AS (
  SELECT x.forename, x.surname, count(DISTINCT c.cluster_id) AS children
  FROM {rows} x JOIN {clusters_table} c USING (unique_id)
  WHERE (x.forename, x.surname) IN (SELECT (forename, surname) FROM one) GROUP BY ALL),
span AS (SELECT greatest(datediff('day', min(dob), max(dob)), 365) AS days FROM {input_table})
SELECT p.l, p.r, p.ca, p.cb, abs(datediff('day', l.dob, r.dob)) AS days, coalesce(l.postcode = r.postcode, false) AS home,
  list_has_any(a.middles, b.middles) AS middle,
  -- the pair's own two children not counted
  greatest(greatest(coalesce(nl.children, 1), coalesce(nr.children, 1))
           - CASE WHEN l.forename = r.forename AND l.surname = r.surname THEN 2 ELSE 1 END, 0)
    * (2 * {WITHIN_DAYS} + 1) / (SELECT days FROM span) AS namesakes
FROM near p JOIN one l ON l.unique_id = p.l JOIN one r ON r.unique_id = p.r
JOIN kid a ON a.cluster_id = p.ca JOIN kid b ON b.cluster_id = p.cb
LEFT JOIN named nl ON nl.forename = l.forename AND nl.surname = l.surname
LEFT JOIN named nr ON nr.forename = r.forename AND nr.surname = r.surname
WHERE l.source_dataset <> r.source_dataset
  AND {spelling_sql('l', 'r', f"greatest({RARE}, (SELECT count(*) FROM {input_table}) // {SLIP_PER})")}
  AND NOT (len(a.upns) > 0 AND len(b.upns) > 0 AND NOT list_has_any(a.upns, b.upns))
  AND NOT (len(a.nhss) > 0 AND len(b.nhss) > 0 AND NOT list_has_any(a.nhss, b.nhss))
  AND len(list_distinct(list_concat(a.sexes, b.sexes))) <= 1
  AND ({split_name_sql('l', 'r')} OR coalesce(list_bool_or(list_transform(a.middles, x -> list_bool_or(list_transform(
        b.middles, y -> jaro_winkler_similarity(x, y) >= 0.88)))), true))"""


def family_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, found: ClusterPass,
                 cluster_of: dict[str, str], apart: Iterable[tuple[str, str]], rows_table: str | None = None) -> None:
    """Add to ``found.queue`` the pairs of ``family_sql``, one per two children, skipping children
    the second pass already linked or queued, or that the twin guard or a reviewer keeps apart
    (``apart``: record pairs). A pair with only the window for it (born on two days, at two homes,
    no middle name in common) is queued only where a child of that full name expects fewer than
    ``COINCIDENCE`` namesakes born within it by chance: at 100,000 children of the independent
    generator, whose few names make namesakes common, 160 of 161 such pairs were two children.
    ``rows_table``: as ``family_sql``'s."""
    skip = settled(found, cluster_of, apart)
    rows = con.execute(family_sql(input_table, clusters_table, rows_table)).df()
    best: dict[frozenset[str], tuple] = {}
    for l, r, ca, cb, days, home, middle, namesakes in rows.itertuples(index=False):
        pair = frozenset((ca, cb))
        if days > 0 and not home and not middle and namesakes > COINCIDENCE:
            continue        # a common full name: namesakes born that near are expected by chance
        rank = (bool(middle), -int(days), bool(home), l, r)
        if pair not in skip and (pair not in best or rank > best[pair]):
            best[pair] = rank
    for middle, days, home, l, r in sorted(best.values(), key=lambda v: v[3:]):
        born = ("same birthday" if days == 0 else "birthday within a month" if -days <= WITHIN_DAYS
                else f"birthdays {-days} days apart")
        said = ", ".join(s for s, ok in ((born, True),
                                          ("same postcode", home), ("middle name agrees", middle)) if ok)
        found.queue.append((l, r, FAMILY_REASON.format(evidence=said)))


IDENTIFIER_REASON = "one {kind} in two children: not linked by the model"
# An identifier held in more children than this is a placeholder or a data error, not a child.
SHARED_MOST = 3


def shared_identifiers(con: duckdb.DuckDBPyConnection, clusters_table: str, found: ClusterPass,
                       cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> None:
    """Add to ``found.queue`` one record pair for each two children holding one UPN (after its
    FormerUPN history) or one NHS number and complementary sources, unless the pass already
    joined or queued them or the twin guard or a reviewer keeps them apart. An identifier is
    strong evidence of one child; when the model still left the two apart, a reviewer decides.
    Two children that each hold a record of one source are two children whatever the number
    says (at 250,000 easy records, 27 of 28 such pairs were a number typed against the wrong child).

    ``clusters_table``: unique_id, cluster_id, upn_root, nhs (``evidence.clusters_frame``).
    The identifiers are grouped in SQL: only the few held by two or three children come back."""
    skip = settled(found, cluster_of, apart)
    rows = con.execute(_shared_sql(clusters_table)).fetchall()
    names = {"upn": "UPN", "nhs": "NHS number"}
    by_value: dict[tuple[str, str], list[tuple[str, str, frozenset[str]]]] = defaultdict(list)
    for kind, value, child, key, sources in rows:     # in (kind, value, child) order
        by_value[(kind, value)].append((child, key, frozenset(sources)))
    for (kind, _), held in by_value.items():
        for (ca, a, sa), (cb, b, sb) in combinations(held, 2):
            if frozenset((ca, cb)) not in skip and sa.isdisjoint(sb):
                skip.add(frozenset((ca, cb)))
                found.queue.append((a, b, IDENTIFIER_REASON.format(kind=names.get(kind, kind))))


def _shared_sql(clusters_table: str) -> str:
    """Each identifier held by two to ``SHARED_MOST`` children: (kind, value, child, the child's
    first record holding it, the child's sources), ordered as Python sorts strings (binary)."""
    return f"""
WITH ids AS (
  SELECT 'nhs' AS kind, nhs AS value, cluster_id, unique_id FROM {clusters_table} WHERE coalesce(nhs, '') <> ''
  UNION ALL
  SELECT 'upn', upn_root, cluster_id, unique_id FROM {clusters_table} WHERE coalesce(upn_root, '') <> ''),
shared AS (
  SELECT kind, value FROM ids GROUP BY kind, value HAVING count(DISTINCT cluster_id) BETWEEN 2 AND {SHARED_MOST}),
held AS (
  SELECT i.kind, i.value, i.cluster_id, min(i.unique_id) AS k FROM ids i JOIN shared USING (kind, value)
  GROUP BY i.kind, i.value, i.cluster_id),
src AS (
  SELECT cluster_id, list(DISTINCT split_part(unique_id, ':', 1)) AS sources FROM {clusters_table}
  WHERE cluster_id IN (SELECT cluster_id FROM held) GROUP BY cluster_id)
SELECT h.kind, h.value, h.cluster_id, h.k, s.sources FROM held h JOIN src s USING (cluster_id)
ORDER BY h.kind, h.value, h.cluster_id"""
