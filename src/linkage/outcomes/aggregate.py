"""Per-placement measures into published tables, every count through disclosure control.

Nothing here carries a child: tables are counts by group, and the rates and percentages
shown are only those whose counts are themselves published (a suppressed count's
percentage or mean would give it back).

Every figure of every breakdown and cohort is decided once (``Release``, in
``linkage.outcomes.release``): a request selects figures and protects nothing of its own, so
requests cannot be differenced against each other. The number of placements is published as a
headline, a one-cell table of its own (``HEADLINE``), kept unless it is itself small
(docs/outcomes.md, "Disclosure control").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from linkage.outcomes.disclosure import CIN, SUPPRESSED, Rule
from linkage.outcomes.measures import MEASURES, RATES
from linkage.outcomes.release import COUNT, NEXT_PLACES, PROPORTIONS, RATE_SUM, RATED, STATES, TYPES, Release

__all__ = ["DIMENSIONS", "HEADLINE", "NEXT_PLACES", "PublishedTable", "LONG_HEADER", "Release", "as_text", "long_rows",
           "outcome_tables"]

DIMENSIONS = {"setting": "AP setting", "placement_type": "placement type", "cohort": "cohort (year of entry)",
              "age_band": "age at entry", "sen_status": "SEN before entry",
              "social_care": "social care before entry"}
HEADLINE = "placements_total"


@dataclass(frozen=True)
class PublishedTable:
    key: str
    title: str
    by: str
    columns: list[str]
    groups: list[str]
    cells: list[list]             # counts (or "c") per group and column
    row_totals: list
    col_totals: list
    total: object
    derived_name: str = ""        # a percentage or mean per group, shown only from published counts
    derived: list | None = None
    rule: str = CIN.name

    def as_dict(self) -> dict:
        return asdict(self)


def _table(release: Release, key: str, title: str, by: str, cohort: str | None, groups: list[str],
           column: str | list[str], columns: list[str], kind: int = COUNT) -> PublishedTable:
    """One table as the release shows it. ``column``: the attribute the columns are values of, or
    (attendance) one attribute per column, each counted where it is 1; ``kind``: how totals count."""
    where = [("cohort", cohort)] if cohort else []

    def col(j: int) -> list:
        return [(column[j], 1)] if isinstance(column, list) else [(column, columns[j])]

    cells = [[release.shown(COUNT, [(by, g), *col(j), *where], total=False) for j in range(len(columns))]
             for g in groups]
    rows = [release.shown(kind, [(by, g), *where], total=True) for g in groups]
    cols = [release.shown(COUNT, [*col(j), *where], total=True) for j in range(len(columns))]
    return PublishedTable(key, title, by, list(columns), groups, cells, rows, cols,
                          release.shown(kind, where, total=True), rule=release.rule.name)


def _proportion(release: Release, frame: pd.DataFrame, by: str, cohort: str | None, groups: list[str],
                measure: str) -> PublishedTable:
    t = _table(release, measure, MEASURES[measure], by, cohort, groups, measure, list(STATES))
    pct = []
    for g, shown in zip(groups, t.cells):
        rows = frame[frame[by] == g][measure]
        yes, known = int((rows == "yes").sum()), int(rows.isin(["yes", "no"]).sum())
        ok = shown[0] != SUPPRESSED and shown[1] != SUPPRESSED and known > 0
        pct.append(round(100 * yes / known, 1) if ok else (SUPPRESSED if known else None))
    return PublishedTable(**{**t.as_dict(), "derived_name": "% yes of known", "derived": pct})


def _attendance(release: Release, df: pd.DataFrame, frame: pd.DataFrame, by: str, cohort: str | None,
                groups: list[str]) -> PublishedTable:
    t = _table(release, "attendance", "children with an attendance rate, before / during / after", by, cohort,
               groups, list(RATED), ["before", "during", "after"], kind=RATE_SUM)
    means = []
    for g, shown in zip(groups, t.cells):
        rows = df.loc[frame.index[frame[by] == g]]
        means.append([round(100 * float(rows[r].mean()), 1) if s not in (SUPPRESSED, 0)
                      else (SUPPRESSED if s == SUPPRESSED else None) for r, s in zip(RATES, shown)])
    return PublishedTable(**{**t.as_dict(), "derived_name": "mean attendance % (before, during, after)",
                             "derived": means})


def outcome_tables(df: pd.DataFrame, by: str, rule: Rule = CIN, release: Release | None = None,
                   cohort: str | None = None) -> list[PublishedTable]:
    """Every published table for one breakdown and cohort (None: all years): placements,
    attendance, each measure, where next, and the headline (the number of placements,
    ``HEADLINE``), last.

    ``df``: every placement, all cohorts. What is shown is decided by ``release`` (built from
    ``df`` when not given), once for every breakdown and cohort, so no two requests can be
    differenced (docs/outcomes.md, "Disclosure control"); this only selects figures."""
    if by not in DIMENSIONS:
        raise ValueError(f"cannot break down by {by!r}; choose one of {sorted(DIMENSIONS)}")
    release = release if release is not None else Release(df, rule)
    frame = release.frame
    if cohort:
        frame = frame[frame["cohort"] == str(cohort)]
    groups = sorted(frame[by].unique())
    data = release.df
    tables = [_table(release, "placements", "placements by type", by, cohort, groups, "placement_type", list(TYPES)),
              _attendance(release, data, frame, by, cohort, groups),
              *(_proportion(release, frame, by, cohort, groups, m) for m in PROPORTIONS),
              _table(release, "next_place", "where children went next", by, cohort, groups, "next_place",
                     list(NEXT_PLACES))]
    head = release.shown(COUNT, [("cohort", cohort)] if cohort else [], total=True)
    tables.append(PublishedTable(HEADLINE, "AP placements (headline: a total of its own)", by, ["placements"], [],
                                 [], [], [head], head, rule=release.rule.name))
    return tables


def long_rows(tables, as_at, cohort: str | None) -> list[list]:
    """Every published figure as one row: table, breakdown, group, column, value, rule, as at, cohort.

    For analysts' CSVs (the report's and the web page's); takes published tables (this module's
    or the API's models), so nothing unpublished can reach a row."""
    rows = []
    for t in tables:
        def row(group: str, column: str, value) -> None:
            rows.append([t.key, t.by, group, column, as_text(value), t.rule, as_at.isoformat(), cohort or ""])
        for k, g in enumerate(t.groups):
            for col, v in zip(t.columns, t.cells[k]):
                row(g, col, v)
            row(g, "total", t.row_totals[k])
            if t.derived_name:
                row(g, t.derived_name, t.derived[k])
        if t.key != HEADLINE:
            for col, v in zip(t.columns, t.col_totals):
                row("total", col, v)
        row("total", "total", t.total)
    return rows


LONG_HEADER = ["table", "breakdown", "group", "column", "value", "rule", "as_at", "cohort"]


def as_text(v) -> str:
    """A published figure as written in tables and CSVs: lists (intervals, means) joined by " / "."""
    if v is None:
        return ""
    if isinstance(v, list):
        return " / ".join(as_text(x) for x in v)
    return str(v)
