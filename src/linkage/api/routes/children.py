"""A child's joined record, cut down to what the policy allows; and break-glass."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Path, Request

from linkage.api.deps import (Caller, PurposeHeader, ServicesDep, audit_and_authorise, digest,
                              record_access)
from linkage.api.schemas import BreakGlassRequest, ChildView
from linkage.views.child import build_sections, child_documents, document_columns

router = APIRouter(prefix="/v1/children", tags=["children"])
ChildRef = Path(max_length=40, description="The child's identifier in your agency's form.")


def _resolve(services, request, caller, purpose, child_ref: str, action: str) -> str:
    child_id = services.resolve(caller.agency, child_ref)
    if child_id is None or not services.child_exists(child_id):
        record_access(services, request, caller, purpose, action, "not_found", [], [], [])
        raise HTTPException(404, "no such child for your agency")
    return child_id


def _view(services, request, caller, purpose, child_ref, child_id, break_glass=False, **extra) -> ChildView:
    consent = services.consents.evaluate(child_id, caller.agency_type, purpose)
    categories = list(services.policy.categories)
    decision = audit_and_authorise(services, request, caller, purpose, "view", categories, [child_id],
                                   consent.permit, consent.deny, break_glass, **extra)
    # Only the lists the allowed sections need are read.
    doc = child_documents(services.cursor(), [child_id], document_columns(decision.allowed))[child_id]
    sections = build_sections(doc, decision.allowed)
    record_access(services, request, caller, purpose, "view", "allow", [child_id], list(decision.allowed),
                  decision.bases(), decision.policy_version, break_glass=break_glass, **extra)
    return ChildView(child_id=child_ref, sections=sections, lawful_basis=decision.allowed,
                     withheld=sorted(decision.denied), break_glass=break_glass)


@router.get("/{child_ref}", response_model=ChildView)
def child(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader,
          child_ref: str = ChildRef) -> ChildView:
    """Schools attended, attendance by year, exclusions, SEN and EHC plan, social care
    involvement and contact, health data only with consent: whatever the policy allows."""
    child_id = _resolve(services, request, caller, purpose, child_ref, "view")
    return _view(services, request, caller, purpose, child_ref, child_id)


@router.post("/{child_ref}/break-glass", response_model=ChildView)
def break_glass(body: BreakGlassRequest, request: Request, services: ServicesDep, caller: Caller,
                purpose: PurposeHeader, child_ref: str = ChildRef) -> ChildView:
    """Emergency access beyond the normal policy, for safeguarding roles, with a written
    justification. Every use is flagged for the DPO's review."""
    child_id = _resolve(services, request, caller, purpose, child_ref, "break_glass")
    review_id = "BG-" + secrets.token_hex(6)
    extra = {"break_glass_review": review_id, "justification_sha256": digest(body.justification)}
    audit_and_authorise(services, request, caller, purpose, "break_glass", list(services.policy.categories),
                        [child_id], break_glass=True, **extra)
    services.state.execute("INSERT INTO break_glass VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                           (review_id, request.state.request_id, caller.client_id, child_id,
                            services.sealer.seal(body.justification, review_id),
                            datetime.now(timezone.utc).isoformat()))
    return _view(services, request, caller, purpose, child_ref, child_id, True, **extra)
