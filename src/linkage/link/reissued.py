"""A UPN issued again: one pupil's two school records, the first left before the second began.

A school that enrols a pupil who has left another school sometimes issues a new UPN instead of
taking the old one over (census validation error 1520). The two school records then agree on the
birthday, the family and the home, differ in the UPN, and are often typed apart as well (Mus / Mia
McFarland, Qbil / Qabil Lordan): the twin guard reads them as twins (one source holding two
children of one birthday and family), ``secondid`` allows only an exact or one-letter forename,
and the second pass never meets two children under two UPNs. So the pair is neither linked nor
queued.

What tells one pupil re-enrolled from twins is the school census itself: a pupil is on one
school's roll at a time, and a second UPN *replaces* the first. The first UPN's records have all
left (each enrolment has a leaving date) and the second's current enrolment began on or after the
last of those leaving dates. Twins are on roll together, each from their own first day (the
clustering already refuses two UPNs on roll since one day as two pupils: ``secondid``). Such a
pair is queued when, besides, the forenames are not unrelated (``secondid.unrelated_sql``: twins
Harry and Ashleigh share nothing), no first middle names differ, the two children hold no NHS
numbers that differ and no source in common but the school census (twins are each on a GP list;
a re-issued UPN leaves the GP record with one of the two), and no reviewer has kept them apart.

Counted on ``linkage synth`` realistic, seed 42, 135,000 children (main's linked home, against the
truth: ``benchmarks/reissued_shape.py``, docs/benchmarks.md, session 31 ``unq``): of the 3,445
pairs of school records of one birthday, family and home under two UPNs in two children, 16 have
this shape and 14 of them are one child; none of the rest is (278 left-then-entered with a source
in common or two NHS numbers, 26 with unrelated forenames or middle names that differ, 2,748 on
roll together). The independent generator's census has no leaving dates: nothing is queued there.

Queued, never linked: the census says when, not who.

A second UPN is also seen second hand (``copied_sql``). Social care and early help record a
pupil's UPN from a referral or a school's form, which may carry the pupil's earlier UPN: the
school census then holds the child under one UPN and social care under another, and the model's
strongest pair (the school's and the GP's record, equal in every field) is refused as two UPNs in
one child (Miriam / Mitzi Williams at school under one UPN; at the GP, and under another UPN in
social care). What tells such a child from twins is that the census holds no record of the other
child: a twin is on a school roll under its own UPN. A school record is queued with a record of another agency of one birthday, surname
and home (postcode or address), forenames not unrelated, sexes not different, when that record's
child holds UPNs only from agencies other than the school census, none of them the school
record's, the two children hold no source in common and no NHS numbers that differ, and no record
of either has a co-twin in its own extract (a source holding a second child of that birthday and
family beside it: the GP's two Fatima Patels, one of them the school's pupil). Counted on the same
run (session 32): 3 pairs of children, all one child, 2 of them queued already by other reasons;
without the co-twin condition 5, all one child, and on the independent generator's 100,000
children 2 pairs, both same-name twins, each with a co-twin so: the condition was set after that
check (docs/benchmarks.md, "Session 32: queue").
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from linkage.connectors.ingest import current_enrolment_sql
from linkage.link.evidence import ClusterPass, identifiers_of
from linkage.link.namesql import middle_name
from linkage.link.reach import queue_apart
from linkage.link.secondid import unrelated_sql
from linkage.store.schema import t

__all__ = ["COPIED_REASON", "REISSUED_REASON", "copied_sql", "reissued_pairs", "reissued_sql"]

REISSUED_REASON = ("possibly one child under a second UPN: same birthday, family and home, one school's record "
                   "left before the other's enrolment began, no source holds both but the schools ({evidence})")

COPIED_REASON = ("possibly one child under a second UPN: same birthday, surname and home, the other child's "
                 "UPN held only by another agency, no source holds both ({evidence})")
# A current, single enrolment (``connectors.ingest.LINK_RECORDS_SQL``'s ``on_roll_since``).
_CURRENT = current_enrolment_sql("e")
# A school census record: a source's own census (not a second file of it, such as an AP roll).
_SCHOOL = "split_part({x}.source_dataset, ':', 1) = 'education'"


def reissued_sql(input_table: str, clusters_table: str, cotwin_pairs: str) -> str:
    """(l, r, ca, cb, same_forename): school records of one birthday, family and home under two UPN
    roots (``cotwin_pairs``: ``guards.cotwin_pairs_sql`` rows, the pairs one source holds as two
    children), in two children, forenames not unrelated, no first middle names that differ, whose
    UPNs were on roll one after the other: every enrolment of the one UPN's school records
    ended (a leaving date), on or before the day the other's current enrolment began (the module
    docstring). Reads the current extracts' enrolments of those UPNs only. Pure SQL, no I/O."""
    return f"""
WITH pair AS (
  SELECT l.unique_id AS l, r.unique_id AS r, cl.cluster_id AS ca, cr.cluster_id AS cb,
    cl.upn_root AS ul, cr.upn_root AS ur, l.forename = r.forename AS same_forename
  FROM {cotwin_pairs} p JOIN {input_table} l ON l.unique_id = p.unique_id JOIN {input_table} r ON r.unique_id = p.twin_id
  JOIN {clusters_table} cl ON cl.unique_id = l.unique_id JOIN {clusters_table} cr ON cr.unique_id = r.unique_id
  WHERE l.unique_id < r.unique_id AND {_SCHOOL.format(x='l')} AND {_SCHOOL.format(x='r')}
    AND cl.cluster_id <> cr.cluster_id AND cl.upn_root <> cr.upn_root AND l.dob = r.dob
    AND (l.postcode = r.postcode OR l.address = r.address)
    AND (list_has_any(l.surname_all, r.surname_all) OR jaro_winkler_similarity(l.surname, r.surname) >= 0.9)
    AND NOT coalesce({middle_name('l.middle_names')} <> {middle_name('r.middle_names')}, false)
    AND NOT ({unrelated_sql('l', 'r')})),
holder AS (
  SELECT c.unique_id, c.upn_root FROM {clusters_table} c
  WHERE c.upn_root IN (SELECT ul FROM pair UNION SELECT ur FROM pair)),
roll AS (
  SELECT h.upn_root,
    bool_or({_CURRENT}) AS on_roll, max(e.leaving_date) AS left_on, min(e.entry_date) FILTER (WHERE {_CURRENT}) AS since
  FROM holder h JOIN {t('edu_enrolment')} e ON e.record_key = h.unique_id
  JOIN {t('records')} x ON x.record_key = e.record_key AND x.extract_id = e.extract_id
  JOIN {t('extracts')} s ON s.extract_id = e.extract_id
  WHERE s.superseded_by IS NULL AND x.replaced_by IS NULL
  GROUP BY h.upn_root)
SELECT p.l, p.r, p.ca, p.cb, p.same_forename FROM pair p
JOIN roll a ON a.upn_root = p.ul JOIN roll b ON b.upn_root = p.ur
WHERE (NOT a.on_roll AND b.on_roll AND a.left_on <= b.since)
   OR (NOT b.on_roll AND a.on_roll AND b.left_on <= a.since)
ORDER BY p.l, p.r"""


