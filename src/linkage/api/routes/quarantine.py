"""The LA data manager works the quarantine: rows ingest could not accept, and why."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from linkage.api.deps import CtxDep
from linkage.safetext import attachment
from linkage.service import quarantine as flow
from linkage.service.schemas import QuarantinePage

router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"])

Source = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")]
Reason = Annotated[str | None, Query(max_length=100, description="A reason code, or text found in the reason.")]
Extract = Annotated[Literal["current", "all"], Query(description="current: only extracts not superseded.")]


@router.get("", response_model=QuarantinePage)
def list_quarantine(ctx: CtxDep, source: Source = None, reason: Reason = None, extract: Extract = "current",
                    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                    page_size: Annotated[int, Query(ge=1, le=500)] = 50) -> QuarantinePage:
    """Every quarantined problem: source, file, line, the agency's column, the reason; as at server start."""
    return flow.list_quarantine(ctx=ctx, source=source, reason=reason, extract=extract, page=page,
                                page_size=page_size)


@router.get("/export", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "CSV for the supplying agency"}})
def export_quarantine(ctx: CtxDep, source: Source = None, reason: Reason = None,
                      extract: Extract = "current") -> Response:
    """The quarantine as CSV to send back to the agency: line, its column, the value, the reason.
    Cells a spreadsheet would run as formulas are neutralised."""
    text, _ = flow.export_quarantine(ctx=ctx, source=source, reason=reason, extract=extract)
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": attachment("quarantine", source or "all", ext="csv")})
