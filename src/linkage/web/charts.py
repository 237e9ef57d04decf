"""Bar charts drawn on the server as SVG geometry, each shown with the table it is drawn from.

No chart library runs in the browser: Splink's own charts are Vega-Lite specifications, and
Vega compiles expressions with ``new Function``, which the pages' Content-Security-Policy
(no ``unsafe-eval``) forbids. The templates draw these shapes (``templates/_charts.html``);
colour comes from classes in ``static/linkage.css``, and every value is also written as text.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bar", "Chart", "bars", "fitted", "signed", "waterfall"]

WIDTH = 640          # the SVG's own units; CSS scales it to the column
LABEL = 340          # room for the labels on the left
VALUE = 70           # room for the value on the right
ROW = 28
# A label's font size (``.linkage-chart__label``, in the SVG's units) and the widest its letters
# run on average in Arial: "Last name and postcode: how common" is 34 letters and 315 units in
# Chromium. A label is cut to the letters that fit (``fitted``): at 260 units of room, written at
# 34 letters whatever their width, the review page's waterfall ran that label off the chart.
FONT, EM_PER_LETTER = 16, 0.6


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str             # the value as written beside the bar
    x: float
    width: float
    y: float
    negative: bool = False


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    height: int
    zero: float | None = None       # where 0 is, for charts with negative values
    label_x: int = LABEL - 8
    value_x: int = WIDTH - VALUE + 8
    width: int = WIDTH


def fitted(label: str, room: float = LABEL - 12) -> str:
    """``label`` cut with an ellipsis to the letters that fit ``room`` units (``EM_PER_LETTER``);
    the table behind every chart gives it whole."""
    most = int(room / (FONT * EM_PER_LETTER))
    return label if len(label) <= most else label[:most - 1].rstrip() + "…"


def bars(items: list[tuple[str, float]], fmt: str = "{:,.0f}") -> Chart:
    """Horizontal bars from 0, one per (label, value), values 0 or more."""
    top = max([v for _, v in items] + [0]) or 1
    span = WIDTH - LABEL - VALUE
    out = [Bar(label, value, fmt.format(value), LABEL, span * value / top, i * ROW + 4)
           for i, (label, value) in enumerate(items)]
    return Chart(out, len(items) * ROW + 8)


def _scale(values: list[float]):
    low, high = min(values + [0.0]), max(values + [0.0])
    high = high if high > low else low + 1
    span = WIDTH - LABEL - VALUE
    return lambda v: LABEL + span * (v - low) / (high - low)


def signed(items: list[tuple[str, float]], fmt: str = "{:+.2f}") -> Chart:
    """Horizontal bars from a zero line, to the left for negative values."""
    x = _scale([v for _, v in items])
    out = []
    for i, (label, value) in enumerate(items):
        left, right = sorted((x(0.0), x(value)))
        out.append(Bar(label, value, fmt.format(value), left, max(right - left, 1.5), i * ROW + 4, value < 0))
    return Chart(out, len(items) * ROW + 8, zero=x(0.0))


def waterfall(steps: list[tuple[str, float, float]]) -> Chart:
    """Splink's waterfall: (label, step's match weight, running total). The first step (the prior)
    and the last (the final score) are drawn from 0; the rest float from the running total before."""
    x = _scale([c for _, _, c in steps])
    out, before = [], 0.0
    for i, (label, weight, total) in enumerate(steps):
        start = 0.0 if i in (0, len(steps) - 1) else before
        end = total if i in (0, len(steps) - 1) else before + weight
        left, right = sorted((x(start), x(end)))
        out.append(Bar(label, weight, f"{weight:+.2f}", left, max(right - left, 1.5), i * ROW + 4, weight < 0))
        before = total
    return Chart(out, len(steps) * ROW + 8, zero=x(0.0))
