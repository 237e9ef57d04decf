"""Outcome measures per placement, in one DuckDB query built from small pure functions.

Each measure is NULL when it cannot yet be known (its window has not closed by the
date the measures are taken on, or, for post-16 destinations, no NCCIS data), so an
aggregate's denominator is the placements a measure could be judged for. Definitions,
and the DfE measure each approximates, are in docs/outcomes.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from linkage.outcomes.placements import enrolments_sql, placements_sql
from linkage.outcomes.sources import Sources
from linkage.outcomes.terms import date_sql, term_end_sql, term_of_date_sql, term_of_label_sql

__all__ = ["ATTAINMENT", "MEASURES", "Options", "base_ctes", "placement_measures_sql"]

FAR = "DATE '9999-12-31'"
TERM_DAYS, YEAR_DAYS, MISSING_DAYS = 91, 365, 28
# Post-16 activity (NCCIS current activity codes): 1xx education, 2xx apprenticeships and
# training, 3xx employment are EET; 5xx and 6xx NEET; 8xx not known (docs/outcomes.md).
EET = "(substr(activity_code, 1, 1) IN ('1', '2', '3'))"
NEET = "(substr(activity_code, 1, 1) IN ('5', '6'))"

# The per-placement outcome columns, in the order reports show them: proportions are 0/1/NULL.
MEASURES = {
    "attendance_before": "attendance rate, the two terms before entry",
    "attendance_during": "attendance rate at the AP setting",
    "attendance_after": "attendance rate, the two terms after leaving",
    "suspended_1term": "suspended within one term of leaving",
    "suspended_1year": "suspended within one year of leaving",
    "excluded_1term": "permanently excluded within one term of leaving",
    "excluded_1year": "permanently excluded within one year of leaving",
    "reintegrated": "back on a mainstream roll within N weeks of leaving",
    "reintegration_sustained": "that mainstream place held for two terms",
    "ehc_started": "EHC plan recorded during or after the placement, none before",
    "missing_after": "on no school roll four weeks after leaving (under 16)",
    "referral_1year": "new social-care referral within one year of leaving",
    "post16_sustained": "post-16 education, employment or training sustained two terms (NCCIS)",
}
RATES = ("attendance_before", "attendance_during", "attendance_after")
# What is not measured, said wherever outcomes are published (reports, API, web page).
ATTAINMENT = ("Attainment (the AP performance framework's English and maths measure) is not measured: no "
              "extract this service receives carries attainment or assessment results (the school census "
              "extract holds enrolment, attendance, exclusions and SEN, not key stage results), so nothing "
              "here says anything about attainment.")


@dataclass(frozen=True)
class Options:
    as_at: date
    reintegration_weeks: int = 6

    def __post_init__(self) -> None:
        if not 1 <= int(self.reintegration_weeks) <= 52:
            raise ValueError("reintegration weeks must be between 1 and 52")


def _closed(days: int | str) -> str:
    """The window of ``days`` after leaving has ended by the measuring date."""
    return f"(p.leaving_date IS NOT NULL AND p.leaving_date + {days} <= o.as_at)"


def _after(days: int | str, query: str) -> str:
    return f"CASE WHEN NOT {_closed(days)} THEN NULL WHEN {query} THEN 1 ELSE 0 END"


def _exclusion(category: str, days: int) -> str:
    return _after(days, f"""EXISTS (SELECT 1 FROM excl x WHERE x.child_id = p.child_id AND x.category = '{category}'
      AND x.start_date > p.leaving_date AND x.start_date <= p.leaving_date + {days})""")


def _attendance(lo: str, hi: str, extra: str = "") -> str:
    return f"""(SELECT CASE WHEN sum(a.possible) > 0 THEN sum(a.attended) * 1.0 / sum(a.possible) END FROM att a
      WHERE a.child_id = p.child_id AND a.term BETWEEN {lo} AND {hi} {extra})"""


def _on_roll(kind: str, by: str, until: str) -> str:
    """An enrolment of ``kind`` begun by ``by`` and still open after leaving and at ``until``."""
    where = "m.setting = 'mainstream'" if kind == "mainstream" else "true"
    return f"""EXISTS (SELECT 1 FROM enrol m WHERE m.child_id = p.child_id AND {where}
      AND m.entry_date <= {by} AND coalesce(m.leaving_date, {FAR}) > p.leaving_date
      AND coalesce(m.leaving_date, {FAR}) >= {until})"""


def _eet_at(day: str) -> str:
    return f"""EXISTS (SELECT 1 FROM post16 n WHERE n.child_id = p.child_id AND {EET}
      AND n.start_date <= {day} AND coalesce(n.due_to_lapse_date, {FAR}) >= {day})"""


def base_ctes(src: Sources, opts: Options, placed_only: bool = False) -> str:
    """The relations every outcome query reads: options, records, enrolments, placements, events, NCCIS.

    ``placed_only``: attendance and dates of birth for placed children only (all the placement
    measures need); the comparison needs them for every child, placed or not."""
    attended = "a.sessions_possible - coalesce(a.sessions_authorised, 0) - coalesce(a.sessions_unauthorised, 0)"
    only = "AND r.child_id IN (SELECT child_id FROM placements)" if placed_only else ""
    only_enrol = "WHERE child_id IN (SELECT child_id FROM placements)" if placed_only else ""
    return f"""o AS (SELECT {date_sql(opts.as_at)} AS as_at, {int(opts.reintegration_weeks) * 7} AS reint_days),
