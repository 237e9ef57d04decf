"""Record, list and withdraw consent. It takes effect on the very next request.

Who may do each is the policy's decision (actions ``record_consent``,
``withdraw_consent``, ``read_consent``, ``read_consent_evidence``), asked with the
facts of the consent: the recipient's type, whether the caller is the recipient,
whether the caller's organisation recorded it.
"""

from __future__ import annotations

from datetime import date

from linkage.consent import ConsentRecord
from linkage.consent.register import ConsentDateRefused, RecipientRefused
from linkage.errors import Conflict, Forbidden, NotFound
from linkage.policy import Decision
from linkage.service.children import may_view
from linkage.service.context import Ctx
from linkage.service.schemas import ConsentCreate, ConsentPublic, ConsentRecorder
from linkage.views.child import child_documents

__all__ = ["list_consents", "record_consent", "withdraw_consent"]


def _public(rec: ConsentRecord, child_ref: str, evidence: bool) -> ConsentPublic:
    return ConsentPublic(consent_id=rec.consent_id, child_id=child_ref, category=rec.category,
                         recipient={rec.recipient.kind: rec.recipient.value}, purpose=rec.purpose,
                         provision=rec.provision, given_by=rec.given_by, method=rec.method,
                         evidence_ref=rec.evidence_ref if evidence else None,
                         period={"start": rec.given_on, "end": rec.expires_on}, status=rec.status(date.today()),
                         recorded_by=ConsentRecorder(organisation=rec.recorder_org,
                                                     organisation_type=rec.recorder_type,
                                                     client_id=rec.recorded_by if evidence else None))


def _audit_extra(rec: ConsentRecord) -> dict:
    return {"consent_id": rec.consent_id, "recipient": {rec.recipient.kind: rec.recipient.value},
            "category": rec.category, "provision": rec.provision}


def _child(ctx: Ctx, ref: str, action: str, canonical_for_audit: bool = False) -> str:
    """The child behind the caller's pseudonym. The DPO, who audits by canonical id, may use that."""
    services = ctx.services
    child_id = ctx.resolve(ref)
    if child_id is None and canonical_for_audit and services.child_exists(ref) and services.policy.decide(
            ctx.caller, "read_audit", ctx.purpose or "", ["identity.demographics"]).any:
        child_id = ref
    if child_id is None:
        ctx.record(action, "not_found")
        raise NotFound("no such child for your organisation")
    return child_id


def _may(ctx: Ctx, action: str, rec: ConsentRecord) -> Decision:
    services = ctx.services
    context = services.consents.consent_context(ctx.caller, rec.recipient, rec)
    return services.policy.decide(ctx.caller, action, ctx.purpose or "", services.consents.expand(rec.category),
                                  context=context)


# What a caller who may not see the child's date of birth is told when its consent is dated before
# it, and every time after: nothing about which field, nor that any was wrong.
HELD = ("your organisation cannot record consent for this child: ask the local authority's consent officer "
        "to record it")


def record_consent(*, ctx: Ctx, body: ConsentCreate) -> ConsentPublic:
    """Decided before anything the request names is looked up: a caller who may record no consent of
    the category (whatever the recipient) is refused, audited, before it is told whether the
    recipient organisation is registered; then the recipient, its refusal audited; then the decision
    with the recipient (a recipient never grants itself anything)."""
    register = ctx.services.consents
    categories = register.expand(body.category)
    child_id = _child(ctx, body.child_id, "record_consent")
    asked = {"recipient": body.recipient.model_dump(exclude_none=True), "category": body.category,
             "provision": body.provision}
    ctx.authorise("record_consent", categories, [child_id], context=register.consent_context(ctx.caller, None),
                  every=True, **asked)
    try:
        recipient = register.recipient(**body.recipient.model_dump())
    except RecipientRefused:
        ctx.record("consent.record", "refused", [child_id], reason="recipient_not_registered", **asked)
        raise
    asked["recipient"] = {recipient.kind: recipient.value}
    d = ctx.authorise("record_consent", categories, [child_id],
                      context=register.consent_context(ctx.caller, recipient), every=True, **asked)
    born, seen = _birth(ctx, child_id)
    held = not seen and register.held(ctx.caller, child_id, ctx.services.former_ids(child_id),
                                      ctx.services.split_from(child_id))
    if not seen and (held or (born is not None and body.given_on < born)):
        # Checked, but never told: the first refusal says nothing of why, holds the organisation,
        # and every later consent it sends for the child is refused alike: one bit, once.
        reason = "held" if held else "given_on_before_birth"
        register.hold(ctx.caller, child_id, reason)
        ctx.record("consent.record", "refused", [child_id], [], d.bases(), d.policy_version, reason=reason,
                   birth_date_withheld=True, **asked)
        raise Forbidden(HELD)
    try:
        rec = register.record(child_id=child_id, category=body.category, recipient=recipient, purpose=body.purpose,
                              provision=body.provision, given_by=body.given_by, method=body.method,
                              evidence_ref=body.evidence_ref, given_on=body.given_on, expires_on=body.expires_on,
                              recorder=ctx.caller, born=born if seen else None)
    except ConsentDateRefused as exc:
        # On the child's record (the DPO's refusals, its subject access report), not only as an
        # anonymous invalid request: a run of them is someone trying dates.
        ctx.record("consent.record", "refused", [child_id], [], d.bases(), d.policy_version, reason=exc.code,
                   **asked)
        raise
    ctx.record("consent.record", "allow", [child_id], [f"consent:{rec.consent_id}"], d.bases(), d.policy_version,
               **_audit_extra(rec))
    return _public(rec, body.child_id, evidence=True)


