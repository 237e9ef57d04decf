"""A child's joined record, cut down to what the policy allows; and break-glass."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.responses import Response

from linkage.api.answer import answer
from linkage.api.deps import PendingDep
from linkage.service import children as flow
from linkage.service.schemas import BreakGlassRequest, ChildView

router = APIRouter(prefix="/v1/children", tags=["children"])
CHILD_REF_MAX = 40
ChildRef = Path(max_length=CHILD_REF_MAX, description="The child's identifier in your agency's form.")


@router.get("/{child_ref}", response_model=ChildView)
async def child(ctx: PendingDep, child_ref: str = ChildRef) -> Response:
    """Schools attended, attendance by year, exclusions, SEN and EHC plan, social care
    involvement and contact, health data only with consent: whatever the policy allows."""
    return await answer(flow.view_child, ChildView, ctx=ctx, child_ref=child_ref)


@router.post("/{child_ref}/break-glass", response_model=ChildView)
async def break_glass(body: BreakGlassRequest, ctx: PendingDep, child_ref: str = ChildRef) -> Response:
    """Emergency access beyond the normal policy, for safeguarding roles, with a written
    justification. Every use is flagged for the DPO's review."""
    return await answer(flow.break_glass, ChildView, ctx=ctx, child_ref=child_ref, justification=body.justification)
