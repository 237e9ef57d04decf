"""The quarantine: rows held back at ingest, counted by agency and reason, then listed one line each.

Through ``linkage.service.quarantine`` (the API's own flow): what the server read at start-up.
The service supports listing and exporting; a row is put right by the agency sending a corrected
extract, so the page offers the CSV to send back, not an edit.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from linkage.safetext import attachment
from linkage.service.quarantine import export_quarantine, list_quarantine, quarantine_summary
from linkage.web.pages.manage import manager_ctx
from linkage.web.render import PREFIX, render
from linkage.web.session import StaffDep
from linkage.web.tasks import task

router = APIRouter()
TASK = task("quarantine")
PAGE_SIZE = 50
Source = Annotated[str, Query(max_length=30, pattern=r"^[a-z_]*$")]
Reason = Annotated[str, Query(max_length=100)]


def _link(**query) -> str:
    return f"{PREFIX}/quarantine?{urlencode({k: v for k, v in query.items() if v})}"


@router.get("/quarantine")
def quarantine(request: Request, staff: StaffDep, source: Source = "", reason: Reason = "",
               page: Annotated[int, Query(ge=1, le=100_000)] = 1):
    ctx = manager_ctx(staff, TASK)
    held = quarantine_summary(ctx=ctx)
    listing = list_quarantine(ctx=ctx, source=source or None, reason=reason.strip() or None, page=page,
                              page_size=PAGE_SIZE)
    pages = max(1, -(-listing.total // PAGE_SIZE))
    return render(request, "quarantine.html", held=held, listing=listing, source=source, reason=reason,
                  filter_link=lambda s, r: _link(source=s, reason=r),
                  previous=_link(source=source, reason=reason, page=page - 1) if page > 1 else None,
                  next=_link(source=source, reason=reason, page=page + 1) if page < pages else None, pages=pages,
                  export=f"{PREFIX}/quarantine/export?{urlencode({k: v for k, v in dict(source=source, reason=reason).items() if v})}")


@router.get("/quarantine/export")
def quarantine_export(staff: StaffDep, source: Source = "", reason: Reason = ""):
    """The rows as CSV, for the agency to correct and send again (audited as an export)."""
    text, _ = export_quarantine(ctx=manager_ctx(staff, TASK), source=source or None, reason=reason.strip() or None)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "content-disposition": attachment("quarantine", source, reason.strip(), ext="csv"),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff"})
