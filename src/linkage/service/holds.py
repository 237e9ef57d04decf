"""The DPO's list of consent holds, and the lifting of one: each asked of the policy
(``read_consent_holds``, ``lift_consent_hold``: the DPO under ``audit``; never the held
organisation) and audited (``consent.holds``, ``consent.hold_lift``), refusals included."""

from __future__ import annotations

from linkage.errors import LinkageError, NotFound
from linkage.service.context import Ctx, digest
from linkage.service.recorded import AsNow, as_now
from linkage.service.schemas_dpo import ConsentHold, HoldLift
from linkage.service.subject_access import who

__all__ = ["consent_holds", "lift_consent_hold"]


def _context(ctx: Ctx, org_id: str = "", org_type: str = "") -> dict[str, str | bool]:
    return {"held_type": org_type, "caller_is_held": bool(org_id) and org_id == ctx.org}


def _public(services, status: str, h: dict, now: AsNow | None = None) -> ConsentHold:
    """``now``: the hold's child as it is now (``service.recorded``); a lifted hold's, by its aliases."""
    org = services.clients.orgs.get(h["org_id"])
    by = h.get("lifted_by")
    if now is None:
        child = services.aliases.get(h["child_id"], h["child_id"])
        now = AsNow(child, h["child_id"] if child != h["child_id"] else None)
    return ConsentHold(organisation_id=h["org_id"], organisation=org.name if org else h["org_id"],
                       organisation_type=org.org_type if org else "",
                       child_id=now.child_id, recorded_as=now.recorded_as, also_held_for=list(now.split_since),
                       reason=h["reason"], held_at=h["held_at"], status=status, lift_id=h.get("lift_id"),
                       lifted_at=h.get("lifted_at"),
                       lifted_by=(by if "@" in by or by.startswith("cli:") else who(services, None, by)) if by else None,
                       note=h.get("note"))


def _as_now(services, holds: list[dict]) -> list[AsNow]:
    """Each hold's child as it is now, with the children split from it since it began (it speaks
    for them too): the splits read once for the list."""
    return as_now(services, [(h["child_id"], h["held_at"], True) for h in holds])


def _in_force(services) -> list[tuple[dict, AsNow]]:
    """The holds in force, each once under the child as it is now (a run since may have merged the
    identifier it was recorded under into another: the oldest hold of the two is shown), with the
    children split from it since."""
    seen, kept = set(), []
    for h in services.consents.holds.current():
        key = (h["org_id"], services.aliases.get(h["child_id"], h["child_id"]))
        if key not in seen:
            seen.add(key)
            kept.append(h)
    return list(zip(kept, _as_now(services, kept)))


def consent_holds(*, ctx: Ctx, lifted: bool = True) -> list[ConsentHold]:
    """The holds in force, oldest first, then (``lifted``) those lifted, newest first: each named by
    the child as it is now, not the identifier a run since retired."""
    services = ctx.services
    d = ctx.authorise("read_consent_holds", ["identity.demographics"], context=_context(ctx))
    held = _in_force(services)
    gone = services.consents.holds.lifted() if lifted else []
    shown = [_public(services, "held", h, now) for h, now in held] + [_public(services, "lifted", h) for h in gone]
    # Named as shown and as recorded: subject access finds the list under either identifier.
    ctx.record("consent.holds", "allow", sorted({c for h in shown for c in (h.child_id, h.recorded_as, *h.also_held_for)
                                                 if c}), [],
               d.bases(), d.policy_version, held=len(held), lifted=len(gone))
    return shown


def lift_consent_hold(*, ctx: Ctx, lift: HoldLift) -> ConsentHold:
    """Lift one organisation's hold for one child, saying who (the signed-in person, else the API
    client), when and why (sealed at rest; the audit entry has its SHA-256). Decided before the caller
    is told whether the organisation or the hold exists. The child is named as it is now (an identifier
    a run retired stands for its survivor); every hold that speaks for it is lifted: one recorded
    under an identifier merged into it, or one it was split from (lifted for every part, as a refusal
    that followed a split is withdrawn for every part), each part named in the audit entry."""
    services = ctx.services
    try:
        org = services.clients.orgs.find(lift.organisation)
    except LinkageError:
        org = None
    child = services.aliases.get(lift.child_id, lift.child_id)
    holds = services.consents.holds
    found = holds.speaking(org.org_id, (child, *services.former_ids(child)), services.split_from(child)) if org else []
    spoken = {c for now in _as_now(services, found) for c in (now.child_id, *now.split_since)}
    children = sorted({child, *spoken}) if found or services.child_exists(child) else []
    extra = {"held_organisation": org.org_id if org else lift.organisation, "note_sha256": digest(lift.note)}
    d = ctx.authorise("lift_consent_hold", ["identity.demographics"], children,
                      context=_context(ctx, *((org.org_id, org.org_type) if org else ())), every=True, **extra)
    done = holds.lift(org.org_id, [h["child_id"] for h in found], by=ctx.person or ctx.caller.client_id,
                      note=lift.note) if found else []
    if not done:
        ctx.record("consent.hold_lift", "not_found", children, [], d.bases(), d.policy_version, **extra)
        raise NotFound("no such hold: the organisation is not held for that child")
    ctx.record("consent.hold_lift", "allow", children, [], d.bases(), d.policy_version,
               lift_id=done[0]["lift_id"], lift_ids=[x["lift_id"] for x in done], hold_reason=done[0]["reason"],
               **extra)
    return _public(services, "lifted", done[0])
