"""Pairs of school records of one birthday, family and home under two UPNs in two children, against
the truth: does the census (one record left before the other's enrolment began) tell one pupil
under a second UPN from twins? (read-only; session 31, ``link/reissued.py``)

    python benchmarks/reissued_shape.py HOME TRUTH_CSV

HOME is a linked home (a bench_link ``ours`` directory or a ``LINKAGE_HOME``). Each pair is counted
by the UPNs' roll (``left/on, after``: the one left before the other's current enrolment began),
the forenames (``unrelated``: ``secondid.unrelated_sql``), whether first middle names differ, and
whether the two children share a source other than the school census or hold two NHS numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.link.inputcache import CACHE
from linkage.link.namesql import middle_name
from linkage.link.secondid import unrelated_sql
from linkage.store import Store
from linkage.store.schema import t


def main(home: Path, truth_csv: Path) -> None:
    truth = pd.read_csv(truth_csv, dtype=str)
    truth["k"] = truth["source"] + ":" + truth["source_record_id"]
    s = Store(home, read_only=True)
    try:
        s.connection.register("truth_df", truth[["k", "person"]])
        s.execute(f"""CREATE TABLE memory.r AS SELECT x.*, i.child_id, tr.person FROM {CACHE} x
          JOIN {t('identity')} i ON i.record_key = x.unique_id LEFT JOIN truth_df tr ON tr.k = x.unique_id""")
        s.execute(f"""CREATE TABLE memory.roll AS SELECT e.record_key AS unique_id,
          bool_or(e.leaving_date IS NULL AND coalesce(e.enrol_status, 'C') NOT IN ('M', 'S', 'G', 'O')) AS on_roll,
          max(e.leaving_date) AS left_on, min(e.entry_date) FILTER (WHERE e.leaving_date IS NULL) AS since
          FROM ({LINK_RECORDS_SQL}) r JOIN {t('edu_enrolment')} e USING (record_key, extract_id) GROUP BY 1""")
        s.execute("""CREATE TABLE memory.kid AS SELECT child_id, list_distinct(list(split_part(source_dataset, ':', 1))) AS srcs,
          coalesce(list_distinct(list(nhs_number) FILTER (WHERE nhs_number IS NOT NULL)), []::VARCHAR[]) AS nhss
          FROM memory.r GROUP BY 1""")
        df = s.df(f"""
SELECT coalesce(a.person = b.person, false) AS one,
  CASE WHEN ra.unique_id IS NULL OR rb.unique_id IS NULL THEN 'no census dates'
       WHEN ra.on_roll AND rb.on_roll THEN 'both on roll'
       WHEN NOT ra.on_roll AND NOT rb.on_roll THEN 'both left'
       WHEN (NOT ra.on_roll AND ra.left_on <= rb.since) OR (NOT rb.on_roll AND rb.left_on <= ra.since)
         THEN 'left, then entered' ELSE 'left, entered before' END AS roll,
  {unrelated_sql('a', 'b')} AS unrelated,
  coalesce({middle_name('a.middle_names')} <> {middle_name('b.middle_names')}, false) AS middles_differ,
  len(list_filter(list_intersect(ka.srcs, kb.srcs), x -> x <> 'education')) > 0
    OR (len(ka.nhss) > 0 AND len(kb.nhss) > 0 AND NOT list_has_any(ka.nhss, kb.nhss)) AS two_elsewhere
FROM memory.r a JOIN memory.r b ON a.dob = b.dob AND a.unique_id < b.unique_id AND a.child_id <> b.child_id
  AND split_part(a.source_dataset, ':', 1) = 'education' AND split_part(b.source_dataset, ':', 1) = 'education'
  AND a.upn <> b.upn AND (a.postcode = b.postcode OR a.address = b.address)
  AND (list_has_any(a.surname_all, b.surname_all) OR jaro_winkler_similarity(a.surname, b.surname) >= 0.9)
LEFT JOIN memory.roll ra ON ra.unique_id = a.unique_id LEFT JOIN memory.roll rb ON rb.unique_id = b.unique_id
JOIN memory.kid ka ON ka.child_id = a.child_id JOIN memory.kid kb ON kb.child_id = b.child_id""")
    finally:
        s.close()
    print(df.groupby(["roll", "two_elsewhere", "unrelated", "middles_differ"])["one"].agg(pairs="size", one="sum")
          .reset_index().to_string(index=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
