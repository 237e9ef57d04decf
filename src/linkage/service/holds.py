"""The DPO's list of consent holds, and the lifting of one: each asked of the policy
(``read_consent_holds``, ``lift_consent_hold``: the DPO under ``audit``; never the held
organisation) and audited (``consent.holds``, ``consent.hold_lift``), refusals included."""

from __future__ import annotations

from linkage.errors import LinkageError, NotFound
from linkage.service.context import Ctx, digest
from linkage.service.schemas_dpo import ConsentHold, HoldLift
from linkage.service.subject_access import who

__all__ = ["consent_holds", "lift_consent_hold"]


def _context(ctx: Ctx, org_id: str = "", org_type: str = "") -> dict[str, str | bool]:
    return {"held_type": org_type, "caller_is_held": bool(org_id) and org_id == ctx.org}


def _public(services, status: str, h: dict) -> ConsentHold:
    org = services.clients.orgs.get(h["org_id"])
    by = h.get("lifted_by")
    return ConsentHold(organisation_id=h["org_id"], organisation=org.name if org else h["org_id"],
                       organisation_type=org.org_type if org else "", child_id=h["child_id"], reason=h["reason"],
                       held_at=h["held_at"], status=status, lift_id=h.get("lift_id"), lifted_at=h.get("lifted_at"),
                       lifted_by=(by if "@" in by or by.startswith("cli:") else who(services, None, by)) if by else None,
                       note=h.get("note"))


def consent_holds(*, ctx: Ctx, lifted: bool = True) -> list[ConsentHold]:
    """The holds in force, oldest first, then (``lifted``) those lifted, newest first."""
    services = ctx.services
    d = ctx.authorise("read_consent_holds", ["identity.demographics"], context=_context(ctx))
    holds = services.consents.holds
    rows = [("held", h) for h in holds.current()] + ([("lifted", h) for h in holds.lifted()] if lifted else [])
    ctx.record("consent.holds", "allow", sorted({h["child_id"] for _, h in rows}), [], d.bases(), d.policy_version,
               held=sum(s == "held" for s, _ in rows), lifted=sum(s == "lifted" for s, _ in rows))
    return [_public(services, status, h) for status, h in rows]


def lift_consent_hold(*, ctx: Ctx, lift: HoldLift) -> ConsentHold:
    """Lift one organisation's hold for one child, saying who (the signed-in person, else the API
    client), when and why (sealed at rest; the audit entry has its SHA-256). Decided before the caller
    is told whether the organisation or the hold exists."""
    services = ctx.services
    try:
        org = services.clients.orgs.find(lift.organisation)
    except LinkageError:
        org = None
    held = org is not None and services.consents.holds.held(org.org_id, [lift.child_id])
    children = [lift.child_id] if held or services.child_exists(lift.child_id) else []
    extra = {"held_organisation": org.org_id if org else lift.organisation, "note_sha256": digest(lift.note)}
    d = ctx.authorise("lift_consent_hold", ["identity.demographics"], children,
                      context=_context(ctx, *((org.org_id, org.org_type) if org else ())), every=True, **extra)
    done = services.consents.holds.lift(org.org_id, lift.child_id, by=ctx.person or ctx.caller.client_id,
                                        note=lift.note) if org else None
    if done is None:
        ctx.record("consent.hold_lift", "not_found", children, [], d.bases(), d.policy_version, **extra)
        raise NotFound("no such hold: the organisation is not held for that child")
    ctx.record("consent.hold_lift", "allow", [lift.child_id], [], d.bases(), d.policy_version,
               lift_id=done["lift_id"], hold_reason=done["reason"], **extra)
    return _public(services, "lifted", done)
