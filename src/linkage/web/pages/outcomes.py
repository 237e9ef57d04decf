"""AP outcomes: published aggregates for commissioners, AP leaders and the LA, and an AP
setting's own pupils, through ``linkage.service.outcomes`` (the API's own flow).

Every figure shown comes from the service's disclosure-controlled tables: a chart draws only
published figures, a table behind it gives every one, ``c`` where suppressed. The CSV is the
same aggregate access, audited as such.
"""

from __future__ import annotations

import re
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from linkage.errors import LinkageError
from linkage.safetext import attachment
from linkage.service.outcomes import (CHILD_MEASURES, DIMENSIONS, outcome_children, outcomes_csv,
                                      outcomes_report)
from linkage.web.outcome_charts import attendance_chart, exclusion_chart, next_place_chart
from linkage.web.render import count, group, placement, render
from linkage.web.session import Staff, StaffDep
from linkage.web.tasks import task

router = APIRouter()

TASK = task("outcomes")
PURPOSE = "outcomes"
COHORTS_BACK = 6          # academic years offered in the cohort filter
_COHORT = re.compile(r"[0-9]{4}/[0-9]{2}")
_URN = re.compile(r"[0-9]{6,8}")
# Child-level columns for an AP leader, as a person reads them.
_CHILD_COLUMNS = {"attendance_before": "attendance before", "attendance_during": "attendance during",
                  "attendance_after": "attendance after", "excluded_1year": "permanently excluded within a year",
                  "suspended_1year": "suspended within a year", "reintegrated": "back in mainstream",
                  "next_place": "went next"}


def cohorts(today: date) -> list[str]:
    """The academic years a filter offers, newest first (September starts a year)."""
    first = today.year if today.month >= 9 else today.year - 1
    return [f"{y}/{(y + 1) % 100:02d}" for y in range(first, first - COHORTS_BACK, -1)]


def _filters(by: str, cohort: str) -> tuple[str, str | None, dict[str, str]]:
    errors = {}
    if by not in DIMENSIONS:
        errors["by"] = "Select how to break the figures down"
        by = "setting"
    if cohort and not _COHORT.fullmatch(cohort):
        errors["cohort"] = "Select an academic year, like 2025/26, or all years"
        cohort = ""
    return by, cohort or None, errors


def _sees_own_pupils(staff: Staff) -> bool:
    decision = staff.services.policy.decide(staff.user.principal(), "read_outcome_children", PURPOSE,
                                            sorted(set(CHILD_MEASURES.values())))
    return decision.any and bool(staff.user.principal().org_code)


@router.get("/outcomes")
def outcomes_page(request: Request, staff: StaffDep, by: str = "setting", cohort: str = ""):
    by, chosen, errors = _filters(by, cohort)
    report = outcomes_report(ctx=staff.ctx(PURPOSE), by=by, cohort=chosen)
    charts = [(c, keys) for c, keys in ((attendance_chart(report), ("attendance",)),
                                        (exclusion_chart(report), ("suspended_1term", "suspended_1year",
                                                                   "excluded_1term", "excluded_1year")),
                                        (next_place_chart(report), ("next_place",))) if c is not None]
    behind = {k for _, keys in charts for k in keys}
    tables = {t.key: t for t in report.tables}
    summary = [{"text": text, "href": f"#{field}"} for field, text in errors.items()]
    return render(request, "outcomes.html", 400 if errors else 200, report=report, charts=charts, tables=tables,
                  others=[t for t in report.tables if t.key not in behind and t.key != "placements_total"],
                  dimensions=DIMENSIONS, by=by, cohort=chosen or "", cohorts=cohorts(date.today()),
                  errors=errors, summary=summary, cell=count, own_pupils=_sees_own_pupils(staff),
                  named=lambda g: group(g, by))   # the CSV keeps the codes


@router.get("/outcomes.csv")
def outcomes_download(request: Request, staff: StaffDep, by: str = "setting", cohort: str = ""):
    by, chosen, errors = _filters(by, cohort)
    if errors:
        raise LinkageError(" ".join(errors.values()))
    text = outcomes_csv(ctx=staff.ctx(PURPOSE), by=by, cohort=chosen)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": attachment(f"ap-outcomes-by-{by}", (chosen or "").replace(
                                 "/", "-"), ext="csv"),
                             "x-content-type-options": "nosniff", "cache-control": "no-store"})


@router.get("/outcomes/pupils")
def own_pupils(request: Request, staff: StaffDep, cohort: str = "", urn: str = ""):
    _, chosen, errors = _filters("setting", cohort)
    if urn and not _URN.fullmatch(urn):
        urn = "not-a-urn"         # still refused by the service as another setting's, and audited
    result = outcome_children(ctx=staff.ctx(PURPOSE), cohort=chosen, urn=urn or None)
    rows = [[k.child, k.entry_date.strftime("%-d %b %Y"),
             k.leaving_date.strftime("%-d %b %Y") if k.leaving_date else "still placed", placement(k.placement_type),
             "yes" if k.dual_registered else "no",
             *[_child_value(k.measures[m], m) if m in k.measures else "withheld" for m in _CHILD_COLUMNS]]
            for k in result.children]
    summary = [{"text": text, "href": f"#{field}"} for field, text in errors.items()]
    return render(request, "outcomes_pupils.html", 400 if errors else 200, result=result, rows=rows,
                  columns=list(_CHILD_COLUMNS.values()), cohort=chosen or "", cohorts=cohorts(date.today()),
                  errors=errors, summary=summary)


def _child_value(v, measure: str) -> str:
    if v is None:
        return "not yet known"
    if measure.startswith("attendance"):
        return f"{100 * float(v):.1f}%"
    if isinstance(v, (int, float)) and not isinstance(v, bool) and measure != "next_place":
        return "yes" if v else "no"
    return str(v)
