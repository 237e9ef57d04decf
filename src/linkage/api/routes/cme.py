"""Social workers and CME officers find children missing education."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from linkage.api.deps import CtxDep
from linkage.service import cme as flow
from linkage.service.schemas import CmePage, IsoDate

router = APIRouter(prefix="/v1", tags=["children missing education"])


@router.get("/cme", response_model=CmePage)
def cme(ctx: CtxDep,
        min_age: Annotated[int, Query(ge=0, le=25)] = 5,
        max_age: Annotated[int, Query(ge=1, le=26)] = 16,
        known_to: Annotated[Literal["any", "social_care", "health"], Query()] = "any",
        absent_days: Annotated[int | None, Query(ge=1, le=200, description="Also list children on roll who "
                                                 "attended no session last term with this many days' absence.")] = None,
        on: Annotated[IsoDate | None, Query(description="Date to judge ages and rolls on; default today.")] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=100)] = 25) -> CmePage:
    """Children known to social care or health with no current school place, off roll,
    or not attending; with every last known address, last school, GP and latest contact."""
    return flow.cme_list(ctx=ctx, on=on, min_age=min_age, max_age=max_age, known_to=known_to,
                         absent_days=absent_days, page=page, page_size=page_size)
