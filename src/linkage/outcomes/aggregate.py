"""Per-placement measures into published tables, every count through disclosure control.

Nothing here carries a child: tables are counts by group, and the rates and percentages
shown are only those whose counts are themselves published (a suppressed count's
percentage or mean would give it back).

The number of placements is published as a headline, a one-cell table of its own
(``HEADLINE``), so it survives secondary suppression; every table of the same placements is
protected knowing that total exactly (docs/outcomes.md, "Disclosure control").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from linkage.outcomes.disclosure import CIN, SUPPRESSED, Rule, headline, protect
from linkage.outcomes.measures import MEASURES, RATES

__all__ = ["DIMENSIONS", "HEADLINE", "NEXT_PLACES", "PublishedTable", "LONG_HEADER", "as_text", "long_rows", "outcome_tables"]

DIMENSIONS = {"setting": "AP setting", "placement_type": "placement type", "cohort": "cohort (year of entry)",
              "age_band": "age at entry", "sen_status": "SEN before entry",
              "social_care": "social care before entry"}
NEXT_PLACES = ("mainstream school", "another AP setting", "special or other school",
               "post-16 education, employment or training", "not in education, employment or training",
               "no school place known", "not yet known", "still placed")
PROPORTIONS = [m for m in MEASURES if m not in RATES]
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


def _counts(df: pd.DataFrame, by: str, column: str, values: list) -> tuple[list[str], list[list[int]]]:
    """Counts per group (as text, sorted) and value, in one pass whatever the number of groups."""
    keys = df[by].dropna().astype(str)
    groups = sorted(keys.unique())
    counts = pd.crosstab(keys, df.loc[keys.index, column]) if len(keys) else pd.DataFrame()
    counts = counts.reindex(index=groups, columns=values, fill_value=0)
    return groups, [[int(v) for v in row] for row in counts.itertuples(index=False)]


class _TotalNotKept(Exception):
    """A table could not be protected around the published headline total."""


def _published(key: str, title: str, by: str, columns: list[str], groups: list[str], table: list[list[int]],
               rule: Rule, hide: frozenset[str] = frozenset(), keep_total: bool = False) -> PublishedTable:
    """``hide``: group totals (and "total", the grand total) suppressed in any table of the same placements.
    ``keep_total``: the grand total is published as the headline, so the reader knows it."""
    if not groups:
        return PublishedTable(key, title, by, columns, [], [], [], [0] * len(columns), 0, rule=rule.name)
    force = {(i, len(columns)) for i, g in enumerate(groups) if g in hide}
    if "total" in hide:
        force.add((len(groups), len(columns)))
    p = protect(table, rule, force, keep={(len(groups), len(columns))} if keep_total else frozenset())
    if not p.kept:
        raise _TotalNotKept(key)
    return PublishedTable(key, title, by, columns, groups, p.cells, p.row_totals, p.col_totals, p.total,
                          rule=rule.name)


def _proportion(df: pd.DataFrame, by: str, measure: str, rule: Rule, hide: frozenset[str],
                keep_total: bool) -> PublishedTable:
    state = df[measure].map(lambda v: "yes" if v == 1 else ("no" if v == 0 else "not yet known"))
    frame = df.assign(_state=state)
    cols = ["yes", "no", "not yet known"]
    groups, table = _counts(frame, by, "_state", cols)
    t = _published(measure, MEASURES[measure], by, cols, groups, table, rule, hide, keep_total)
    pct = []
    for (yes, no, _), shown in zip(table, t.cells):
        ok = shown[0] != "c" and shown[1] != "c" and yes + no > 0
        pct.append(round(100 * yes / (yes + no), 1) if ok else ("c" if yes + no else None))
    return PublishedTable(**{**t.as_dict(), "derived_name": "% yes of known", "derived": pct})


def _attendance(df: pd.DataFrame, by: str, rule: Rule) -> PublishedTable:
    groups = sorted(str(g) for g in df[by].dropna().unique())
    table = [[int(df.loc[df[by].astype(str) == g, r].notna().sum()) for r in RATES] for g in groups]
    t = _published("attendance", "children with an attendance rate, before / during / after", by,
                   ["before", "during", "after"], groups, table, rule)
    means = []
    for g, shown in zip(groups, t.cells):
        rows = df[df[by].astype(str) == g]
        means.append([round(100 * float(rows[r].mean()), 1) if s not in ("c", 0) else ("c" if s == "c" else None)
                      for r, s in zip(RATES, shown)])
    return PublishedTable(**{**t.as_dict(), "derived_name": "mean attendance % (before, during, after)",
                             "derived": means})


def _hidden_totals(t: PublishedTable) -> set[str]:
    out = {g for g, v in zip(t.groups, t.row_totals) if v == "c"}
    return out | ({"total"} if t.total == "c" else set())


def outcome_tables(df: pd.DataFrame, by: str, rule: Rule = CIN) -> list[PublishedTable]:
    """Every published table for one breakdown: placements, attendance, each measure, where next,
    and the headline (the number of placements, ``HEADLINE``), last.

    The placements table, each measure's table and the where-next table share their row totals
    (placements per group) and grand total; a total any of them hides is hidden in all, so
    one table's total cannot undo another's suppression. The grand total is the headline:
    published unless the rule suppresses it, and then every table is protected with it known.
    If some table cannot be, the headline is hidden too."""
    if by not in DIMENSIONS:
        raise ValueError(f"cannot break down by {by!r}; choose one of {sorted(DIMENSIONS)}")
    head = headline(len(df), rule)
    try:
        tables = _shared_tables(df, by, rule, keep_total=head != SUPPRESSED)
    except _TotalNotKept:
        head = SUPPRESSED
        tables = _shared_tables(df, by, rule, keep_total=False, hide=frozenset({"total"}))
    total = PublishedTable(HEADLINE, "AP placements (headline: a total of its own)", by, ["placements"], [], [],
                           [], [head], head, rule=rule.name)
    return [tables[0], _attendance(df, by, rule), *tables[1:], total]


def _shared_tables(df: pd.DataFrame, by: str, rule: Rule, keep_total: bool,
                   hide: frozenset[str] = frozenset()) -> list[PublishedTable]:
    types = ["short", "long", "new"]
    builders = {"placements": lambda hide: _published("placements", "placements by type", by, types,
                                                      *_counts(df, by, "placement_type", types), rule, hide,
                                                      keep_total)}
    for m in PROPORTIONS:
        builders[m] = lambda hide, m=m: _proportion(df, by, m, rule, hide, keep_total)
    builders["next_place"] = lambda hide: _published("next_place", "where children went next", by,
                                                     list(NEXT_PLACES), *_counts(df, by, "next_place",
                                                                                 list(NEXT_PLACES)), rule, hide,
                                                     keep_total)
    done: dict[str, PublishedTable] = {}
    while True:
        for key, build in builders.items():
            # A table already hiding every total to be hidden stays as it is.
            if key not in done or not hide <= _hidden_totals(done[key]) | _absent(done[key]):
                done[key] = build(hide)
        wider = hide.union(*(_hidden_totals(t) for t in done.values()))
        if wider == hide:
            break
        hide = frozenset(wider)
    return list(done.values())


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


def _absent(t: PublishedTable) -> set[str]:
    """Totals a table cannot show other than as they are: zero ones (nothing to hide)."""
    out = {g for g, v in zip(t.groups, t.row_totals) if v == 0}
    return out | ({"total"} if t.total == 0 else set())
