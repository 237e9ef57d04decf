"""A new surname and a recent move on record: the home one record gives is new, and nobody else's.

The largest class of missed pairs is a child whose surname changed and who moved: one agency
still holds the old surname and the old home, the others the new ones, the forename and the date
of birth agree. With a common forename such a pair looks exactly like two strangers sharing a
forename and a birthday, and the second pass drops it (``evidence.coincidences``; the decoys'
window, ``decoys``, reaches only so far). At 1,000,000 ``linkage synth`` realistic records (seed 42,
session 32's final run) 53 such pairs born on one day with the forename written the same were left
unqueued, at expected namesakes of 0.04 to 2.

What a reviewer would read next is *when* and *where* the child moved. An agency that still holds
the old home has not caught up with a move, and agencies catch up within a census or a
re-registration: the stale half of a child is the half of a recent move. So a pair is read when
one record's home is **new**:

* that record's address is dated (a GP's ``address.period.start``, a case system's address start
  date) within ``RECENT_DAYS`` of its extract, and later than the other record's (or the other
  record's is not dated);
* **no other child** holds a record at that postcode (the two candidate children apart): a family
  that changed its name with the child would leave siblings there, and a stranger sharing the
  forename and birthday lives, as most children do, where other children of the family live;
* the two children hold **no source in common** (a source holds a child once).

Both are counted in the population, not fixed: the share of dated records dated within
``RECENT_DAYS`` of their extract (``recent``), and the share of children's homes that hold no
other child (``alone``). A stranger of that forename and birthday shows the evidence about as often
as the product, so the expected namesakes are multiplied by it, and the pair is queued when they
stay at most ``evidence.COINCIDENCE`` (as ``changed`` does with a former surname's share).

Only pairs born on one day, and only forenames written the same or one typed from the other
(``changed.TYPO_JW``), are read: at 1M realistic the same evidence with a birthday a slip apart
met 69 pairs, 9 one child, and with two spellings of a name sharing only a key 14, 4 one child
(docs/benchmarks.md, "Session 33: queue3"). Queued, never linked: the timing says a move was
recent, not which child made it.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from linkage.link.changed import TYPO_JW, judged_by
from linkage.link.complement import queue_moved
from linkage.link.evidence import ClusterPass
from linkage.store.schema import t

__all__ = ["DATED_SQL", "MOVEDIN_REASON", "RECENT_DAYS", "movedin_pairs", "movedin_sql"]

MOVEDIN_REASON = ("possible change of surname and address: {agree}, and one record's home "
                  "is new (moved in within two years, after the other record's home, and no other child lives "
                  "there) ({evidence})")
# How recent a move is that an agency has not yet caught up with (a school census is termly, a GP
# list is corrected at re-registration). Set to two years knowing that ``linkage synth`` dates a
# child's last move 30 to 700 days before the extract: tuned on the synthetic generator.
RECENT_DAYS = 730
# Every current record's dated address (``movedin_sql``'s ``dated``): unique_id, address_from, extract_date.
DATED_SQL = f"""
SELECT r.record_key AS unique_id, r.address_from, r.extract_date FROM {t('records')} r
JOIN {t('extracts')} e USING (extract_id)
WHERE e.superseded_by IS NULL AND r.replaced_by IS NULL AND r.address_from IS NOT NULL"""


def movedin_sql(input_table: str, clusters_table: str, dated: str, cands: str) -> str:
    """For each candidate pair of ``cands`` (l, r, ca, cb) in two children holding no source in
    common, forenames written the same or typed (``TYPO_JW``), one of whose records has a new home
    (the module docstring): the population's ``recent`` and ``alone`` shares. ``dated`` is a
    relation of (unique_id, address_from, extract_date) rows, ``DATED_SQL`` in a run. Pure SQL."""
    return f"""
WITH dated AS (SELECT unique_id, address_from, extract_date FROM {dated} WHERE address_from IS NOT NULL),
recent AS (
  SELECT coalesce(avg(CAST(date_diff('day', address_from, extract_date) <= {RECENT_DAYS} AS DOUBLE)), 1) AS share
  FROM dated),
-- Each home's children (``crowd``) without a row per record: a record no child is in view for counts
-- as a child of its own (a month's pass sees only the children it reached), so a home holds its
-- records less those in view plus the children in view there. Only the postcode column of the whole
-- input is read; the records in view are the clusters' own (a month's few thousand).
homes AS MATERIALIZED (
  SELECT postcode, count(*) AS n FROM {input_table} WHERE postcode IS NOT NULL GROUP BY postcode),
