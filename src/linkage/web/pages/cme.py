"""The CME worklist: children missing education, sortable and filterable, with an audited CSV export.

Filters and sorting are query-string links (no script needed); the list and the export
go through ``linkage.service.cme`` (the API's own flow), so what a person sees, sorts on
and downloads is what the policy and each child's consents allow, and both are audited
naming the person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from linkage.digits import whole_number
from linkage.safetext import attachment
from linkage.service.cme import SORTS, cme_export, cme_list
from linkage.web.render import render
from linkage.web.session import Staff, StaffDep
from linkage.web.tasks import DEFAULT_PURPOSE, PURPOSES, allowed_purposes, task

__all__ = ["router"]

router = APIRouter()
TASK = task("cme")
PAGE_SIZE = 25
_AREA = re.compile(r"^[A-Z]{1,2}([0-9][0-9A-Z]?)?$")
KNOWN_TO = {"any": "Social care or health", "social_care": "Children's social care", "health": "Health"}
# Sortable columns: (query value, heading).
COLUMNS = [("name", "Name"), ("age", "Age"), ("out_of_school", "Days since last on a school roll"),
           ("school", "Last school"), ("address", "Latest address"), ("new", "New")]


@dataclass
class Query:
    """The worklist's filters as a person set them, checked; ``errors``: field -> message."""
    purpose: str = ""
    age_from: str = "5"
    age_to: str = "15"
    area: str = ""
    known_to: str = "any"
    absent_days: str = ""
    new: str = ""
    sort: str = ""
    order: str = "asc"
    page: str = "1"
    errors: dict[str, str] = field(default_factory=dict)

    def number(self, name: str, low: int, high: int, label: str) -> int | None:
        text = getattr(self, name).strip()
        if not text:
            return None
        number = whole_number(text)
        if number is None or not low <= number <= high:
            self.errors[name] = f"{label} must be a whole number from {low} to {high}"
            return None
        return number

    def service_filters(self) -> dict:
        lo = self.number("age_from", 0, 25, "Age from")
        hi = self.number("age_to", 0, 25, "Age to")
        if lo is not None and hi is not None and lo > hi:
            self.errors["age_to"] = "Age to must be the same as or more than age from"
        absent = self.number("absent_days", 1, 200, "Days absent")
        area = self.area.replace(" ", "").upper()
        if area and not _AREA.match(area):
            self.errors["area"] = "Enter a postcode district, like NS1, or a postcode area, like NS"
            area = ""
        if self.known_to not in KNOWN_TO:
            self.known_to = "any"
        return {"min_age": 5 if lo is None else lo, "max_age": (15 if hi is None else hi) + 1,
                "known_to": self.known_to, "absent_days": absent, "area": area or None, "new_only": self.new == "1",
                "sort": self.sort if self.sort in SORTS else None, "descending": self.order == "desc"}

    def link(self, **change) -> str:
        """This query string with ``change`` applied (empty values left out)."""
        values = {k: getattr(self, k) for k in ("purpose", "age_from", "age_to", "area", "known_to", "absent_days",
                                                "new", "sort", "order", "page")}
        values.update(change)
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _purpose(staff: Staff, wanted: str) -> tuple[str, list[str]]:
    purposes = allowed_purposes(staff.services.policy, staff.user.principal(), TASK)
    if not purposes:       # the service records the refusal, under the role's usual purpose, and raises Forbidden
        staff.ctx(DEFAULT_PURPOSE.get(staff.user.role)).authorise(TASK.action, list(TASK.categories))
    return (wanted if wanted in purposes else purposes[0]), purposes


@router.get("/cme")
def worklist(request: Request, staff: StaffDep, purpose: str = "", age_from: str = "5", age_to: str = "15",
             area: str = "", known_to: str = "any", absent_days: str = "", new: str = "", sort: str = "",
             order: str = "asc", page: str = "1"):
    q = Query(purpose, age_from[:5], age_to[:5], area[:10], known_to[:20], absent_days[:5], new[:1], sort[:20],
              order[:4], page[:6])
    q.purpose, purposes = _purpose(staff, purpose)
    filters = q.service_filters()
    number = q.number("page", 1, 100_000, "Page") or 1
    q.errors.pop("page", None)
    result = cme_list(ctx=staff.ctx(q.purpose), page=number, page_size=PAGE_SIZE, **filters)
    pages = max(1, -(-result.total // PAGE_SIZE))
    summary = [{"text": text, "href": f"#{name.replace('_', '-')}"} for name, text in q.errors.items()]
    headers = []
    for key, title in COLUMNS:
        current = q.sort == key
        next_order = "desc" if current and q.order == "asc" else "asc"
        headers.append({"key": key, "title": title, "href": q.link(sort=key, order=next_order, page="1"),
                        "aria_sort": ("descending" if q.order == "desc" else "ascending") if current else "none"})
    return render(request, "cme.html", 400 if q.errors else 200, result=result, q=q, headers=headers,
                  errors=q.errors, summary=summary, purposes=[(p, PURPOSES[p]) for p in purposes],
                  known_to_options=KNOWN_TO, page=number, pages=pages,
                  previous_link=q.link(page=str(number - 1)) if number > 1 else None,
                  next_link=q.link(page=str(number + 1)) if number < pages else None)


@router.post("/cme/export")
def export(request: Request, staff: StaffDep,
           purpose: Annotated[str, Form(max_length=30)] = "", age_from: Annotated[str, Form(max_length=5)] = "5",
           age_to: Annotated[str, Form(max_length=5)] = "15", area: Annotated[str, Form(max_length=10)] = "",
           known_to: Annotated[str, Form(max_length=20)] = "any",
           absent_days: Annotated[str, Form(max_length=5)] = "", new: Annotated[str, Form(max_length=1)] = "",
           sort: Annotated[str, Form(max_length=20)] = "", order: Annotated[str, Form(max_length=4)] = "asc"):
    q = Query(purpose, age_from, age_to, area, known_to, absent_days, new, sort, order)
    q.purpose, _ = _purpose(staff, purpose)
    filters = q.service_filters()
    if q.errors:
        return render(request, "error.html", 400, title="There is a problem with the filters",
                      body="Go back to the list and check the filters.", detail="")
    result = cme_export(ctx=staff.ctx(q.purpose), **filters)
    return Response(result.text, media_type="text/csv; charset=utf-8", headers={
        "content-disposition": attachment("children-missing-education", ext="csv"),
        "cache-control": "no-store", "x-content-type-options": "nosniff"})
