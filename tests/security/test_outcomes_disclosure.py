"""Differencing attacks on one breakdown's published outcome tables: no suppressed count can be recovered.

The attacker is stronger than any real reader: they know every published cell and every
row, column and grand total exactly (before rounding), and that a suppressed count is at
least 1 (zeros are shown). For each suppressed cell the test finds the least and greatest
whole-number value consistent with everything the attacker knows; they must differ. The
headline (the number of placements, published as a one-cell table of its own) is known
too. Every request together (cohorts, breakdowns, an AP leader's own pupils) is attacked in
``test_outcomes_linked.py``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from linkage.outcomes.disclosure import headline

def full_grid(cells):
    a = np.array(cells, dtype=float)
    g = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    g[:-1, :-1] = a
    g[:-1, -1] = a.sum(1)
    g[-1, :-1] = a.sum(0)
    g[-1, -1] = a.sum()
    return g


def attacker_system(g, hidden):
    """Every line of the published table (rows, columns, the totals row and column) as
    equations in the hidden cells, with what is known moved to the right-hand side."""
    rows, cols = g.shape
    lines = [[(r, j) for j in range(cols - 1)] + [(r, cols - 1, -1)] for r in range(rows)]
    lines += [[(i, c) for i in range(rows - 1)] + [(rows - 1, c, -1)] for c in range(cols)]
    col = {p: k for k, p in enumerate(hidden)}
    a, b = [], []
    for line in lines:
        eq, rhs = np.zeros(len(hidden)), 0.0
        for cell in line:
            i, j, sign = (cell[0], cell[1], cell[2] if len(cell) == 3 else 1)
            if (i, j) in col:
                eq[col[(i, j)]] += sign
            else:
                rhs -= sign * g[i, j]
        a.append(eq)
        b.append(rhs)
    return np.array(a), np.array(b)


def witness(a, b, k, n, sense):
    obj = np.zeros(n)
    obj[k] = sense
    res = linprog(obj, A_eq=a, b_eq=b, bounds=[(1, None)] * n, method="highs")
    return None if res.status == 3 else res      # 3: unbounded, so not determined either


placement_rows = st.lists(st.tuples(st.sampled_from(["pru", "academy", "free", "hospital"]),
                                    st.sampled_from(["short", "long", "new"]),
                                    st.sampled_from(["mainstream school", "another AP setting",
                                                     "no school place known", "still placed"])),
                          min_size=0, max_size=90)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_rows)
def test_published_tables_and_headline_together_leak_nothing(rows):
    """The service's own tables for a breakdown, attacked with the headline: counts by setting
    and type, and by setting and where next, each with every figure published and the headline."""
    import pandas as pd

    from linkage.outcomes.aggregate import HEADLINE, NEXT_PLACES, outcome_tables

    df = pd.DataFrame(rows, columns=["setting", "placement_type", "next_place"])
    for m in ("suspended_1term", "suspended_1year", "excluded_1term", "excluded_1year", "reintegrated",
              "reintegration_sustained", "ehc_started", "missing_after", "referral_1year", "post16_sustained",
              "attendance_before", "attendance_during", "attendance_after"):
        df[m] = None
    published = {t.key: t for t in outcome_tables(df, "setting")}
    head = published[HEADLINE].total
    assert head == headline(len(df))  or head == "c"
    for key, column, values in (("placements", "placement_type", ["short", "long", "new"]),
                                ("next_place", "next_place", list(NEXT_PLACES))):
        t = published[key]
        if not t.groups:
            continue
        cells = [[int(((df.setting == g) & (df[column] == v)).sum()) for v in values] for g in t.groups]
        g = full_grid(cells)
        shown = [[*row, rt] for row, rt in zip(t.cells, t.row_totals)] + [[*t.col_totals, t.total]]
        hidden = sorted((i, j) for i, row in enumerate(shown) for j, v in enumerate(row) if v == "c")
        grand = (len(t.groups), len(values))
        if head != "c":
            assert grand not in hidden and t.total == head     # the table agrees with its headline
        if not hidden:
            continue
        a, b = attacker_system(g, hidden)
        for k, p in enumerate(hidden):
            lo, hi = witness(a, b, k, len(hidden), 1), witness(a, b, k, len(hidden), -1)
            assert lo is None or hi is None or round(lo.fun) != round(-hi.fun), (key, p, g[p])
