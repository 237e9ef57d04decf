"""Differencing attacks on published outcome tables: no suppressed count can be recovered.

The attacker is stronger than any real reader: they know every published cell and every
row, column and grand total exactly (before rounding), and that a suppressed count is at
least 1 (zeros are shown). For each suppressed cell the test constructs two whole-number
tables, each consistent with everything the attacker knows, that differ in that cell: a
proof, by example, that it is not determined. It also checks the linear system of
published margins alone never pins a suppressed cell.

The headline (the number of placements, published as a one-cell table of its own) is attacked
too: the attacker knows it exactly, alongside every table of the same placements.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from linkage.outcomes.disclosure import CIN, ONS_10_5, headline, protect

counts = st.one_of(st.just(0), st.integers(1, 5), st.integers(6, 12), st.integers(13, 80))
tables = st.integers(1, 5).flatmap(lambda r: st.integers(1, 4).flatmap(
    lambda c: st.lists(st.lists(counts, min_size=c, max_size=c), min_size=r, max_size=r)))


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


def check_protected(cells, rule, with_headline=False):
    """Attack one protected table; ``with_headline``: its grand total is also published on its own."""
    g = full_grid(cells)
    grand = (g.shape[0] - 1, g.shape[1] - 1)
    published = protect(cells, rule)
    if with_headline:
        head = headline(int(g[grand]), rule)
        published = protect(cells, rule, keep={grand} if head != "c" else frozenset())
        if head != "c" and published.kept:
            # The headline is the grand total, rounded as a total; the attacker has it exactly.
            assert grand not in published.suppressed and head == rule.round(int(g[grand]), total=True)
        else:
            # Suppressed, or the table could not be protected around it: then the service hides
            # the headline too (aggregate.outcome_tables), so the grand total stays unknown.
            assert head == "c" or not published.kept
    hidden = sorted(published.suppressed)
    rows, cols = g.shape
    # Nothing small is shown, zeros are shown, and nothing hidden is zero.
    for i in range(rows):
        for j in range(cols):
            if (i, j) not in published.suppressed:
                assert not 1 <= g[i, j] <= rule.suppress_up_to
            else:
                assert g[i, j] >= 1
    if not hidden:
        return
    a, b = attacker_system(g, hidden)
    rank = np.linalg.matrix_rank(a)
    for k, p in enumerate(hidden):
        unit = np.zeros(len(hidden))
        unit[k] = 1
        # Differencing: no combination of the published lines isolates this cell.
        assert np.linalg.matrix_rank(np.vstack([a, unit])) > rank, f"{p} is a combination of the margins"
        lo, hi = witness(a, b, k, len(hidden), 1), witness(a, b, k, len(hidden), -1)
        values = []
        for res in (lo, hi):
            if res is None:
                continue
            x = np.round(res.x)
            assert np.allclose(res.x, x, atol=1e-6), "the bounds of a table's cell are whole numbers"
            assert np.allclose(a @ x, b) and (x >= 1).all(), "a witness table must fit everything published"
            values.append(x[k])
        assert len(values) < 2 or values[0] != values[1], f"cell {p} = {g[p]} is recoverable exactly"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_no_suppressed_cin_cell_can_be_recovered(cells):
    check_protected(cells, CIN)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_no_suppressed_ons_cell_can_be_recovered(cells):
    check_protected(cells, ONS_10_5)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_no_suppressed_cell_can_be_recovered_with_the_headline_known(cells):
    check_protected(cells, CIN, with_headline=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_no_suppressed_ons_cell_can_be_recovered_with_the_headline_known(cells):
    check_protected(cells, ONS_10_5, with_headline=True)


def test_the_headline_would_undo_the_old_suppression():
    """The attack is real: protected without knowing the total is published, the table hides its
    total, and the headline (the exact total) gives a suppressed cell straight back."""
    cells = [[0, 23], [5, 0]]
    old = protect(cells, CIN)
    assert (2, 2) in old.suppressed and headline(28) == 30
    g = full_grid(cells)
    hidden = sorted(old.suppressed - {(2, 2)})        # the headline makes the total known
    a, b = attacker_system(g, hidden)
    k = hidden.index((1, 0))
    assert round(witness(a, b, k, len(hidden), 1).fun) == round(-witness(a, b, k, len(hidden), -1).fun) == 5
    # Protected knowing the headline: the total stays published and the 5 cannot be recovered.
    check_protected(cells, CIN, with_headline=True)


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


def test_primary_suppression_alone_would_leak():
    """The attack is real: with only the small cells hidden, a margin gives one straight back."""
    g = full_grid([[3, 40], [20, 30]])
    a, b = attacker_system(g, [(0, 0)])
    res = witness(a, b, 0, 1, 1)
    assert round(res.fun) == 3


def test_published_form_follows_the_rule():
    p = protect([[3, 40, 12], [20, 30, 8], [1, 0, 50]], CIN)
    flat = [v for row in p.cells for v in row] + list(p.row_totals) + list(p.col_totals) + [p.total]
    assert all(v == "c" or v == 0 or v > 5 for v in flat)
    assert all(v == "c" or v % 10 == 0 for v in [*p.row_totals, *p.col_totals, p.total])
    q = protect([[12, 40, 17]], ONS_10_5)
    assert all(v == "c" or v % 5 == 0 for row in q.cells for v in row)
    assert 0 in [v for row in p.cells for v in row]     # a zero is shown
