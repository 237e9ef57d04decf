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
        absent_days: Annotated[int | None, Query(ge=1, le=200, description="Also list children on roll absent "
                                                 "at least this many school days (two sessions a day) in their "
                                                 "latest term.")] = None,
        area: Annotated[str | None, Query(max_length=4, pattern=r"^[A-Za-z]{1,2}[0-9A-Za-z]{0,2}$",
                                          description="Postcode district (NS1) or area (NS) of the latest "
                                                      "address.")] = None,
        new_only: Annotated[bool, Query(description="Only children not on the previous link run's "
                                                    "list.")] = False,
        sort: Annotated[Literal[tuple(flow.SORTS)] | None, Query(description="Sort by this column "
                                                                "(unknown values last).")] = None,
        order: Annotated[Literal["asc", "desc"], Query()] = "asc",
        on: Annotated[IsoDate | None, Query(description="Date to judge ages and rolls on; default today.")] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=100)] = 25) -> CmePage:
    """Children known to social care or health with no current school place, off roll, or
    (with ``absent_days``) absent at least that many days in their latest term; with name, age,
    days since the last school day, the latest address and when the child moved there, every
    known address, last school, GP and latest contact, and whether the child is new since the
    previous link run."""
    return flow.cme_list(ctx=ctx, on=on, min_age=min_age, max_age=max_age, known_to=known_to,
                         absent_days=absent_days, area=area, new_only=new_only, sort=sort,
                         descending=order == "desc", page=page, page_size=page_size)
