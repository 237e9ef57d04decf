"""School terms as integers, so "two terms before" is arithmetic, in SQL and in Python.

A term index is ``3 * Y + k`` for the academic year starting in September of ``Y``,
``k`` 0 autumn (1 Sep - 31 Dec), 1 spring (1 Jan - 31 Mar), 2 summer (1 Apr - 31 Aug).
The DfE's census terms differ by the Easter holiday; these fixed dates keep windows
comparable across years and are stated in docs/outcomes.md.
"""

from __future__ import annotations

from datetime import date

__all__ = ["SEASONS", "academic_year", "date_sql", "term_end", "term_end_sql", "term_label", "term_of",
           "term_of_date_sql",
           "term_of_label_sql", "term_start"]

SEASONS = ("Autumn", "Spring", "Summer")


def date_sql(d: date) -> str:
    """A date as an SQL literal; only ever from a ``date``, so nothing a caller typed reaches SQL."""
    if not isinstance(d, date):
        raise TypeError("a date is needed")
    return f"DATE '{d.isoformat()}'"


def term_of(d: date) -> int:
    if d.month >= 9:
        return 3 * d.year
    return 3 * (d.year - 1) + (1 if d.month <= 3 else 2)


def term_start(idx: int) -> date:
    y, k = divmod(idx, 3)
    return (date(y, 9, 1), date(y + 1, 1, 1), date(y + 1, 4, 1))[k]


def term_end(idx: int) -> date:
    y, k = divmod(idx, 3)
    return (date(y, 12, 31), date(y + 1, 3, 31), date(y + 1, 8, 31))[k]


def academic_year(idx: int) -> str:
    y = idx // 3
    return f"{y}/{(y + 1) % 100:02d}"


def term_label(idx: int) -> str:
    """As the school census writes it: ``2025/26 Autumn``."""
    return f"{academic_year(idx)} {SEASONS[idx % 3]}"


def term_of_date_sql(d: str) -> str:
    return (f"(CASE WHEN month({d}) >= 9 THEN 3 * year({d}) WHEN month({d}) <= 3 THEN 3 * (year({d}) - 1) + 1 "
            f"ELSE 3 * (year({d}) - 1) + 2 END)")


def term_of_label_sql(label: str) -> str:
    """``2025/26 Autumn`` -> its index; NULL for a label in any other form."""
    season = f"lower(trim(split_part({label}, ' ', 2)))"
    return (f"(CASE WHEN regexp_matches({label}, '^\\s*[0-9]{{4}}/[0-9]{{2}} +[A-Za-z]+\\s*$') THEN "
            f"3 * CAST(substr(trim({label}), 1, 4) AS INTEGER) + "
            f"CASE {season} WHEN 'autumn' THEN 0 WHEN 'spring' THEN 1 WHEN 'summer' THEN 2 END END)")


def term_end_sql(idx: str) -> str:
    y = f"CAST(floor(({idx}) / 3) AS INTEGER)"
    return (f"(CASE ({idx}) % 3 WHEN 0 THEN make_date({y}, 12, 31) WHEN 1 THEN make_date({y} + 1, 3, 31) "
            f"ELSE make_date({y} + 1, 8, 31) END)")
