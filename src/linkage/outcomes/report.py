"""The outcomes report: HTML and PDF with a table behind every chart, and CSV for analysts.

The HTML and PDF say groups and placement types in words, as the pages do (``outcomes.words``);
the CSVs keep the codes.

Every figure drawn or written comes from the published (protected) tables: a chart never
shows a value its table hides. Charts by matplotlib (Agg); the PDF by matplotlib's
PdfPages, so nothing beyond PyPI wheels is needed.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# Text in a figure is text: with math on, a "$...$" in a name (an organisation, a person's email from
# the identity provider) is typeset as TeX: an unknown command fails the whole PDF (the DPO's subject
# access report), and \phantom{...} makes the name invisible in it.
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from linkage.files import private_dir, write_private  # noqa: E402
from linkage.outcomes.aggregate import DIMENSIONS, HEADLINE, LONG_HEADER, PublishedTable  # noqa: E402
from linkage.outcomes.aggregate import as_text as _cell  # noqa: E402
from linkage.outcomes.aggregate import long_rows  # noqa: E402
from linkage.outcomes.build import Outcomes  # noqa: E402
from linkage.outcomes.comparison import LIMITS  # noqa: E402
from linkage.outcomes.measures import ATTAINMENT  # noqa: E402
from linkage.outcomes.words import group, placement  # noqa: E402
from linkage.safetext import write_private_csv  # noqa: E402

__all__ = ["pdf_pages", "text_block", "wrap", "write_report"]

_MISSING = "a missing bar: suppressed (c), or not yet known; the table below gives every published figure"
EXCLUSION_KEYS = ("suspended_1term", "suspended_1year", "excluded_1term", "excluded_1year")


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


def _legend(ax, size: int) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=size)


def _groups(t: PublishedTable) -> list[str]:
    """A table's groups as a reader says them (``outcomes.words``), each as wrapped chart labels."""
    return ["\n".join(textwrap.wrap(str(group(g, t.by)), 24)) for g in t.groups]


def _attendance_chart(o: Outcomes):
    t = next(t for t in o.tables if t.key == "attendance")
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / 3
    for k, label in enumerate(("before", "during", "after")):
        ax.bar([i + k * width for i in range(len(t.groups))], [_num(m[k]) for m in (t.derived or [])], width,
               label=label)
    ax.set_xticks([i + width for i in range(len(t.groups))], _groups(t), rotation=15, fontsize=8)
    ax.set_ylabel("mean attendance %")
    ax.set_ylim(0, 100)
    ax.set_title("Attendance before, during and after AP")
    ax.set_xlabel(_MISSING, fontsize=7)
    _legend(ax, 8)
    fig.tight_layout()
    return fig, [t]


def _exclusion_chart(o: Outcomes):
    tables = [t for t in o.tables if t.key in EXCLUSION_KEYS]
    groups = tables[0].groups if tables else []
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(1, len(tables))
    for k, t in enumerate(tables):
        ax.bar([i + k * width for i in range(len(groups))], [_num(p) for p in (t.derived or [])], width,
               label=t.title)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], _groups(tables[0]) if tables else [],
                  rotation=15, fontsize=8)
    ax.set_ylabel("% of those known")
    ax.set_title("Suspensions and permanent exclusions after leaving AP")
    ax.set_xlabel(_MISSING, fontsize=7)
    _legend(ax, 7)
    fig.tight_layout()
    return fig, tables


def _next_chart(o: Outcomes):
    t = next(t for t in o.tables if t.key == "next_place")
    fig, ax = plt.subplots(figsize=(8, 3.8))
    bottom = [0.0] * len(t.groups)
    for k, place in enumerate(t.columns):
        values = [_num(row[k]) if row[k] != "c" else 0.0 for row in t.cells]
        if any(values):
            ax.bar(_groups(t), values, bottom=bottom, label=place)
            bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("placements (suppressed cells not drawn)")
    ax.set_title("Where children went next")
    ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    _legend(ax, 7)
    fig.tight_layout()
    return fig, [t]


CHARTS = (_attendance_chart, _exclusion_chart, _next_chart)


def _table_rows(t: PublishedTable) -> list[list[str]]:
    if t.key == HEADLINE:
        return [["", *t.columns], ["all AP placements", _cell(t.total)]]
    head = [DIMENSIONS[t.by], *map(placement, t.columns), "total"] + ([t.derived_name] if t.derived_name else [])
    rows = [head]
    for k, g in enumerate(t.groups):
        rows.append([str(group(g, t.by)), *map(_cell, t.cells[k]), _cell(t.row_totals[k])]
                    + ([_cell(t.derived[k])] if t.derived_name else []))
    rows.append(["total", *map(_cell, t.col_totals), _cell(t.total)] + ([""] if t.derived_name else []))
    return rows


def _html_table(t: PublishedTable) -> str:
    rows = _table_rows(t)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<h3>{html.escape(t.title)}</h3><table><tr>{head}</tr>{body}</table>"


def _comparison_rows(o: Outcomes) -> list[list[str]]:
    rows = [["outcome", "placed n", "comparison n", "placed %", "95% CI", "comparison %", "95% CI",
             "difference (points)", "95% CI"]]
    for c in o.comparisons:
        rows.append([c.label, *(_cell(v) for v in (c.placed_n, c.comparison_n, c.placed_pct, c.placed_ci,
                                                   c.comparison_pct, c.comparison_ci, c.difference_pct,
                                                   c.difference_ci))])
    return rows


