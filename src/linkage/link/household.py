"""Household evidence for the second pass: a family that moved together.

A child whose surname changed and who moved rarely moves alone: the family moves, and a
brother's or sister's records (linked by an NHS number or a UPN, or because the family kept its
name) hold both the old home and the new one. A candidate pair of the second pass
(``evidence.candidates_sql``) whose surnames and postcodes both differ, and which the expected
namesakes rule (``evidence.coincidences``) dropped because its forename is common, is queued when
**another child** holds a postcode of each side: the two homes are one family's, before and after
the move. Two strangers who share a forename and a birthday are not also tied by a third child's
address history, however common the forename: the evidence does not grow with the population.

Two further forms of the same evidence are counted:

* another pair of children the pass found (another candidate pair) whose two sides hold the same
  two homes: two children of one family, each split by the same move (the brother and sister
  both under their new surname at the new home in one source, under the old ones in another);
* a home held by many children (a block of flats, a children's home, a placeholder) is not a
  household: postcodes held by more than ``HOUSEHOLD_MOST`` children are left out.

The pair is queued, never linked: a third child's addresses say the two homes are one family's,
not that the two records are one child (a twin is a child of that family too).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from linkage.link.complement import flagged, queue_moved
from linkage.link.evidence import ClusterPass
from linkage.link.wording import agreement

__all__ = ["HOUSEHOLD_MOST", "HOUSEHOLD_REASON", "household_pairs", "household_sql"]

HOUSEHOLD_REASON = ("possible change of surname and address with the family: {agree}, "
                    "and {how} ({evidence})")
# A postcode held by more children than this is a block, an institution or a placeholder, not one
# household's home (a postcode unit holds about fifteen households in England).
HOUSEHOLD_MOST = 30


def household_sql(input_table: str, clusters_table: str, cands: str) -> str:
    """For each candidate pair of ``cands`` (l, r, ca, cb), whether another child holds a postcode
    of each side (``sibling``), and whether another candidate pair of children joins the same two
    homes (``both_split``). Pure SQL, no I/O."""
    return f"""
WITH home AS (
  SELECT DISTINCT c.cluster_id, x.postcode AS pc
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id) WHERE x.postcode IS NOT NULL),
usual AS (SELECT pc FROM home GROUP BY pc HAVING count(*) <= {HOUSEHOLD_MOST}),
side AS (
  SELECT k.l, k.r, k.ca, k.cb, 'a' AS side, h.pc FROM {cands} k JOIN home h ON h.cluster_id = k.ca
  WHERE h.pc IN (SELECT pc FROM usual)
  UNION ALL
  SELECT k.l, k.r, k.ca, k.cb, 'b', h.pc FROM {cands} k JOIN home h ON h.cluster_id = k.cb
  WHERE h.pc IN (SELECT pc FROM usual)),
sibling AS (
  SELECT DISTINCT s.l, s.r FROM side s JOIN home o ON o.pc = s.pc
  WHERE o.cluster_id <> s.ca AND o.cluster_id <> s.cb
  GROUP BY s.l, s.r, o.cluster_id HAVING count(DISTINCT s.side) = 2),
-- Each move as its two homes in one order, so that two moves meet by an equality join.
moves AS (
  SELECT a.l, a.r, least(a.pc, b.pc) AS lo, greatest(a.pc, b.pc) AS hi
  FROM side a JOIN side b ON a.l = b.l AND a.r = b.r AND a.side = 'a' AND b.side = 'b' AND a.pc <> b.pc),
both_split AS (
  SELECT DISTINCT m.l, m.r FROM moves m JOIN moves o ON o.lo = m.lo AND o.hi = m.hi
  JOIN {cands} x ON x.l = m.l AND x.r = m.r JOIN {cands} y ON y.l = o.l AND y.r = o.r
  WHERE y.ca NOT IN (x.ca, x.cb) AND y.cb NOT IN (x.ca, x.cb))
SELECT k.l, k.r, s.l IS NOT NULL AS sibling, b.l IS NOT NULL AS both_split
FROM {cands} k LEFT JOIN sibling s ON s.l = k.l AND s.r = k.r LEFT JOIN both_split b ON b.l = k.l AND b.r = k.r"""


def household_pairs(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, input_table: str, clusters_table: str,
                    found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> None:
    """Add to ``found.queue`` the candidate pairs of ``rows`` (``evidence.candidates_sql``, after
    ``complement.partner_cohorts``) with a new surname and a move that the pass neither linked nor
    queued, whose two homes another child of the family ties together; one per two children,
    skipping children a twin guard or a reviewer keeps apart (``apart``: record pairs)."""
    # Every moved candidate is asked about: a brother split by the same move may be queued already.
    queue_moved(con, rows, found, cluster_of, apart, table="_hh_cands", judge=_judged, ask_all=True,
                pick=lambda r: r["moved"].astype(bool),
                sql=lambda cands: household_sql(input_table, clusters_table, cands))


def _judged(row: dict, answer: list) -> tuple | None:
    """A candidate's rank and reason (``complement.queue_moved``; ``answer``: its ``household_sql``
    sibling and both_split), or None when neither ties its two homes."""
    sibling, both_split = (bool(v) for v in answer)
    if not (sibling or both_split):
        return None
    how = "another child of the family holds both homes" if sibling else \
        "another child of the family moved between the same two homes"
    said = [e for e, key in (("middle name agrees", "middle"), ("former surname agrees", "former_surname"))
            if flagged(row.get(key))]
    if flagged(row.get("cotwin")):
        said.append("a twin is in view")
    return ((bool(row["one_name"]), bool(row["dob_exact"]), sibling, both_split, row["l"], row["r"]),
            HOUSEHOLD_REASON.format(agree=agreement(row), how=how, evidence="; ".join(said) or "nothing else agrees"))
