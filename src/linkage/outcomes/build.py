"""Run the outcome SQL: for a report from the store, or once at server start into memory.

The server computes placements and comparison units from the store before it lets the
file go (``materialise_outcomes``); requests then aggregate those in-memory rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from linkage.outcomes.aggregate import PublishedTable, Release, outcome_tables
from linkage.outcomes.comparison import Comparison, compare, units_sql
from linkage.outcomes.disclosure import CIN, Rule
from linkage.outcomes.measures import Options, placement_measures_sql
from linkage.outcomes.sources import store_sources

__all__ = ["MEMORY_META", "MEMORY_PLACEMENTS", "MEMORY_UNITS", "Outcomes", "materialise_outcomes", "materialised",
           "outcomes_from", "read_frames"]

MEMORY_PLACEMENTS = "memory.outcome_placements"
MEMORY_UNITS = "memory.outcome_units"
MEMORY_META = "memory.outcome_meta"


@dataclass(frozen=True)
class Outcomes:
    """What may be published for one breakdown: tables and matched comparisons, no child."""

    as_at: date
    by: str
    cohort: str | None
    placements: int | str
    tables: list[PublishedTable]
    comparisons: list[Comparison]
    matching: dict
    rule: Rule


def read_frames(con, opts: Options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-placement measures and comparison units, straight from the store."""
    src = store_sources(con)
    return con.execute(placement_measures_sql(src, opts)).df(), con.execute(units_sql(src, opts)).df()


def materialise_outcomes(con, as_at: date | None = None, reintegration_weeks: int = 6) -> int:
    opts = Options(as_at or date.today(), reintegration_weeks)
    src = store_sources(con)
    con.execute(f"CREATE OR REPLACE TABLE {MEMORY_PLACEMENTS} AS {placement_measures_sql(src, opts)}")
    con.execute(f"CREATE OR REPLACE TABLE {MEMORY_UNITS} AS {units_sql(src, opts)}")
    con.execute(f"CREATE OR REPLACE TABLE {MEMORY_META} AS SELECT ?::DATE AS as_at", [opts.as_at])
    return int(con.execute(f"SELECT count(*) FROM {MEMORY_PLACEMENTS}").fetchone()[0])


def materialised(con) -> tuple[date, pd.DataFrame, pd.DataFrame] | None:
    """What ``materialise_outcomes`` left in memory: (as at, placements, units), or None if it has not run."""
    try:
        as_at = con.execute(f"SELECT as_at FROM {MEMORY_META}").fetchone()[0]
    except duckdb.Error:         # a server started before outcomes existed in memory
        return None
    return as_at, con.execute(f"SELECT * FROM {MEMORY_PLACEMENTS}").df(), con.execute(f"SELECT * FROM {MEMORY_UNITS}").df()


def _cohort_of_term(term: int) -> str:
    y = int(term) // 3
    return f"{y}/{(y + 1) % 100:02d}"


def outcomes_from(placements: pd.DataFrame, units: pd.DataFrame, *, as_at: date, by: str = "setting",
                  cohort: str | None = None, rule: Rule = CIN, release: Release | None = None) -> Outcomes:
    """Aggregate per-placement rows (every cohort's) for one breakdown, optionally one cohort.

    ``release``: what may be shown of every breakdown and cohort, decided once (a server keeps
    one for all requests); built from ``placements`` when not given."""
    if cohort:
        units = units[units.term.map(_cohort_of_term) == cohort] if not units.empty else units
    comparisons, matching = compare(units, rule)
    tables = outcome_tables(placements, by, rule, release=release, cohort=cohort)
    # The number of placements as published: the headline, a one-cell table of its own (last).
    return Outcomes(as_at, by, cohort, tables[-1].total, tables, comparisons, matching, rule)