recs AS (SELECT child_id, record_key, extract_id, source, date_of_birth, upn FROM {src.records}),
enrol AS ({enrolments_sql(src)}),
placements AS ({placements_sql(opts.as_at)}),
att AS (SELECT r.child_id, a.record_key, {term_of_label_sql('a.term')} AS term,
          greatest({attended}, 0) AS attended, a.sessions_possible AS possible, en.urn
        FROM {src.event('edu_attendance')} a
        JOIN recs r ON r.record_key = a.record_key AND r.extract_id = a.extract_id
        LEFT JOIN (SELECT DISTINCT record_key, urn FROM enrol {only_enrol}) en ON en.record_key = a.record_key
        WHERE a.sessions_possible > 0 {only}),
excl AS (SELECT r.child_id, x.category, x.start_date FROM {src.event('edu_exclusion')} x
         JOIN recs r ON r.record_key = x.record_key AND r.extract_id = x.extract_id),
sen AS (SELECT en.child_id, en.entry_date, s.provision FROM {src.event('edu_sen')} s
        JOIN recs r ON r.record_key = s.record_key AND r.extract_id = s.extract_id
        JOIN enrol en ON en.record_key = s.record_key),
csc AS (SELECT r.child_id, f.referral_date AS day, true AS referral FROM {src.event('sc_referral')} f
          JOIN recs r ON r.record_key = f.record_key AND r.extract_id = f.extract_id
        UNION ALL
        SELECT r.child_id, c.start_date, false FROM {src.event('sc_episode')} c
          JOIN recs r ON r.record_key = c.record_key AND r.extract_id = c.extract_id),
post16 AS (SELECT DISTINCT r.child_id, n.activity_code, n.start_date, n.due_to_lapse_date FROM {src.nccis} n
           JOIN recs r ON r.upn = n.upn AND r.source = 'education'),
