"""Charts for the DPO's pages, drawn on the server as SVG (no script, no inline style: the
CSP allows neither). Each chart is an image with a title and a description, and the page
puts the same figures in a table beside it: the table is the record, the chart a view of it."""

from __future__ import annotations

__all__ = ["ALLOWED", "REFUSED", "columns", "hbars"]

ALLOWED, REFUSED = "#1d70b8", "#d4351c"      # GOV.UK blue and red; the legend says which is which


def _scale(top: int, span: float) -> float:
    return span / top if top else 0.0


def hbars(counts, width: int = 640, label_w: int = 230, row: int = 30, limit: int = 15) -> dict:
    """Horizontal bars, allowed then refused, one row per count (the ``limit`` largest)."""
    shown = counts[:limit]
    span = width - label_w - 60
    k = _scale(max((c.total for c in shown), default=0), span)
    bars = []
    for i, c in enumerate(shown):
        a, r = c.allowed * k, c.refused * k
        label = c.key if len(c.key) <= 30 else c.key[:29] + "…"
        bars.append({"label": label, "y": 10 + i * row, "a": round(a, 1), "r": round(r, 1),
                     "x": label_w, "rx": round(label_w + a, 1), "end": round(label_w + a + r + 6, 1),
                     "total": c.total})
    return {"width": width, "height": 20 + len(shown) * row, "bars": bars, "hidden": len(counts) - len(shown)}


def columns(days, width: int = 640, height: int = 220) -> dict:
    """One column per day, allowed below refused, with the largest day's total marked."""
    n = max(len(days), 1)
    plot_h, top_pad, left = height - 50, 20, 50
    step = (width - left - 10) / n
    top = max((d.total for d in days), default=0)
    k = _scale(top, plot_h - top_pad)
    every = max(1, n // 8)
    cols = []
    for i, d in enumerate(days):
        a, r = d.allowed * k, d.refused * k
        base = plot_h
        cols.append({"x": round(left + i * step + 1, 1), "w": round(max(step - 2, 1), 1),
                     "ay": round(base - a, 1), "a": round(a, 1), "ry": round(base - a - r, 1), "r": round(r, 1),
                     "label": d.day.strftime("%-d %b") if i % every == 0 else "",
                     "lx": round(left + i * step + step / 2, 1)})
    return {"width": width, "height": height, "cols": cols, "top": top, "base": plot_h, "left": left,
            "top_y": top_pad}
