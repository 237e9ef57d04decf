"""The DPO's view: who saw what, whether the log is intact, subject access, and what a witness needs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from linkage.api.deps import CtxDep
from linkage.service import audit as flow, holds
from linkage.service.schemas import AuditPage, AuditVerify, IsoDateTime
from linkage.service.schemas_dpo import BreakGlassReview, BreakGlassUse, ConsentHold, HoldLift

router = APIRouter(prefix="/v1/audit", tags=["audit"])
# Entry numbers and offsets reach SQL as 64-bit integers: unbounded, 2**63 overflowed there (a 500).
# No log holds more entries than a JSON number carries exactly.
MAX_SEQ = 2**53


@router.get("", response_model=AuditPage)
def search(ctx: CtxDep,
           child_id: Annotated[str | None, Query(max_length=40)] = None,
           client_id: Annotated[str | None, Query(max_length=64)] = None,
           agency: Annotated[str | None, Query(max_length=200)] = None,
           access_purpose: Annotated[str | None, Query(alias="purpose", max_length=40)] = None,
           decision: Annotated[Literal["allow", "deny", "not_found", "refused", "withheld"] | None, Query()] = None,
           break_glass: bool | None = None,
           since: IsoDateTime | None = None, until: IsoDateTime | None = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100,
           offset: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0) -> AuditPage:
    return flow.search(ctx=ctx, child_id=child_id, client_id=client_id, agency=agency, purpose=access_purpose,
                       decision=decision, break_glass=break_glass, since=since, until=until, limit=limit,
                       offset=offset)


@router.get("/verify", response_model=AuditVerify)
def verify(ctx: CtxDep) -> AuditVerify:
    return flow.verify(ctx=ctx)


@router.get("/checkpoints")
def checkpoints(ctx: CtxDep) -> dict:
    """Signed checkpoints, the public key and the head's seq, for a witness outside the service."""
    return flow.checkpoints(ctx=ctx)


@router.post("/checkpoints", status_code=201)
def seal(ctx: CtxDep) -> dict:
    """Sign a checkpoint over the head now, rather than waiting for the next N entries or T seconds."""
    return flow.seal(ctx=ctx)


@router.get("/proof")
def proof(ctx: CtxDep,
          start: Annotated[int, Query(alias="from", ge=0, le=MAX_SEQ)],
          end: Annotated[int, Query(alias="to", ge=0, le=MAX_SEQ)]) -> dict:
    """Leaf digests of entries from+1..to, to check checkpoint ``to`` extends checkpoint ``from``."""
    return flow.proof(ctx=ctx, start=start, end=end)


@router.get("/subject/{child_id}", response_model=AuditPage)
def subject_access(child_id: str, ctx: CtxDep) -> AuditPage:
    """Who saw what about this child (the canonical identifier), for a subject access request."""
    return flow.subject_access(ctx=ctx, child_id=child_id)


@router.get("/break-glass", response_model=list[BreakGlassUse])
def break_glass_reviews(ctx: CtxDep, pending: bool | None = None) -> list[BreakGlassUse]:
    """Break-glass accesses with their justification and review; ``pending=true``: awaiting review."""
    return flow.break_glass_reviews(ctx=ctx, pending=pending)


@router.post("/break-glass/{review_id}/review", response_model=BreakGlassUse)
def review_break_glass(review_id: Annotated[str, Path(max_length=40)], body: BreakGlassReview,
                       ctx: CtxDep) -> BreakGlassUse:
    """Record the review of one use: the outcome (justified, not_justified, referred) and a note.
    Who reviewed and when are this request's; a use is reviewed once (409 after)."""
    return flow.review_break_glass(ctx=ctx, review_id=review_id, review=body)


@router.get("/consent-holds", response_model=list[ConsentHold])
def consent_holds(ctx: CtxDep, lifted: bool = True) -> list[ConsentHold]:
    """Organisations held from recording consent for a child (a consent dated before a date of birth
    they may not see), oldest first; then, unless ``lifted=false``, those lifted, with who, when and why."""
    return holds.consent_holds(ctx=ctx, lifted=lifted)


@router.post("/consent-holds/lift", response_model=ConsentHold)
def lift_consent_hold(body: HoldLift, ctx: CtxDep) -> ConsentHold:
    """Lift one organisation's hold for one child, with a note saying why (sealed at rest). 404 when
    there is no such hold; the held organisation itself is never allowed to."""
    return holds.lift_consent_hold(ctx=ctx, lift=body)
