"""Statistical disclosure control for published tables, checked by attack rather than hoped.

The outcomes service publishes through ``linkage.outcomes.release`` (every breakdown and cohort
protected together); this module gives the rules, the headline and ``protect``, the
single-table secondary suppression by linear programming, kept for one-off tables.

Default: the DfE's rule for children-in-need statistics ("any number between 1 and 5
inclusive has been suppressed and replaced by 'c'. Secondary suppression has been applied
where necessary"; "totals are rounded to the nearest 10"; Characteristics of children in
need, explore-education-statistics.service.gov.uk). For research exports, ONS's 10-5 rule
(counts below ten suppressed, others rounded to the nearest five; ONS, Comparison of
post-tabular statistical disclosure control methods).

Secondary suppression assumes the strongest reader: one who knows every published cell and
every margin exactly (before rounding) and that a suppressed count is at least 1 (zeros are
shown). A table is a grid with its row totals, column totals and grand total; every one of
those is a cell here. For each suppressed cell the smallest and largest value consistent
with everything published are found by linear programming (the constraints are a network
matrix, so the bounds are whole numbers); while any suppressed cell's bounds meet, a
published non-zero cell in its row or column is suppressed too (one closing a cycle of
suppressed cells first, so they can trade counts among themselves).

A headline (``headline``: the number of placements, published as a one-cell table of its own)
is a total every reader knows. Tables of the same children are then protected with their
grand total *kept* (``protect(..., keep=...)``): it counts as published exactly, so secondary
suppression hides other cells instead, and no difference between the headline and a table
gives a suppressed cell back. Where a table cannot be protected around a kept total, the
caller hides the headline instead (``Protected.kept`` is false).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linprog

__all__ = ["CIN", "ONS_10_5", "RULES", "SUPPRESSED", "Protected", "Rule", "bounds", "headline", "protect"]

SUPPRESSED = "c"


@dataclass(frozen=True)
class Rule:
    name: str
    suppress_up_to: int           # counts 1..this are suppressed (0 is shown)
    total_base: int               # totals rounded to the nearest this (1: not rounded)
    cell_base: int                # other published counts rounded to the nearest this
    citation: str

    def round(self, value: int, total: bool) -> int:
        base = self.total_base if total else self.cell_base
        return int(base * np.floor(value / base + 0.5)) if base > 1 else int(value)


CIN = Rule("dfe_cin", 5, 10, 1, "DfE children in need statistics: counts 1 to 5 shown as c, secondary "
                                 "suppression, totals rounded to the nearest 10")
ONS_10_5 = Rule("ons_10_5", 9, 5, 5, "ONS 10-5 rule: counts below 10 suppressed, others rounded to the nearest 5")
RULES = {r.name: r for r in (CIN, ONS_10_5)}


@dataclass(frozen=True)
class Protected:
    """A table as published: cells, row totals, column totals and grand total, each an int or ``c``."""

    cells: list[list[int | str]]
    row_totals: list[int | str]
    col_totals: list[int | str]
    total: int | str
    suppressed: frozenset[tuple[int, int]]      # positions in the full grid (totals at index R and C)
    rule: str
    kept: bool = True             # every ``keep`` position stayed published and no suppressed cell is determined


def headline(count: int, rule: Rule = CIN) -> int | str:
    """A one-cell total as published: ``c`` when the rule suppresses it, else rounded as a total."""
    return SUPPRESSED if 1 <= int(count) <= rule.suppress_up_to else rule.round(int(count), total=True)


def _grid(cells: list[list[int]]) -> np.ndarray:
    a = np.asarray(cells, dtype=np.int64).reshape(len(cells), -1)
    full = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = a
    full[:-1, -1] = a.sum(axis=1)
    full[-1, :-1] = a.sum(axis=0)
    full[-1, -1] = a.sum()
    return full


def _constraints(shape: tuple[int, int]) -> np.ndarray:
    """One equation per line of the full grid: its cells sum to its total cell."""
    rows, cols = shape
    eqs = []
    for r in range(rows):
        e = np.zeros(shape)
        e[r, :-1], e[r, -1] = 1, -1
        eqs.append(e.ravel())
    for c in range(cols):
        e = np.zeros(shape)
        e[:-1, c], e[-1, c] = 1, -1
        eqs.append(e.ravel())
    return np.array(eqs)


def bounds(grid: np.ndarray, suppressed: set[tuple[int, int]],
           only: set[tuple[int, int]] | None = None) -> dict[tuple[int, int], tuple[float, float]]:
    """For each suppressed cell (or each of ``only``), its least and greatest value given everything else
    (inf: unbounded)."""
    shape = grid.shape
    hidden = sorted(suppressed)
    if not hidden:
        return {}
    index = {p: i for i, p in enumerate(hidden)}
    eqs = _constraints(shape)
    flat = grid.ravel().astype(float)
    mask = np.zeros(flat.size, dtype=bool)
    for r, c in hidden:
        mask[r * shape[1] + c] = True
    a_eq = eqs[:, mask]
    b_eq = -eqs[:, ~mask] @ flat[~mask]
    keep = np.any(a_eq != 0, axis=1)
    a_eq, b_eq = a_eq[keep], b_eq[keep]
    out = {}
    for p in hidden:
        if only is not None and p not in only:
            continue
        obj = np.zeros(len(hidden))
        obj[index[p]] = 1
        lo = linprog(obj, A_eq=a_eq if len(a_eq) else None, b_eq=b_eq if len(a_eq) else None,
                     bounds=[(1, None)] * len(hidden), method="highs")
        hi = linprog(-obj, A_eq=a_eq if len(a_eq) else None, b_eq=b_eq if len(a_eq) else None,
                     bounds=[(1, None)] * len(hidden), method="highs")
        low = lo.fun if lo.status == 0 else float("-inf")
        high = -hi.fun if hi.status == 0 else float("inf")
        out[p] = (low, high)
    return out


def _determined(grid: np.ndarray, suppressed: set[tuple[int, int]],
                free: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Suppressed cells whose value follows from what is published.

    A cell alone in its row or column is determined by that line (no LP needed). Hiding
    more cells only widens what each could be, so a cell once shown free stays free
    (``free``, grown here) and is not checked again."""
    lonely = [p for p in suppressed
              if sum(1 for q in suppressed if q[0] == p[0]) == 1 or sum(1 for q in suppressed if q[1] == p[1]) == 1]
    if lonely:
        return sorted(lonely)
    pinned = []
    for p, (lo, hi) in bounds(grid, suppressed, only=suppressed - free).items():
        if hi - lo < 0.5:
            pinned.append(p)
        else:
            free.add(p)
    return sorted(pinned)