seen AS (
  SELECT x.postcode, count(*) AS m, count(DISTINCT c.cluster_id) AS kids
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id)
  WHERE x.postcode IS NOT NULL GROUP BY x.postcode),
crowd AS (
  SELECT h.postcode, h.n - coalesce(s.m, 0) + coalesce(s.kids, 0) AS kids FROM homes h LEFT JOIN seen s USING (postcode)),
-- Of every (child, home), the share whose home holds no other child: one such per home of one child.
alone AS (
  SELECT coalesce(CAST(count(*) FILTER (WHERE kids = 1) AS DOUBLE) / CAST(nullif(sum(kids), 0) AS DOUBLE), 1) AS share
  FROM crowd),
held AS (
  SELECT c.cluster_id, list(DISTINCT split_part(c.unique_id, ':', 1)) AS sources FROM {clusters_table} c
  WHERE c.cluster_id IN (SELECT ca FROM {cands} UNION SELECT cb FROM {cands}) GROUP BY c.cluster_id),
pair AS (
  SELECT k.l, k.r, k.ca, k.cb, xl.postcode AS pl, xr.postcode AS pr, dl.address_from AS fl, dr.address_from AS fr,
    date_diff('day', dl.address_from, dl.extract_date) <= {RECENT_DAYS} AS new_l,
    date_diff('day', dr.address_from, dr.extract_date) <= {RECENT_DAYS} AS new_r
  FROM {cands} k JOIN {input_table} xl ON xl.unique_id = k.l JOIN {input_table} xr ON xr.unique_id = k.r
  JOIN held a ON a.cluster_id = k.ca JOIN held b ON b.cluster_id = k.cb
  LEFT JOIN dated dl ON dl.unique_id = k.l LEFT JOIN dated dr ON dr.unique_id = k.r
  WHERE NOT list_has_any(a.sources, b.sources)
    AND (xl.forename = xr.forename OR jaro_winkler_similarity(xl.forename, xr.forename) >= {TYPO_JW})),
-- The records at the pairs' homes under their children (as ``crowd`` counts them), for the test
-- that no other child lives there.
home AS MATERIALIZED (
  SELECT x.postcode, coalesce(c.cluster_id, 'record:' || x.unique_id) AS kid
  FROM (SELECT unique_id, postcode FROM {input_table} WHERE postcode IN (SELECT pl FROM pair UNION SELECT pr FROM pair)) x
  LEFT JOIN {clusters_table} c USING (unique_id)),
-- The side whose record's home is new: dated recently, later than the other's, and no other child there.
moved_in AS (
  SELECT p.l, p.r FROM pair p
  WHERE (coalesce(p.new_l, false) AND (p.fr IS NULL OR p.fr < p.fl)
         AND NOT EXISTS (SELECT 1 FROM home h WHERE h.postcode = p.pl AND h.kid NOT IN (p.ca, p.cb)))
     OR (coalesce(p.new_r, false) AND (p.fl IS NULL OR p.fl < p.fr)
         AND NOT EXISTS (SELECT 1 FROM home h WHERE h.postcode = p.pr AND h.kid NOT IN (p.ca, p.cb))))
SELECT m.l, m.r, (SELECT share FROM recent) AS recent, (SELECT share FROM alone) AS alone FROM moved_in m"""


def movedin_pairs(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, input_table: str, clusters_table: str,
                  found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]],
                  dated: str = f"({DATED_SQL})") -> None:
    """Add to ``found.queue`` the candidate pairs of ``rows`` (``evidence.candidates_sql``, after
    ``complement.partner_cohorts``) with a new surname, a move and one birthday that no earlier rule
    linked or queued, one of whose records has a new home, and whose expected namesakes times the
    population's ``recent`` and ``alone`` shares are at most ``COINCIDENCE``; one per two
    children, skipping children a twin guard or a reviewer keeps apart (``apart``: record pairs)."""
    queue_moved(con, rows, found, cluster_of, apart, table="_mi_cands", judge=_judged,
                pick=lambda r: r["moved"].astype(bool) & r["dob_exact"].astype(bool) & ~r["swapped"].astype(bool),
                sql=lambda cands: movedin_sql(input_table, clusters_table, dated, cands))


def _judged(row: dict, answer: list) -> tuple | None:
    """A candidate's rank and reason (``complement.queue_moved``; ``answer``: its ``movedin_sql``
    shares), or None when its expected namesakes times both shares exceed ``COINCIDENCE``."""
    return judged_by(row, float(answer[0]) * float(answer[1]), MOVEDIN_REASON)
