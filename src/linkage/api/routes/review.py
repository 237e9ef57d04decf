"""The local authority's data manager works the clerical review queue."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from linkage.api.deps import CtxDep
from linkage.service import review as flow
from linkage.service.schemas import ReviewDecisionCreate, ReviewDecisionPublic, ReviewPage, ReviewPairDetail

router = APIRouter(prefix="/v1/review", tags=["clerical review"])
PairId = Annotated[str, Path(pattern=r"^rv-[0-9a-f]{16}$")]


@router.get("", response_model=ReviewPage)
def review_list(ctx: CtxDep,
                reason: Annotated[str | None, Query(max_length=100, description="Reasons containing this.")] = None,
                min_p: Annotated[float, Query(ge=0, le=1)] = 0.0,
                max_p: Annotated[float, Query(ge=0, le=1)] = 1.0,
                order: Annotated[Literal["priority", "match_weight", "match_probability", "first_run"],
                                 Query()] = "priority",
                page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                page_size: Annotated[int, Query(ge=1, le=200)] = 25) -> ReviewPage:
    """Open pairs, most useful to decide first (expected benefit), filtered by reason and probability."""
    return flow.review_list(ctx=ctx, reason=reason, min_p=min_p, max_p=max_p, order=order, page=page,
                            page_size=page_size)


@router.get("/{pair_id}", response_model=ReviewPairDetail)
def review_pair(ctx: CtxDep, pair_id: PairId) -> ReviewPairDetail:
    """Both records side by side, differences marked, and Splink's waterfall for the pair."""
    return flow.review_pair(ctx=ctx, pair_id=pair_id)


@router.post("/{pair_id}/decision", response_model=ReviewDecisionPublic, status_code=201)
def review_decide(ctx: CtxDep, pair_id: PairId, body: ReviewDecisionCreate) -> ReviewDecisionPublic:
    """Record a decision; the next `linkage link` honours it."""
    return flow.review_decide(ctx=ctx, pair_id=pair_id, body=body)