dob AS (SELECT child_id, max(date_of_birth) AS dob FROM recs r WHERE true {only} GROUP BY child_id)"""


def _columns() -> str:
    exit2_end = term_end_sql("p.exit_term + 2")
    exit1_end = term_end_sql("p.exit_term + 1")
    reint = "p.leaving_date + o.reint_days"
    sen_rank = "max(CASE s.provision WHEN 'E' THEN 2 WHEN 'K' THEN 1 ELSE 0 END)"
    age = ("date_diff('year', d.dob, p.entry_date) - CASE WHEN strftime(d.dob, '%m%d') > "
           "strftime(p.entry_date, '%m%d') THEN 1 ELSE 0 END")
    age_leaving = ("date_diff('year', d.dob, p.leaving_date) - CASE WHEN strftime(d.dob, '%m%d') > "
                   "strftime(p.leaving_date, '%m%d') THEN 1 ELSE 0 END")
    return f"""p.placement_id, p.child_id, p.urn, p.setting, p.placement_type, p.cohort, p.entry_date,
  p.leaving_date, p.dual_registered, p.entry_term, p.exit_term,
  {age} AS age_at_entry,
  CASE WHEN {age} < 11 THEN 'under 11' WHEN {age} < 14 THEN '11 to 13' WHEN {age} < 16 THEN '14 to 15'
       ELSE '16 and over' END AS age_band,
  CASE (SELECT {sen_rank} FROM sen s WHERE s.child_id = p.child_id AND s.entry_date < p.entry_date)
       WHEN 2 THEN 'EHC plan' WHEN 1 THEN 'SEN support' ELSE 'no SEN' END AS sen_status,
  CASE WHEN EXISTS (SELECT 1 FROM csc c WHERE c.child_id = p.child_id AND c.day < p.entry_date)
       THEN 'known to social care' ELSE 'not known to social care' END AS social_care,
  (SELECT count(*) FROM excl x WHERE x.child_id = p.child_id AND x.category = 'SUSP'
     AND x.start_date < p.entry_date AND x.start_date >= p.entry_date - {YEAR_DAYS}) AS suspensions_before,
  {_attendance('p.entry_term - 2', 'p.entry_term - 1')} AS attendance_before,
  {_attendance('p.entry_term', 'coalesce(p.exit_term, ' + term_of_date_sql('o.as_at') + ')', 'AND a.urn = p.urn')}
    AS attendance_during,
  CASE WHEN p.exit_term IS NULL OR {exit2_end} > o.as_at THEN NULL
       ELSE {_attendance('p.exit_term + 1', 'p.exit_term + 2')} END AS attendance_after,
  {_exclusion('SUSP', TERM_DAYS)} AS suspended_1term,
  {_exclusion('SUSP', YEAR_DAYS)} AS suspended_1year,
  {_exclusion('PERM', TERM_DAYS)} AS excluded_1term,
  {_exclusion('PERM', YEAR_DAYS)} AS excluded_1year,
  {_after('o.reint_days', _on_roll('mainstream', reint, 'p.leaving_date'))} AS reintegrated,
  CASE WHEN p.exit_term IS NULL OR {exit2_end} > o.as_at THEN NULL
       WHEN {_on_roll('mainstream', reint, exit2_end)} THEN 1 ELSE 0 END AS reintegration_sustained,
  CASE WHEN EXISTS (SELECT 1 FROM sen s WHERE s.child_id = p.child_id AND s.provision = 'E'
                    AND s.entry_date < p.entry_date) THEN NULL
       WHEN EXISTS (SELECT 1 FROM sen s WHERE s.child_id = p.child_id AND s.provision = 'E'
                    AND s.entry_date >= p.entry_date) THEN 1 ELSE 0 END AS ehc_started,
  CASE WHEN p.leaving_date IS NULL OR {age_leaving} >= 16 THEN NULL
       ELSE {_after(MISSING_DAYS, 'NOT ' + _on_roll('any', f'p.leaving_date + {MISSING_DAYS}',
                                                          f'p.leaving_date + {MISSING_DAYS}'))} END AS missing_after,
  {_after(YEAR_DAYS, f'''EXISTS (SELECT 1 FROM csc c WHERE c.child_id = p.child_id AND c.referral
      AND c.day > p.leaving_date AND c.day <= p.leaving_date + {YEAR_DAYS})''')} AS referral_1year,
  CASE WHEN p.exit_term IS NULL OR {exit2_end} > o.as_at
            OR NOT EXISTS (SELECT 1 FROM post16 n WHERE n.child_id = p.child_id) THEN NULL
       WHEN {_eet_at(exit1_end)} AND {_eet_at(exit2_end)} THEN 1 ELSE 0 END AS post16_sustained,
  CASE WHEN p.leaving_date IS NULL THEN 'still placed'
       WHEN p.leaving_date + o.reint_days > o.as_at THEN 'not yet known'
       WHEN {_on_roll('mainstream', reint, 'p.leaving_date')} THEN 'mainstream school'
       WHEN EXISTS (SELECT 1 FROM enrol m WHERE m.child_id = p.child_id AND m.is_ap AND m.urn <> p.urn
                    AND m.entry_date <= {reint} AND coalesce(m.leaving_date, {FAR}) > p.leaving_date)
            THEN 'another AP setting'
       WHEN {_on_roll('any', reint, 'p.leaving_date')} THEN 'special or other school'
       WHEN {_eet_at(reint)} THEN 'post-16 education, employment or training'
       WHEN EXISTS (SELECT 1 FROM post16 n WHERE n.child_id = p.child_id AND {NEET}
                    AND n.start_date <= {reint} AND coalesce(n.due_to_lapse_date, {FAR}) >= {reint})
            THEN 'not in education, employment or training'
       ELSE 'no school place known' END AS next_place"""


def placement_measures_sql(src: Sources, opts: Options) -> str:
    """One row per placement: its dimensions, risk factors before entry, and every measure."""
    return f"""WITH {base_ctes(src, opts, placed_only=True)}
SELECT {_columns()}
FROM placements p CROSS JOIN o LEFT JOIN dob d ON d.child_id = p.child_id
ORDER BY p.entry_date, p.placement_id"""
