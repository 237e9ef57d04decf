"""A child's joined record, cut down to what the policy allows; and break-glass."""

from __future__ import annotations

import secrets

from linkage.errors import NotFound
from linkage.service.context import Ctx, digest
from linkage.service.schemas import ChildView
from linkage.views.child import build_sections, child_documents, document_columns

__all__ = ["break_glass", "resolve_child", "view_child"]


def resolve_child(*, ctx: Ctx, child_ref: str, action: str) -> str:
    """The canonical child behind the caller's pseudonym; an unknown one is audited and 404."""
    child_id = ctx.services.resolve(ctx.caller.org_id, child_ref)
    if child_id is None or not ctx.services.child_exists(child_id):
        ctx.record(action, "not_found", [], [], [])
        raise NotFound("no such child for your agency")
    return child_id


def _view(ctx: Ctx, child_ref: str, child_id: str, break_glass: bool = False, **extra) -> ChildView:
    services = ctx.services
    consent = services.consents.evaluate(child_id, ctx.caller, ctx.purpose)
    decision = ctx.authorise("view", list(services.policy.categories), [child_id], consent.permit, consent.deny,
                             break_glass, **extra)
    # Only the lists the allowed sections need are read.
    doc = child_documents(services.cursor(), [child_id], document_columns(decision.allowed))[child_id]
    sections = build_sections(doc, decision.allowed)
    ctx.record("view", "allow", [child_id], list(decision.allowed), decision.bases(), decision.policy_version,
               break_glass=break_glass, **extra, **consent.audit(decision.allowed))
    return ChildView(child_id=child_ref, sections=sections, lawful_basis=decision.allowed,
                     withheld=sorted(decision.denied), break_glass=break_glass)


def view_child(*, ctx: Ctx, child_ref: str) -> ChildView:
    child_id = resolve_child(ctx=ctx, child_ref=child_ref, action="view")
    return _view(ctx, child_ref, child_id)


def break_glass(*, ctx: Ctx, child_ref: str, justification: str) -> ChildView:
    """Emergency access for safeguarding roles; every use is queued for the DPO's review."""
    services = ctx.services
    child_id = resolve_child(ctx=ctx, child_ref=child_ref, action="break_glass")
    review_id = "BG-" + secrets.token_hex(6)
    extra = {"break_glass_review": review_id, "justification_sha256": digest(justification)}
    ctx.authorise("break_glass", list(services.policy.categories), [child_id], break_glass=True, **extra)
    services.break_glass.record(review_id=review_id, request_id=ctx.request_id, client_id=ctx.caller.client_id,
                                child_id=child_id, justification=justification)
    return _view(ctx, child_ref, child_id, True, **extra)