def _birth(ctx: Ctx, child_id: str) -> tuple[date | None, bool]:
    """The child's earliest recorded date of birth, and whether the caller may see it now
    (``may_view``: what ``GET /v1/children`` would show it). One the caller may not see is still
    checked, but a refusal by it must not tell the date (each refusal would say "later")."""
    doc = child_documents(ctx.services.documents, [child_id], ["records"]).get(child_id) or {"records": []}
    born = min((r["date_of_birth"] for r in doc["records"] if r.get("date_of_birth")), default=None)
    return born, may_view(ctx, child_id).sees("identity.demographics")


def list_consents(*, ctx: Ctx, child_ref: str) -> list[ConsentPublic]:
    """Only the consents the caller is party to; all of them for the consent officer and the DPO."""
    cid = _child(ctx, child_ref, "consent.list", canonical_for_audit=True)
    shown, bases = [], set()
    for rec in ctx.services.consents.for_child(cid, former=ctx.services.former_ids(cid),
                                               split_from=ctx.services.split_from(cid)):
        if (d := _may(ctx, "read_consent", rec)).any:
            shown.append(_public(rec, child_ref, _may(ctx, "read_consent_evidence", rec).any))
            bases |= set(d.bases())
    ctx.record("consent.list", "allow", [cid], [f"consent:{c.consent_id}" for c in shown], sorted(bases))
    return shown


def _spoken_for(ctx: Ctx, rec: ConsentRecord) -> list[str]:
    """Every child the consent speaks for now: the one it was recorded under (as it is now) and,
    for a refusal recorded before a split, each part the split made (``Services.split_from``)."""
    services = ctx.services
    out = {rec.child_id}
    for child in services.split_children({rec.child_id}):
        if any(r.consent_id == rec.consent_id for r in services.consents.for_child(
                child, former=services.former_ids(child), split_from=services.split_from(child))):
            out.add(child)
    return sorted(out)


def withdraw_consent(*, ctx: Ctx, consent_id: str) -> ConsentPublic:
    """A refusal that followed a split is withdrawn for every part (whose it was nobody can
    tell); the audit entry names each, so every part's subject access report shows it."""
    services = ctx.services
    rec = services.consents.get(consent_id)
    if rec is None:
        ctx.record("consent.withdraw", "not_found", fields=[f"consent:{consent_id}"])
        raise NotFound("no such consent")
    if not _may(ctx, "read_consent", rec).any:     # another's consent is not confirmed to exist to the caller,
        # but the attempt on it is on the child's record for the DPO (its subject access report)
        ctx.record("consent.withdraw", "refused", _spoken_for(ctx, rec), [f"consent:{consent_id}"],
                   reason="not_a_party")
        raise NotFound("no such consent")
    children = _spoken_for(ctx, rec)
    d = ctx.authorise("withdraw_consent", services.consents.expand(rec.category), children,
                      context=services.consents.consent_context(ctx.caller, rec.recipient, rec), every=True,
                      **_audit_extra(rec))
    try:
        rec = services.consents.withdraw(consent_id, ctx.caller.client_id)
    except Conflict:        # a second withdrawal: refused, and the DPO sees the attempt
        ctx.record("consent.withdraw", "refused", children, [f"consent:{consent_id}"], d.bases(),
                   d.policy_version, reason="already_withdrawn", **_audit_extra(rec))
        raise
    ctx.record("consent.withdraw", "allow", children, [f"consent:{consent_id}"], d.bases(), d.policy_version,
               **_audit_extra(rec))
    # The child as the caller knows it now: a consent recorded under an identifier since merged
    # names the survivor (the retired one's form would be a pseudonym the caller never saw).
    return _public(rec, ctx.pseudonym(services.aliases.get(rec.child_id, rec.child_id)),
                   evidence=_may(ctx, "read_consent_evidence", rec).any)
