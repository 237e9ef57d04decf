"""Identity changes in the caller's own pseudonyms: merges and splits to follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from linkage.api.deps import CtxDep
from linkage.service import identity as flow
from linkage.service.schemas import IdentityChanges

router = APIRouter(prefix="/v1/identity", tags=["identity"])


@router.get("/changes", response_model=IdentityChanges)
def changes(ctx: CtxDep, since: Annotated[str | None, Query(
        max_length=40, description="A linkage run number (changes after it) or an ISO 8601 time; "
                                   "pass the last answer's up_to_run.")] = None) -> IdentityChanges:
    """For each pseudonym you hold whose child was merged: the surviving pseudonym; for each that was
    split: the pseudonyms of the children its records left for. Only children you were issued a
    pseudonym for before."""
    return flow.identity_changes(ctx=ctx, since=since)
