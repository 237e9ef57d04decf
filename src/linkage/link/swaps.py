"""A swapped record between two namesakes is not linked on its names and birthday alone.

The model's "forename and surname swapped" level is worth far more than an exact forename: a
swap of *two* names is rare between strangers, so its u is tiny, and it has no term-frequency
adjustment. On the independent generator's six files (session 26) social care's "García ALI"
scored 12.8 against the GP's Ali García (another postcode, nothing else shared) and only 6.4
straight on against either of the two Ali Garcías at school (two UPNs, two boys born the same
day): the swap carried the GP's record of one boy into the other's child. The swap says the
record is *an* Ali García born that day; when two children of that name and birthday are in view
it does not say which.

So a scored pair above the threshold is held back from the clusters (and queued, ``REASON``) when
all of these hold:

* the two records' forename and surname are swapped (``guards.swapped_sql``), not one forename;
* nothing picks one child: no postcode, address, NHS number, UPN or first middle name agrees;
* two records of that name (either way round) and that birthday hold different NHS numbers or
  different UPNs: two children are in view.

A swapped record of a child with no namesake, or one that shares its home or an identifier with
its partner, links as before.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from linkage.link.guards import swapped_sql
from linkage.link.namesql import middle_name
from linkage.store import registered

__all__ = ["REASON", "unpicked_swaps", "unpicked_swaps_sql"]

REASON = ("not linked: forename and surname swapped, and two children of that name and birthday are in view "
          "(nothing else picks one)")


def _agree(col: str) -> str:
    return f"coalesce(l.{col} = r.{col}, false)"


def unpicked_swaps_sql(pairs: str, rows: str, population: str | None = None) -> str:
    """(unique_id_l, unique_id_r) of ``pairs`` (a table of those columns) held back as above;
    ``rows``: the model's input rows of the pairs' records; ``population`` (default ``rows``): every
    record's, where the namesakes are looked for (a month's run narrows ``rows`` to what it reached,
    but a namesake it did not reach is in view all the same). Pure SQL."""
    picks = " OR ".join([*(_agree(c) for c in ("postcode", "address", "nhs_number", "upn")),
                         f"coalesce({middle_name('l.middle_names')} = {middle_name('r.middle_names')}"
                         " AND l.middle_names <> '', false)"])
    return f"""
WITH swap AS (
  SELECT e.unique_id_l, e.unique_id_r, l.dob, l.forename AS f, l.surname AS s, r.forename AS rf, r.surname AS rs
  FROM {pairs} e
  JOIN {rows} l ON l.unique_id = e.unique_id_l
  JOIN {rows} r ON r.unique_id = e.unique_id_r
  WHERE l.dob = r.dob AND l.forename IS DISTINCT FROM r.forename AND {swapped_sql('l', 'r')}
    AND NOT ({picks})),
named AS (
  SELECT w.unique_id_l, w.unique_id_r, n.nhs_number, n.upn
  FROM swap w JOIN {population or rows} n ON n.dob = w.dob
  WHERE (n.forename = w.f AND n.surname = w.s) OR (n.forename = w.s AND n.surname = w.f)
     OR (n.forename = w.rf AND n.surname = w.rs) OR (n.forename = w.rs AND n.surname = w.rf))
SELECT unique_id_l, unique_id_r FROM named GROUP BY unique_id_l, unique_id_r
HAVING count(DISTINCT nhs_number) > 1 OR count(DISTINCT upn) > 1"""


def unpicked_swaps(con: duckdb.DuckDBPyConnection, rows: str, pairs: pd.DataFrame,
                   population: str | None = None) -> set[frozenset]:
    """The pairs of ``pairs`` (unique_id_l, unique_id_r) that ``unpicked_swaps_sql`` holds back."""
    if pairs.empty:
        return set()
    with registered(con, _swap_pairs_df=pairs[["unique_id_l", "unique_id_r"]]):
        return {frozenset(p) for p in con.execute(unpicked_swaps_sql("_swap_pairs_df", rows, population)).fetchall()}
