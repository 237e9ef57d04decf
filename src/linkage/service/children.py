"""A child's joined record, cut down to what the policy allows; and break-glass.

A full record opens only to an organisation with a reason to see it:

- the service named the child to it (its own confident lookup, or its CME worklist),
  within ``relationship_days``;
- or the child is on its roll or caseload: a school or AP school whose URN
  (``caller.org_code``) is the child's current enrolment; children's social care when
  the child is known to social care; health when the child has a health record. An LA
  education (CME) officer has only the first: the children its worklist or lookups name;
- or break-glass, by a safeguarding role, reviewed by the DPO.

Otherwise 403, audited as a refusal with reason ``no_relationship``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from linkage.consent.register import ConsentState
from linkage.errors import Forbidden, NotFound
from linkage.policy import Decision, Principal
from linkage.service.context import Ctx, digest
from linkage.service.schemas import ChildView
from linkage.service.withheld import withheld_reasons
from linkage.views.child import CHILD_FIELDS, child_documents
from linkage.views.fields import build, columns

__all__ = ["Sight", "break_glass", "may_view", "on_roll_or_caseload", "relationship", "resolve_child", "view_child"]


def resolve_child(*, ctx: Ctx, child_ref: str, action: str) -> str:
    """The canonical child behind the caller's pseudonym; an unknown one is audited and 404."""
    child_id = ctx.resolve(child_ref)
    if child_id is None or not ctx.services.child_exists(child_id):
        ctx.record(action, "not_found", [], [], [])
        raise NotFound("no such child for your agency")
    return child_id


def on_roll_or_caseload(caller: Principal, doc: dict, today: date) -> str | None:
    """Why the child is the caller's own, from the child's records, or None."""
    kind = caller.agency_type
    if kind in ("school", "ap_school"):
        current = any(e["urn"] == caller.org_code and (e["entry_date"] is None or e["entry_date"] <= today)
                      and (e["leaving_date"] is None or e["leaving_date"] > today) for e in doc["edu_enrolment"])
        return "on roll" if caller.org_code and current else None
    sources = {r["source"] for r in doc["records"]}
    if kind == "social_care" and "social_care" in sources:
        return "known to social care"
    if kind == "health" and "health" in sources:
        return "health record"
    return None


def relationship(ctx: Ctx, child_id: str, consent: ConsentState | None = None) -> tuple[str | None, bool]:
    """The caller's organisation's reason to open this child's full record (or None), and whether a
    refusal ended the reason the service gave (read once: the deny path tells the DPO so).

    A reason the service gave (a lookup or the CME worklist named the child) ends with a refusal
    of identity data to the caller: the refusal takes the child out of its lookups, so the lookup
    it made before must not keep the record open (``consent``: the child's consents as evaluated
    for the caller). The child's own school, caseload or health record is not ended by it."""
    services = ctx.services
    ended = False
    if why := services.relationships.current(ctx.org, child_id, former=services.former_ids(child_id)):
        if consent is None or not services.consents.refuses_identity(consent, ctx.caller, ctx.purpose):
            return why, False
        ended = True
    doc = child_documents(services.documents, [child_id], ["edu_enrolment", "records"]).get(child_id)
    return (on_roll_or_caseload(ctx.caller, doc, date.today()) if doc else None), ended


@dataclass(frozen=True)
class Sight:
    """What of a child the caller may see now: the policy's ``view`` decision with the child's
    consents, and the caller's reason to open the record (``why``: None for none)."""

    consent: ConsentState
    decision: Decision
    why: str | None
    ended: bool             # a refusal ended the reason a lookup gave (``relationship``)

    def sees(self, category: str) -> bool:
        return self.why is not None and category in self.decision.allowed


def may_view(ctx: Ctx, child_id: str, break_glass: bool = False) -> Sight:
    """The one decision of what the caller may see of a child, read by the record (``view_child``)
    and by every flow that must not tell the caller more than the record would (a consent's date
    checked against the date of birth, ``service.consents``): two copies of its steps drift. Not
    audited here: the flow that acts on it records what it did."""
    services = ctx.services
    consent = services.consents.evaluate(child_id, ctx.caller, ctx.purpose, former=services.former_ids(child_id),
                                         split_from=services.split_from(child_id))
    decision = services.policy.decide(ctx.caller, "view", ctx.purpose or "", list(services.policy.categories),
                                      consent.permit, consent.deny, break_glass)
    if not decision.any:
        return Sight(consent, decision, None, False)
    why, ended = ("break-glass", False) if break_glass else relationship(ctx, child_id, consent)
    return Sight(consent, decision, why, ended)


def _view(ctx: Ctx, child_ref: str, child_id: str, break_glass: bool = False, **extra) -> ChildView:
    services = ctx.services
    sight = may_view(ctx, child_id, break_glass)
    consent, why, ended = sight.consent, sight.why, sight.ended
    decision = ctx.enforce("view", sight.decision, [child_id], break_glass, **extra)
    if why is None:
        # A refusal that ended a lookup's reason is the DPO's to see; the caller is told no more than
        # it is told with no reason at all (a lookup tells it "no single match", never why).
        refused = sorted(c for c, denied in consent.deny.items() if denied) if ended else []
        ctx.record("view", "deny", [child_id], [], [], decision.policy_version, reason="no_relationship",
                   **({"consent_refused": refused} if refused else {}))
        raise Forbidden("your organisation has no reason to open this child's record: the child is not on your "
                        "roll or caseload, and you have not found them by a confident lookup")
    # Only the lists the allowed fields need are read.
    doc = child_documents(services.documents, [child_id], columns(CHILD_FIELDS, decision.allowed))[child_id]
    sections, cats = build(CHILD_FIELDS, doc, decision.allowed)
    shown = {c: decision.allowed[c] for c in sorted(cats)}
    reasons = withheld_reasons(services.policy, ctx.caller, ctx.purpose, decision, consent)
    # What a refusal withheld is the DPO's to see, as what a refusal was overridden for is.
    refused = sorted(c for c, why in reasons.items() if why == "consent_refused")
    ctx.record("view", "allow", [child_id], list(shown), list(shown.values()), decision.policy_version,
               break_glass=break_glass, relationship=why, **extra,
               **consent.audit(shown), **({"consent_refused": refused} if refused else {}))
    return ChildView(child_id=child_ref, sections=sections, lawful_basis=shown,
                     withheld=sorted(decision.denied), withheld_reasons=reasons, break_glass=break_glass)


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
