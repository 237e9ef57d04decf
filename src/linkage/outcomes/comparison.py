"""For whom: placed children against children at similar risk who were not placed.

Coarsened exact matching (Iacus, King and Porro): every placement and every eligible
unplaced child is described at the start of a term (for a placement, its entry term) by
five coarsened risk factors: attendance in the two terms before (under 50%, 50-79%,
80-89%, 90% and over, none recorded), any suspension in the year before, SEN status, age
band and social-care involvement. Unplaced children are eligible in a term when on a
mainstream roll at its start, never placed in AP, and at risk (attendance under 90% or a
suspension in the year before). Within each stratum holding both, each placed child counts
1 and the unplaced share the same total weight. Outcomes are over the year from the start
of the term, for units whose year has ended. Differences come with normal-approximation
95% intervals; each group's rate with a Wilson interval. They describe association in
these data only: see ``LIMITS``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from linkage.outcomes.disclosure import CIN, Rule, headline
from linkage.outcomes.measures import Options, base_ctes
from linkage.outcomes.sources import Sources
from linkage.outcomes.terms import term_end_sql

__all__ = ["COMPARED", "LIMITS", "Comparison", "compare", "units_sql", "wilson"]

COMPARED = {"suspended": "suspended within a year", "excluded": "permanently excluded within a year",
            "referral": "new social-care referral within a year",
            "mainstream_after_year": "on a mainstream roll a year on"}
LIMITS = ("This compares placed children with unplaced children who looked similar on five recorded "
          "factors. It cannot show that a placement caused any difference: children are placed for reasons "
          "the records do not hold (behaviour, needs, family circumstances, the school's decision), and "
          "those reasons also shape what happens next. Strata with no comparison child are left out, so "
          "the result speaks only for placed children like those who could be matched. Linkage errors, "
          "missing extracts and coarse bands add further uncertainty that the intervals do not include.")
Z = 1.959964


def _start(term: str) -> str:
    """The first day of a term (the day after the previous one ends)."""
    return f"({term_end_sql(f'{term} - 1')} + 1)"


def units_sql(src: Sources, opts: Options) -> str:
    """One row per unit (placed child at entry, or eligible unplaced child at a cohort term)."""
    start = _start("u.term")
    age = (f"date_diff('year', d.dob, {start}) - CASE WHEN strftime(d.dob, '%m%d') > strftime({start}, '%m%d') "
           "THEN 1 ELSE 0 END")
    # Only units whose year has ended can be judged, and only those at risk are compared: both
    # are settled before the other features are worked out, since unplaced children on a
    # mainstream roll at each cohort term number in the millions at a large authority.
    closed = f"{_start('entry_term')} + 365 <= o.as_at"
    return f"""WITH {base_ctes(src, opts)},
terms AS (SELECT DISTINCT entry_term AS term FROM placements CROSS JOIN o WHERE {closed}),
ever_ap AS (SELECT DISTINCT child_id FROM enrol WHERE is_ap),
units AS (
  SELECT DISTINCT p.child_id, p.entry_term AS term, 1 AS placed FROM placements p JOIN terms t ON t.term = p.entry_term
  UNION ALL
  SELECT DISTINCT m.child_id, t.term, 0 FROM enrol m CROSS JOIN terms t
  WHERE m.setting = 'mainstream' AND m.entry_date <= {_start('t.term')}
    AND coalesce(m.leaving_date, DATE '9999-12-31') > {_start('t.term')}
    AND m.child_id NOT IN (SELECT child_id FROM ever_ap)),
att_term AS (SELECT child_id, term, sum(attended) AS attended, sum(possible) AS possible FROM att
             GROUP BY child_id, term),
risk AS (
  SELECT u.child_id, u.term, u.placed, {start} AS day,
    (coalesce(a1.attended, 0) + coalesce(a2.attended, 0)) * 1.0
      / nullif(coalesce(a1.possible, 0) + coalesce(a2.possible, 0), 0) AS att,
    EXISTS (SELECT 1 FROM excl x WHERE x.child_id = u.child_id AND x.category = 'SUSP'
            AND x.start_date < {start} AND x.start_date >= {start} - 365) AS susp_before
  FROM units u
  LEFT JOIN att_term a1 ON a1.child_id = u.child_id AND a1.term = u.term - 1
  LEFT JOIN att_term a2 ON a2.child_id = u.child_id AND a2.term = u.term - 2),
at_risk AS MATERIALIZED (SELECT * FROM risk WHERE placed = 1 OR att < 0.9 OR susp_before),
feat AS (
  SELECT u.child_id, u.term, u.placed, u.day, u.att, u.susp_before,
    coalesce((SELECT max(CASE s.provision WHEN 'E' THEN 2 WHEN 'K' THEN 1 ELSE 0 END) FROM sen s
              WHERE s.child_id = u.child_id AND s.entry_date < u.day), 0) AS sen,
    {age} AS age,
    EXISTS (SELECT 1 FROM csc c WHERE c.child_id = u.child_id AND c.day < u.day) AS csc_before
  FROM at_risk u LEFT JOIN dob d ON d.child_id = u.child_id)
