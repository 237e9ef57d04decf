"""Coarsened exact matching, its weights and intervals, against a table worked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from linkage.outcomes.comparison import compare, wilson


def units(placed: int, n: int, yes: int, stratum: str) -> list[dict]:
    base = dict(placed=placed, term=6075, att_band=stratum, susp_before=True, sen=0, age_band="11-13",
                csc_before=False, excluded=0, referral=0, mainstream_after_year=0)
    return [{**base, "suspended": int(i < yes)} for i in range(n)]


@pytest.fixture
def table():
    rows = (units(1, 20, 12, "<50") + units(0, 40, 10, "<50")      # stratum 1: controls weigh 20/40 each
            + units(1, 20, 8, "50-79") + units(0, 10, 6, "50-79")  # stratum 2: controls weigh 20/10 each
            + units(1, 6, 3, "80-89"))                             # no control: left out
    return pd.DataFrame(rows)


def test_matched_rates_weights_and_difference(table):
    results, matching = compare(table)
    assert matching == {"placed": 50, "matched": 40}     # 46 and 40, as the rule rounds totals
    s = next(r for r in results if r.measure == "suspended")
    assert (s.placed_n, s.comparison_n) == (40, 50)
    assert s.placed_pct == 50.0                      # 20 of 40
    assert s.comparison_pct == 42.5                  # (10 x 0.5 + 6 x 2) / (40 x 0.5 + 10 x 2)
    assert s.difference_pct == 7.5
    lo, hi = s.difference_ci
    assert lo < 7.5 < hi and lo < 0                  # the interval includes no difference
    assert s.placed_ci == [35.2, 64.8]               # Wilson, 20 of 40


def test_outcomes_with_small_counts_are_not_shown(table):
    results, _ = compare(table)
    excluded = next(r for r in results if r.measure == "excluded")     # no one excluded: 0 "yes"
    assert excluded.placed_pct == "c" and excluded.difference_ci == "c"


def test_wilson_interval():
    lo, hi = wilson(0, 10)
    assert lo == 0 and 0.27 < hi < 0.28
    assert wilson(20, 40) == pytest.approx((0.352, 0.648), abs=1e-3)