def copied_sql(input_table: str, clusters_table: str, cotwin_pairs: str) -> str:
    """(l, r, ca, cb, same_forename): a school census record ``l`` and another agency's record ``r`` of
    one birthday, surname and home, in two children, forenames not unrelated, sexes not different,
    no record of either child with a co-twin in its own extract (``cotwin_pairs``), ``r``'s child holding UPNs (roots)
    only from agencies other than the census, none of them ``l``'s (the module docstring). Pure SQL,
    no I/O."""
    return f"""
WITH twins AS MATERIALIZED (SELECT DISTINCT unique_id FROM {cotwin_pairs}),
held AS MATERIALIZED (
  SELECT c.cluster_id, bool_or({_SCHOOL.format(x='x')}) AS school,
    list(DISTINCT c.upn_root) FILTER (WHERE c.upn_root IS NOT NULL) AS upns, bool_or(t.unique_id IS NOT NULL) AS twin
  FROM {clusters_table} c JOIN {input_table} x ON x.unique_id = c.unique_id LEFT JOIN twins t ON t.unique_id = c.unique_id
  GROUP BY c.cluster_id),
side AS (SELECT cluster_id, upns FROM held WHERE NOT school AND NOT twin AND len(upns) > 0)
SELECT l.unique_id AS l, r.unique_id AS r, cl.cluster_id AS ca, s.cluster_id AS cb, l.forename = r.forename
FROM side s JOIN {clusters_table} cr ON cr.cluster_id = s.cluster_id JOIN {input_table} r ON r.unique_id = cr.unique_id
JOIN {input_table} l ON l.dob = r.dob AND l.surname = r.surname AND (l.postcode = r.postcode OR l.address = r.address)
JOIN {clusters_table} cl ON cl.unique_id = l.unique_id
WHERE {_SCHOOL.format(x='l')} AND cl.upn_root IS NOT NULL AND NOT list_contains(s.upns, cl.upn_root)
  AND cl.cluster_id <> s.cluster_id AND cl.cluster_id NOT IN (SELECT cluster_id FROM held WHERE twin)
  AND NOT coalesce(l.sex <> r.sex AND l.sex IN ('M', 'F') AND r.sex IN ('M', 'F'), false)
  AND NOT ({unrelated_sql('l', 'r')})
ORDER BY l, r"""