SELECT f.placed, f.term,
  CASE WHEN f.att IS NULL THEN 'none' WHEN f.att < 0.5 THEN '<50' WHEN f.att < 0.8 THEN '50-79'
       WHEN f.att < 0.9 THEN '80-89' ELSE '90+' END AS att_band,
  f.susp_before, f.sen,
  CASE WHEN f.age < 11 THEN 'u11' WHEN f.age < 14 THEN '11-13' WHEN f.age < 16 THEN '14-15' ELSE '16+' END AS age_band,
  f.csc_before,
  CASE WHEN EXISTS (SELECT 1 FROM excl x WHERE x.child_id = f.child_id AND x.category = 'SUSP'
                    AND x.start_date >= f.day AND x.start_date < f.day + 365) THEN 1 ELSE 0 END AS suspended,
  CASE WHEN EXISTS (SELECT 1 FROM excl x WHERE x.child_id = f.child_id AND x.category = 'PERM'
                    AND x.start_date >= f.day AND x.start_date < f.day + 365) THEN 1 ELSE 0 END AS excluded,
  CASE WHEN EXISTS (SELECT 1 FROM csc c WHERE c.child_id = f.child_id AND c.referral
                    AND c.day >= f.day AND c.day < f.day + 365) THEN 1 ELSE 0 END AS referral,
  CASE WHEN EXISTS (SELECT 1 FROM enrol m WHERE m.child_id = f.child_id AND m.setting = 'mainstream'
                    AND m.entry_date <= f.day + 365
                    AND coalesce(m.leaving_date, DATE '9999-12-31') > f.day + 365) THEN 1 ELSE 0 END
    AS mainstream_after_year
FROM feat f"""


def wilson(k: float, n: float) -> tuple[float, float]:
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Comparison:
    measure: str
    label: str
    placed_n: object
    comparison_n: object          # unplaced children matched (each counted once)
    placed_pct: object
    placed_ci: object
    comparison_pct: object
    comparison_ci: object
    difference_pct: object        # placed minus comparison, percentage points
    difference_ci: object

    def as_dict(self) -> dict:
        return asdict(self)


def _pct(x: float) -> float:
    return round(100 * x, 1)


def _one(matched: pd.DataFrame, measure: str, rule: Rule) -> Comparison:
    t = matched[matched.placed == 1]
    c = matched[matched.placed == 0]
    yes_t, n_t = float(t[measure].sum()), len(t)
    small = rule.suppress_up_to
    shown_t, shown_c = headline(n_t, rule), headline(len(c), rule)
    hidden = Comparison(measure, COMPARED[measure], shown_t, shown_c, "c", "c", "c", "c", "c", "c")
    # Shown only when each group has more than the rule's small count of both outcomes.
    if min(yes_t, n_t - yes_t, c[measure].sum(), len(c) - c[measure].sum()) <= small:
        return hidden
    w = c["weight"]
    p_t = yes_t / n_t
    p_c = float((w * c[measure]).sum() / w.sum())
    n_eff = float(w.sum() ** 2 / (w ** 2).sum())
    var_c = float(((w ** 2) * (c[measure] - p_c) ** 2).sum() / w.sum() ** 2)
    se = math.sqrt(p_t * (1 - p_t) / n_t + var_c)
    diff = p_t - p_c
    return Comparison(measure, COMPARED[measure], shown_t, shown_c, _pct(p_t), [_pct(v) for v in wilson(yes_t, n_t)],
                      _pct(p_c), [_pct(v) for v in wilson(p_c * n_eff, n_eff)], _pct(diff),
                      [_pct(diff - Z * se), _pct(diff + Z * se)])


def compare(units: pd.DataFrame, rule: Rule = CIN) -> tuple[list[Comparison], dict]:
    """Matched comparisons for each outcome, and how many placed units were matched."""
    strata = ["term", "att_band", "susp_before", "sen", "age_band", "csc_before"]
    if units.empty:
        return [], {"placed": 0, "matched": 0}
    key = units[strata].astype(str).agg("|".join, axis=1)
    units = units.assign(_s=key)
    sizes = units.groupby(["_s", "placed"]).size().unstack(fill_value=0)
    for col in (0, 1):
        if col not in sizes:
            sizes[col] = 0
    both = sizes[(sizes[0] > 0) & (sizes[1] > 0)]
    matched = units[units._s.isin(both.index)].copy()
    ratio = (both[1] / both[0]).to_dict()
    matched["weight"] = [1.0 if p == 1 else ratio[s] for s, p in zip(matched._s, matched.placed)]
    placed = int((units.placed == 1).sum())
    n_matched = int((matched.placed == 1).sum())
    summary = {"placed": headline(placed, rule), "matched": headline(n_matched, rule)}
    return [_one(matched, m, rule) for m in COMPARED], summary
