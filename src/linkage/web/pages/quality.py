"""Linkage quality: the last run's figures and precision and recall from the reviewers' decisions.

Through ``linkage.service.quality``. Charts are drawn on the server (``web/charts.py`` says why
Splink's own Vega-Lite charts are not used), each beside the table of its figures.
"""

from __future__ import annotations

from itertools import groupby

from fastapi import APIRouter, Request

from linkage.service.quality import linkage_quality
from linkage.web.charts import bars, signed
from linkage.web.pages.manage import comparison_words, level_words, manager_ctx
from linkage.web.render import render
from linkage.web.session import StaffDep
from linkage.web.tasks import task

router = APIRouter()
TASK = task("quality")


def _bin(start: int) -> str:
    return f"{start:+d} to {start + 2:+d}".replace("-", "−")


@router.get("/quality")
def quality(request: Request, staff: StaffDep):
    report = linkage_quality(ctx=manager_ctx(staff, TASK))
    sources = [(s.replace("_", " ").capitalize(), n) for s, n in report.records_by_source.items()]
    sizes = [(f"{k} record{'s' if k != '1' else ''}", n) for k, n in report.cluster_sizes.items()]
    weights = [(_bin(b), n) for b, n in report.weight_bins]
    comparisons = [(comparison_words(name), [(level_words(x.level), x) for x in levels])
                   for name, levels in groupby(report.m_u, key=lambda x: x.comparison)]
    mu_charts = {name: signed([(level, x.match_weight) for level, x in levels if x.match_weight is not None])
                 for name, levels in comparisons}
    return render(request, "quality.html", report=report, sources=sources, sizes=sizes, weights=weights,
                  comparisons=comparisons, charts={"sources": bars(sources), "sizes": bars(sizes),
                                                   "weights": bars(weights)}, mu_charts=mu_charts)
