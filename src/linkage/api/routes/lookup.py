"""AP schools (and others) find the child behind an incoming pupil's demographics."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from linkage.api.answer import answer
from linkage.api.deps import PendingDep
from linkage.service import lookup as flow
from linkage.service.schemas import LookupRequest, LookupResponse

router = APIRouter(prefix="/v1", tags=["lookup"])


@router.post("/lookup", response_model=LookupResponse)
async def lookup(body: LookupRequest, ctx: PendingDep) -> Response:
    """Candidate children for these demographics, each with its match probability and agreeing fields."""
    return await answer(flow.lookup, LookupResponse, ctx=ctx, query=body)
