"""AP schools (and others) find the child behind an incoming pupil's demographics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from linkage.api.deps import Caller, PurposeHeader, ServicesDep, audit_and_authorise, record_access
from linkage.api.schemas import CandidatePublic, LookupRequest, LookupResponse
from linkage.link.lookup import LookupQuery

router = APIRouter(prefix="/v1", tags=["lookup"])


@router.post("/lookup", response_model=LookupResponse)
def lookup(body: LookupRequest, request: Request, services: ServicesDep, caller: Caller,
           purpose: PurposeHeader) -> LookupResponse:
    """Candidate children for these demographics, each with its match probability and agreeing fields."""
    decision = audit_and_authorise(services, request, caller, purpose, "lookup", ["identity.demographics"])
    if services.lookup is None:
        raise HTTPException(503, "no linked population yet: run `linkage link`")
    found = services.lookup.search(LookupQuery(**body.model_dump()))
    children = [c.child_id for c in found]
    record_access(services, request, caller, purpose, "lookup", "allow", children,
                  ["match_probability", "agreed_fields"], decision.bases(), decision.policy_version)
    return LookupResponse(
        candidates=[CandidatePublic(child_id=services.pseudonyms.form(caller.agency, c.child_id),
                                    match_probability=c.match_probability, agreed=c.agreed,
                                    disagreed=c.disagreed) for c in found],
        searched_records=services.lookup.size, lawful_basis=decision.bases())