def _partner(grid: np.ndarray, pinned: list[tuple[int, int]], suppressed: set[tuple[int, int]],
             keep: frozenset[tuple[int, int]] = frozenset()) -> tuple[int, int] | None:
    """The next cell to suppress: a published non-zero cell sharing a line with a determined cell,
    preferring one whose other line already has suppressed cells (it closes a cycle, so the
    suppressed cells can trade counts among themselves), then interior cells, then the smallest.
    Any published non-zero cell when those lines have none."""
    rows, cols = grid.shape
    line = {(r, j) for r, _ in pinned for j in range(cols)} | {(i, c) for _, c in pinned for i in range(rows)}
    choices = [p for p in line if p not in suppressed and p not in keep and grid[p] > 0]
    if not choices:
        choices = [(i, j) for i in range(rows) for j in range(cols)
                   if (i, j) not in suppressed and (i, j) not in keep and grid[i, j] > 0]
    if not choices:
        return None

    def closes(p: tuple[int, int]) -> int:
        return sum(1 for q in suppressed if q != p and (q[0] == p[0]) != (q[1] == p[1]))

    return min(choices, key=lambda p: (-closes(p), p[0] == rows - 1 or p[1] == cols - 1, grid[p], p))


def protect(cells: list[list[int]], rule: Rule = CIN, force: set[tuple[int, int]] = frozenset(),
            keep: set[tuple[int, int]] = frozenset()) -> Protected:
    """Suppress, then secondary-suppress until no suppressed cell is determined, then round.

    ``force``: positions in the full grid to suppress as well (a total another table of the
    same children had to hide), so tables cannot be played off against each other.
    ``keep``: positions every reader knows already (a published headline total): never
    suppressed, and counted as known when checking the others. If that cannot be done
    (a kept cell is small or forced, or nothing is left to hide), the table is protected
    without ``keep`` and ``kept`` is false: the caller must then hide what it meant to keep."""
    grid = _grid(cells)
    rows, cols = grid.shape
    keep = frozenset(keep)
    suppressed = {(i, j) for i in range(rows) for j in range(cols) if 1 <= grid[i, j] <= rule.suppress_up_to}
    suppressed |= {p for p in force if grid[p] > 0}
    if keep & suppressed:
        return replace(protect(cells, rule, force), kept=False)
    free: set[tuple[int, int]] = set()
    while True:
        pinned = _determined(grid, suppressed, free)
        if not pinned:
            break
        partner = _partner(grid, pinned, suppressed, keep)
        if partner is None:       # everything non-zero (and not kept) is already hidden
            if keep:
                return replace(protect(cells, rule, force), kept=False)
            break
        suppressed.add(partner)

    def show(i: int, j: int) -> int | str:
        if (i, j) in suppressed:
            return SUPPRESSED
        return rule.round(int(grid[i, j]), total=(i == rows - 1 or j == cols - 1))

    return Protected([[show(i, j) for j in range(cols - 1)] for i in range(rows - 1)],
                     [show(i, cols - 1) for i in range(rows - 1)], [show(rows - 1, j) for j in range(cols - 1)],
                     show(rows - 1, cols - 1), frozenset(suppressed), rule.name)
