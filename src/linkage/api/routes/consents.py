"""Record, list and withdraw consent. It takes effect on the very next request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from linkage.api.deps import CtxDep
from linkage.consent.register import ConsentDateRefused, RecipientRefused
from linkage.service import consents as flow
from linkage.service.schemas import ConsentCreate, ConsentPublic

router = APIRouter(prefix="/v1/consents", tags=["consent"])


@router.post("", response_model=ConsentPublic, status_code=201)
def record(body: ConsentCreate, ctx: CtxDep, request: Request) -> ConsentPublic:
    try:
        return flow.record_consent(ctx=ctx, body=body)
    except (ConsentDateRefused, RecipientRefused):
        request.state.audited = True    # the flow wrote the refusal, naming the child: one entry
        raise


@router.get("", response_model=list[ConsentPublic])
def list_consents(child_id: Annotated[str, Query(max_length=40)], ctx: CtxDep) -> list[ConsentPublic]:
    """The child's consents you are party to (recorded by, or addressed to, your organisation)."""
    return flow.list_consents(ctx=ctx, child_ref=child_id)


@router.post("/{consent_id}/withdraw", response_model=ConsentPublic)
def withdraw(ctx: CtxDep, consent_id: str = Path(max_length=40)) -> ConsentPublic:
    return flow.withdraw_consent(ctx=ctx, consent_id=consent_id)
