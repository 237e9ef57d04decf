"""Bar charts drawn on the server as SVG: no script, no inline style (the pages' CSP allows neither).

A chart is worked out here as geometry (``Chart``: rows of labelled bars) and drawn by the
``chart`` macro in ``templates/outcomes_macros.html``; colours come from classes in
``static/linkage.css``. Every bar is labelled with its series and value in text, so colour
never carries meaning alone, and the table behind each chart gives every published figure.
A suppressed figure (``c``) is never drawn as a bar: its row says "c (suppressed)".
A series label too long for its column ("not in education, employment or training") is
wrapped onto lines of its own, and its row grows to hold them: it is never cut, nor drawn past
the chart's edge.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

__all__ = ["Bar", "Chart", "Group", "attendance_chart", "exclusion_chart", "next_place_chart"]

WIDTH = 720           # the SVG's coordinate width (it scales to its container)
LABEL = 330           # the series label column
BAR_AREA = 320        # the longest bar
ROW = 22              # one bar's row
LINE = 16             # each further line of a wrapped label
# A label's letters at most, a line: the room left of the bars (LABEL - 8) at the label's 14px
# (``.linkage-chart__label``) and 0.6 em a letter, as ``charts.EM_PER_LETTER`` measured Chromium's.
LABEL_LETTERS = int((LABEL - 8) / (14 * 0.6))
GROUP_HEAD = 26       # a group's heading row
EXCLUSIONS = (("suspended_1term", "suspended within a term"), ("suspended_1year", "suspended within a year"),
              ("excluded_1term", "permanently excluded within a term"),
              ("excluded_1year", "permanently excluded within a year"))


@dataclass(frozen=True)
class Bar:
    label: str
    text: str             # the value as read: "72.5%", "12", "c (suppressed)", "no data"
    width: float          # 0 when nothing is drawn
    y: float
    series: int           # colour class index
    lines: tuple[str, ...] = ()     # the label as drawn, a line each (``wrapped``)
    bar_y: float = 0.0    # the bar's row, level with the middle of its label's lines


@dataclass(frozen=True)
class Group:
    name: str
    y: float
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    unit: str
    groups: list[Group]
    height: float
    width: int = WIDTH
    label_width: int = LABEL
    bar_area: int = BAR_AREA
    line: int = LINE


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _text(v, unit: str) -> str:
    if v == "c":
        return "c (suppressed)"
    n = _number(v)
    if n is None:
        return "no data"
    return f"{n:.1f}%" if unit == "%" else f"{int(n):,}"


def _chart(key: str, title: str, description: str, unit: str, groups: list[str], series: list[str],
           values: list[list], top: float | None = None) -> Chart:
    """``values[g][s]``: a published figure, ``c`` or None. Bars scale to ``top`` (or the largest)."""
    numbers = [n for row in values for v in row if (n := _number(v)) is not None]
    top = top or max(numbers, default=0) or 1
    out, y = [], 0.0
    for g, row in zip(groups, values):
        bars, by = [], y + GROUP_HEAD
        for s, (name, v) in enumerate(zip(series, row)):
            n, lines = _number(v), wrapped(name)
            bars.append(Bar(name, _text(v, unit), round(BAR_AREA * max(n, 0) / top, 1) if n else 0.0, by, s,
                            lines, by + LINE * (len(lines) - 1) / 2))
            by += ROW + LINE * (len(lines) - 1)
        out.append(Group(g, y, bars))
        y = by + 8
    return Chart(key, title, description, unit, out, max(y, 1))


def wrapped(label: str) -> tuple[str, ...]:
    """``label`` on as many lines as it needs to fit left of the bars, broken between words."""
    return tuple(textwrap.wrap(label, LABEL_LETTERS)) or (label,)


def _table(report, key: str):
    return next((t for t in report.tables if t.key == key), None)


def attendance_chart(report) -> Chart | None:
    t = _table(report, "attendance")
    if t is None or not t.groups:
        return None
    return _chart("attendance", "Attendance before, during and after AP",
                  "Mean attendance, per cent of possible sessions, in the two terms before a placement, "
                  "during it, and in the two terms after it, for each group.", "%", t.groups,
                  ["before AP", "during AP", "after AP"], [list(d) for d in (t.derived or [])], top=100)


def exclusion_chart(report) -> Chart | None:
    tables = [(_table(report, k), label) for k, label in EXCLUSIONS]
    tables = [(t, label) for t, label in tables if t is not None]
    if not tables or not tables[0][0].groups:
        return None
    groups = tables[0][0].groups
    values = [[(t.derived or [None] * len(groups))[i] for t, _ in tables] for i in range(len(groups))]
    return _chart("exclusions", "Suspensions and permanent exclusions after leaving AP",
                  "Per cent of those whose window had closed who were suspended, or permanently excluded, "
                  "within a term and within a year of leaving, for each group.", "%", groups,
                  [label for _, label in tables], values, top=100)


def next_place_chart(report) -> Chart | None:
    t = _table(report, "next_place")
    if t is None or not t.groups:
        return None
    # Destinations no group has a published count for are left out of the drawing (the table keeps them).
    keep = [j for j in range(len(t.columns)) if any(row[j] not in (0, None) for row in t.cells)]
    return _chart("next_place", "Where children went next",
                  "Number of placements by where the child was a few weeks after leaving, for each group.",
                  "placements", t.groups, [t.columns[j] for j in keep], [[row[j] for j in keep] for row in t.cells])
