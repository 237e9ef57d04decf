"""A surname change on record: a record that holds a former surname says its child's name changed.

The second pass drops a candidate with a new surname and a move when other children are likely to
share its forename and birthday by chance (``evidence.coincidences``): with a common forename,
two strangers look exactly like one child who changed surname and moved. But a source records a
former surname (a school's FormerSurname, a case system's Previous Surname) for a child whose
surname changed, and for few others. When a record of either child holds one, whatever it says
(it need not match the other side: a clerk may repeat the current surname there, or name an
earlier one), the change the pair needs is on record, and a stranger of that forename and
birthday holds such a record only as often as that source records a former surname for any of
its children. That share is counted in the data (each source's records holding a former
surname, over every current record, as ``unreached.counts_sql`` counts forenames), and the
expected namesakes are multiplied by it; the pair is queued when they stay at most
``evidence.COINCIDENCE``. The share is each population's own: a source that records former
surnames for many children lends the evidence little weight.

Only pairs born on the same day are read: the record explains a new surname, not a birthday one
slip apart as well. On both generators such pairs were strangers: of the pairs of children with the
shape and a former surname on record born a day to a month apart, none of 1,150 at the independent
100k set and none of 53 at 250k realistic (seed 42) were one child; on one day, 55 of 82 and 3 of 4
(``benchmarks/shape_evidence.py``, docs/benchmarks.md, session 30).

Only pairs whose forenames are written the same or one typed from the other (Jaro-Winkler at
least ``TYPO_JW``) are read: the expected namesakes count one forename's children, and two names
that only share a sound code or a nickname (Ella / Isla, Henry / Harry) are a second difference the
record does not explain. At 1M realistic (seed 42) the rule without this queued 44 pairs, 2 one
child, 21 of the strangers among them with two names; at d100k 3 pairs, none one child.

Queued, never linked: the record says a surname changed, not which child it was.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from linkage.link.complement import flagged, queue_moved
from linkage.link.evidence import COINCIDENCE, ClusterPass, coincidences
from linkage.link.wording import agreement

__all__ = ["CHANGED_REASON", "TYPO_JW", "changed_pairs", "changed_sql", "judged_by"]

CHANGED_REASON = ("possible change of surname and address: {agree}, and a record of "
                  "the child holds a former surname ({evidence})")

_HELD = "coalesce(trim(x.former_surname), '') <> ''"
# Two forenames this alike are one name typed (Jamrs / James, Charltote / Charlotte): the threshold
# the second pass reads middle names and surnames as one name by (``evidence.candidates_sql``).
TYPO_JW = 0.9


def changed_sql(input_table: str, clusters_table: str, cands: str) -> str:
    """For each candidate pair of ``cands`` (l, r, ca, cb) whose children hold a former surname on
    some record and whose forenames are one name written or typed (``TYPO_JW``), the smallest share, among the sources of those records, of the source's records
    holding a former surname (``share``). Pure SQL, no I/O."""
    return f"""
WITH share AS (
  SELECT x.source_dataset, avg(({_HELD})::INT) AS share FROM {input_table} x GROUP BY 1),
changed AS (
  SELECT c.cluster_id, min(s.share) AS share
  FROM {input_table} x JOIN {clusters_table} c USING (unique_id) JOIN share s USING (source_dataset)
  WHERE {_HELD} AND c.cluster_id IN (SELECT ca FROM {cands} UNION SELECT cb FROM {cands})
  GROUP BY c.cluster_id)
SELECT k.l, k.r, least(coalesce(a.share, 1), coalesce(b.share, 1)) AS share
FROM {cands} k LEFT JOIN changed a ON a.cluster_id = k.ca LEFT JOIN changed b ON b.cluster_id = k.cb
  JOIN {input_table} xl ON xl.unique_id = k.l JOIN {input_table} xr ON xr.unique_id = k.r
WHERE (a.cluster_id IS NOT NULL OR b.cluster_id IS NOT NULL)
  AND (xl.forename = xr.forename OR jaro_winkler_similarity(xl.forename, xr.forename) >= {TYPO_JW})"""


def changed_pairs(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, input_table: str, clusters_table: str,
                  found: ClusterPass, cluster_of: dict[str, str], apart: Iterable[tuple[str, str]]) -> None:
    """Add to ``found.queue`` the candidate pairs of ``rows`` (``evidence.candidates_sql``, after
    ``complement.partner_cohorts``) with a new surname, a move and one birthday that no earlier
    rule linked or queued, whose expected namesakes, times the share of records holding a former surname, are at
    most ``COINCIDENCE`` (the module docstring); one per two children, skipping children a twin
    guard or a reviewer keeps apart (``apart``: record pairs)."""
    queue_moved(con, rows, found, cluster_of, apart, table="_ch_cands", judge=_judged,
                pick=lambda r: r["moved"].astype(bool) & r["dob_exact"].astype(bool) & ~r["swapped"].astype(bool),
                sql=lambda cands: changed_sql(input_table, clusters_table, cands))


def _judged(row: dict, answer: list) -> tuple | None:
    """A candidate's rank and reason (``complement.queue_moved``; ``answer``: its ``changed_sql``
    share), or None when its expected namesakes times the share exceed ``COINCIDENCE``."""
    return judged_by(row, float(answer[0]), CHANGED_REASON)


def judged_by(row: dict, share: float, reason: str) -> tuple | None:
    """A moved candidate's rank and ``reason`` filled with what agrees (``wording.agreement``, then
    its evidence), or None when its expected namesakes (``evidence.coincidences``) times ``share``
    (how often a stranger shows the rule's evidence) exceed ``COINCIDENCE``: the judge of the rules
    that weigh one kind of evidence by its share in the population (this module, ``movedin``)."""
    evidence = [e for e, key in (("middle name", "middle"), ("former surname", "former_surname"),
                                 ("historic address", "historic_address")) if flagged(row.get(key))]
    expected = coincidences({**row, "evidence": evidence}) * share
    if expected > COINCIDENCE:
        return None
    said = [f"{e} agrees" for e in evidence]
    if flagged(row.get("cotwin")):
        said.append("a twin is in view")
    return ((len(evidence), bool(row["one_name"]), -expected, row["l"], row["r"]),
            reason.format(agree=agreement(row), evidence="; ".join(said) or "nothing else agrees"))
