"""AP placements, derived from the linked record: enrolments at alternative provision.

One placement is one child at one AP setting from one entry date: the rows of every
current record (several extracts, or one row per term) describing that enrolment fold
into one, keeping the latest leaving date any of them gives. Dual registration (the
census ``EnrolStatus`` M or S) is kept as a flag: the child stayed on a mainstream roll.

Placement type (docs/outcomes.md): ``short`` when it ended within 12 weeks (84 days) of
entry, a time-limited placement; ``long`` once it has lasted 12 weeks, ended or not;
``new`` while open and not yet 12 weeks old (it may become either).
"""

from __future__ import annotations

from datetime import date

from linkage.outcomes.sources import Sources
from linkage.outcomes.terms import date_sql, term_of_date_sql

__all__ = ["SHORT_DAYS", "enrolments_sql", "placements_sql"]

SHORT_DAYS = 84     # 12 weeks: about one term


def enrolments_sql(src: Sources) -> str:
    """Every current enrolment with the child, the setting of its school and whether it is AP."""
    return f"""SELECT r.child_id, e.record_key, e.urn, e.entry_date, e.leaving_date, e.enrol_status,
  coalesce(ref.setting, 'unknown') AS setting, coalesce(ref.is_ap, false) AS is_ap
FROM {src.event('edu_enrolment')} e
JOIN {src.records} r ON r.record_key = e.record_key AND r.extract_id = e.extract_id
LEFT JOIN {src.ref} ref ON ref.urn = e.urn
WHERE e.entry_date IS NOT NULL"""


def placements_sql(as_at: date) -> str:
    """Placements from the ``enrol`` relation, as they stood on ``as_at``."""
    on = date_sql(as_at)
    entry_term = term_of_date_sql("entry_date")
    exit_term = term_of_date_sql("leaving_date")
    first_year = "CAST(floor(entry_term / 3) AS INTEGER)"
    return f"""SELECT md5(child_id || '|' || urn || '|' || CAST(entry_date AS VARCHAR)) AS placement_id,
  child_id, urn, setting, entry_date, leaving_date, dual_registered, entry_term,
  CASE WHEN leaving_date IS NULL THEN NULL ELSE {exit_term} END AS exit_term,
  CAST({first_year} AS VARCHAR) || '/' || lpad(CAST(({first_year} + 1) % 100 AS VARCHAR), 2, '0') AS cohort,
  CASE WHEN leaving_date IS NOT NULL AND leaving_date - entry_date < {SHORT_DAYS} THEN 'short'
       WHEN coalesce(leaving_date, {on}) - entry_date >= {SHORT_DAYS} THEN 'long' ELSE 'new' END AS placement_type
FROM (SELECT child_id, urn, entry_date, max(setting) AS setting,
        CASE WHEN max(leaving_date) > {on} THEN NULL ELSE max(leaving_date) END AS leaving_date,
        bool_or(enrol_status IN ('M', 'S')) AS dual_registered, {entry_term} AS entry_term
      FROM enrol WHERE is_ap AND entry_date <= {on}
      GROUP BY child_id, urn, entry_date)"""