def _queue(rows: list, found: ClusterPass, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]],
           denied: Iterable[tuple[str, str]], reason: str, shared: frozenset[str]) -> int:
    """Queue ``rows`` (l, r, ca, cb, same_forename) whose two children hold no NHS numbers that
    differ and no source in common but ``shared`` (``reach.queue_apart``), that the pass neither
    linked nor queued, and that no reviewer keeps apart; one per two children."""
    if not rows:
        return 0
    held = identifiers_of(cluster_of, identifiers, {c for _, _, ca, cb, _ in rows for c in (ca, cb)})

    def one_nhs(ca: str, cb: str) -> bool:
        na, nb = held.get(ca, {}).get("nhs"), held.get(cb, {}).get("nhs")
        return not (na and nb and na.isdisjoint(nb))

    return queue_apart(rows, lambda same: reason.format(evidence="same forename" if same else "forenames alike"),
                       found, cluster_of, denied, shared=shared, keep=one_nhs)


def reissued_pairs(con: duckdb.DuckDBPyConnection, input_table: str, clusters_table: str, cotwin_pairs: str,
                   found: ClusterPass, cluster_of: dict[str, str], identifiers: dict[str, dict[str, str | None]],
                   denied: Iterable[tuple[str, str]] = ()) -> int:
    """Add to ``found.queue`` the pairs of ``reissued_sql`` whose two children hold no NHS numbers
    that differ and no source in common but the school census, then those of ``copied_sql`` whose
    children hold none in common at all; each that the pass neither linked nor queued, and that no
    reviewer keeps apart (``denied``: record pairs); one per two children. The twin guard's pairs
    are read (its evidence, one source holding both, is what the census dates answer). Returns
    how many were queued."""
    rows = con.execute(reissued_sql(input_table, clusters_table, cotwin_pairs)).fetchall()
    queued = _queue(rows, found, cluster_of, identifiers, denied, REISSUED_REASON, frozenset({"education"}))
    rows = con.execute(copied_sql(input_table, clusters_table, cotwin_pairs)).fetchall()
    return queued + _queue(rows, found, cluster_of, identifiers, denied, COPIED_REASON, frozenset())