def _rule_note(o: Outcomes) -> str:
    return (f"Disclosure control: {o.rule.citation}. 'c': suppressed. Figures as at {o.as_at.isoformat()}; "
            "'not yet known': the measure's window had not closed.")


def _headline(o: Outcomes) -> str:
    return (f"AP placements: {_cell(o.placements)} (a published total of its own, rounded as a total; "
            "every table is protected knowing it).")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode()


def _write_html(o: Outcomes, path: Path, figures) -> None:
    title = f"AP outcomes by {DIMENSIONS[o.by]}" + (f", cohort {o.cohort}" if o.cohort else "")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}table{border-collapse:collapse;"
             "margin-bottom:1rem}td,th{border:1px solid #999;padding:2px 6px;font-size:.85rem}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p><strong>{html.escape(_headline(o))}</strong> "
             f"{html.escape(_rule_note(o))}</p><p><strong>Not measured: attainment.</strong> "
             f"{html.escape(ATTAINMENT)}</p>"]
    for fig, tables in figures:
        parts.append(f"<img alt='{html.escape(fig.axes[0].get_title())}' src='data:image/png;base64,{_png(fig)}'>")
        parts += [_html_table(t) for t in tables]
    parts.append("<h2>All published tables</h2>")
    shown = {id(t) for _, ts in figures for t in ts}
    parts += [_html_table(t) for t in o.tables if id(t) not in shown]
    rows = _comparison_rows(o)
    parts.append("<h2>Compared with similar children not placed</h2>"
                 f"<p>Matched placements: {html.escape(_cell(o.matching.get('matched')))} of "
                 f"{html.escape(_cell(o.matching.get('placed')))}.</p><table>"
                 + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                 + f"</table><p><strong>What this cannot prove.</strong> {html.escape(LIMITS)}</p>")
    parts.append("</body></html>")
    write_private(path, "".join(parts))


def _text_block(title: str, rows: list[list[str]]) -> list[str]:
    """A table as fixed-width lines: drawn as one text per page, far faster than a table artist."""
    widths = [min(34, max(len(r[k]) if k < len(r) else 0 for r in rows)) for k in range(len(rows[0]))]
    fmt = lambda r: "  ".join(c[:34].ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return [title, fmt(rows[0]), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows[1:]), ""]


_PAGE_LINES = 58


def _pdf_pages(pdf: PdfPages, blocks: list[list[str]], note: str) -> None:
    """Table blocks packed onto A4 landscape pages, each page with the disclosure note."""
    pages: list[list[str]] = [[]]
    for block in blocks:
        if pages[-1] and len(pages[-1]) + len(block) > _PAGE_LINES:
            pages.append([])
        pages[-1] += block
    for lines in pages:
        fig = plt.figure(figsize=(11.7, 8.3))
        fig.text(0.03, 0.97, "\n".join(lines), family="monospace", fontsize=6.5, va="top")
        fig.text(0.03, 0.02, "\n".join(_wrap(note, 180)), fontsize=7)
        pdf.savefig(fig)
        plt.close(fig)


def _write_pdf(o: Outcomes, path: Path, figures) -> None:
    note = _rule_note(o)
    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        _pdf_pages(pdf, [[f"AP outcomes by {DIMENSIONS[o.by]}" + (f", cohort {o.cohort}" if o.cohort else ""), "",
                          *_wrap(_headline(o)), "", *_wrap("Not measured: attainment. " + ATTAINMENT), ""]], note)
        for fig, tables in figures:
            pdf.savefig(fig)
            _pdf_pages(pdf, [_text_block(t.title, _table_rows(t)) for t in tables], note)
        shown = {id(t) for _, ts in figures for t in ts}
        rest = [_text_block(t.title, _table_rows(t)) for t in o.tables if id(t) not in shown]
        comparison = _text_block("Compared with similar children not placed", _comparison_rows(o))
        _pdf_pages(pdf, rest + [comparison + _wrap("What this cannot prove. " + LIMITS)], note)
    write_private(path, buf.getvalue())


def _wrap(text: str, width: int = 150) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + [line]


def _write_csv(o: Outcomes, out: Path) -> list[Path]:
    """Long-form tables and the comparison; written through the one CSV path (formula-safe, 0600)."""
    write_private_csv(out / "outcomes_tables.csv", LONG_HEADER, long_rows(o.tables, o.as_at, o.cohort))
    comparison = _comparison_rows(o)
    write_private_csv(out / "outcomes_comparison.csv", comparison[0], comparison[1:])
    return [out / "outcomes_tables.csv", out / "outcomes_comparison.csv"]


def write_report(o: Outcomes, out: Path) -> list[Path]:
    """outcomes.html, outcomes.pdf and two CSVs in ``out`` (created private)."""
    out = private_dir(Path(out))
    figures = [chart(o) for chart in CHARTS]
    try:
        _write_html(o, out / "outcomes.html", figures)
        _write_pdf(o, out / "outcomes.pdf", figures)
    finally:
        for fig, _ in figures:
            plt.close(fig)
    return [out / "outcomes.html", out / "outcomes.pdf", *_write_csv(o, out)]


# The text-page PDF, for other reports (the DPO's subject-access report) to share.
pdf_pages, text_block, wrap = _pdf_pages, _text_block, _wrap
