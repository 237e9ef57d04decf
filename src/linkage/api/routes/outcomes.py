"""AP outcomes: published aggregates, and an AP setting's own pupils."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from linkage.api.deps import CtxDep
from linkage.service import outcomes as flow
from linkage.service.schemas import OutcomeChildren, OutcomesReport

router = APIRouter(prefix="/v1", tags=["AP outcomes"])

Cohort = Annotated[str | None, Query(pattern=r"^[0-9]{4}/[0-9]{2}$", description="Academic year of entry, "
                                                                                  "e.g. 2025/26.")]


@router.get("/outcomes", response_model=OutcomesReport)
def outcomes(ctx: CtxDep,
             by: Annotated[Literal["setting", "placement_type", "cohort", "age_band", "sen_status", "social_care"],
                           Query()] = "setting",
             cohort: Cohort = None) -> OutcomesReport:
    """What happened to children before, during and after alternative provision, as disclosure-controlled
    tables (DfE children-in-need rule: 1 to 5 shown as c, secondary suppression, totals to the nearest 10)
    and a matched comparison with its limits. Purpose ``outcomes``."""
    return flow.outcomes_report(ctx=ctx, by=by, cohort=cohort)


@router.get("/outcomes/children", response_model=OutcomeChildren)
def outcome_children(ctx: CtxDep, cohort: Cohort = None,
                     urn: Annotated[str | None, Query(pattern=r"^[0-9]{6,8}$",
                                                      description="Your own setting's URN (any other is "
                                                                  "refused).")] = None) -> OutcomeChildren:
    """An AP setting's own placements, child by child in its own pseudonyms (AP leaders only)."""
    return flow.outcome_children(ctx=ctx, cohort=cohort, urn=urn)
