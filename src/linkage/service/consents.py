"""Record, list and withdraw consent. It takes effect on the very next request."""

from __future__ import annotations

from datetime import date

from linkage.consent import ConsentRecord
from linkage.errors import NotFound
from linkage.service.context import Ctx
from linkage.service.schemas import ConsentCreate, ConsentPublic

__all__ = ["list_consents", "record_consent", "withdraw_consent"]


def _public(ctx: Ctx, rec: ConsentRecord) -> ConsentPublic:
    return ConsentPublic(consent_id=rec.consent_id,
                         child_id=ctx.pseudonym(rec.child_id),
                         category=rec.category, actor=rec.actor, purpose=rec.purpose, provision=rec.provision,
                         given_by=rec.given_by, period={"start": rec.given_on, "end": rec.expires_on},
                         status=rec.status(date.today()), recorded_by=rec.recorded_by)


def _child(ctx: Ctx, ref: str) -> str:
    child_id = ctx.resolve(ref)
    if child_id is None:
        ctx.record("manage_consent", "not_found")
        raise NotFound("no such child for your agency")
    return child_id


def record_consent(*, ctx: Ctx, body: ConsentCreate) -> ConsentPublic:
    child_id = _child(ctx, body.child_id)
    d = ctx.authorise("manage_consent", ["identity.demographics"], [child_id])
    rec = ctx.services.consents.record(child_id, body.category, body.actor, body.purpose, body.provision,
                                       body.given_by, body.given_on, body.expires_on, ctx.caller.agency)
    ctx.record("consent.record", "allow", [child_id], [f"consent:{rec.consent_id}"], d.bases(), d.policy_version)
    return _public(ctx, rec)


def list_consents(*, ctx: Ctx, child_ref: str) -> list[ConsentPublic]:
    cid = _child(ctx, child_ref)
    d = ctx.authorise("manage_consent", ["identity.demographics"], [cid])
    recs = ctx.services.consents.for_child(cid)
    ctx.record("consent.list", "allow", [cid], [f"consent:{r.consent_id}" for r in recs], d.bases(),
               d.policy_version)
    return [_public(ctx, r) for r in recs]


def withdraw_consent(*, ctx: Ctx, consent_id: str) -> ConsentPublic:
    rec = ctx.services.consents.get(consent_id)
    if rec is None:
        ctx.record("consent.withdraw", "not_found")
        raise NotFound("no such consent")
    d = ctx.authorise("manage_consent", ["identity.demographics"], [rec.child_id])
    rec = ctx.services.consents.withdraw(consent_id, ctx.caller.agency)
    ctx.record("consent.withdraw", "allow", [rec.child_id], [f"consent:{consent_id}"], d.bases(), d.policy_version)
    return _public(ctx, rec)
