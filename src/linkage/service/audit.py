"""The DPO's view: who saw what, whether the log is intact, subject access, and what a witness needs."""

from __future__ import annotations

from datetime import datetime, timedelta

from linkage.audit.witness import snapshot
from linkage.errors import Conflict, LinkageError, NotFound
from linkage.service.context import Ctx, digest
from linkage.service.schemas import AuditEntryPublic, AuditPage, AuditVerify
from linkage.service.recorded import AsNow, as_now, named_in
from linkage.service.schemas_dpo import BreakGlassReview, BreakGlassUse
from linkage.service.subject_access import subject_entries, who

__all__ = ["break_glass_reviews", "checkpoints", "proof", "review_break_glass", "search", "seal", "subject_access",
           "verify"]

_ALL = 1_000_000
MAX_PROOF = 50_000         # leaves per proof request; a witness asks in pieces


def _authorise(ctx: Ctx, what: str, children: list[str] | None = None) -> None:
    d = ctx.authorise("read_audit", ["identity.demographics"], children)
    ctx.record(what, "allow", children, [], d.bases(), d.policy_version)


def _public(rec: dict) -> AuditEntryPublic:
    e = rec["entry"]

    def text(key: str) -> str:
        return str(e.get(key) or "")
    return AuditEntryPublic(seq=rec["seq"], time=text("time"), request_id=text("request_id"),
                            client_id=text("client_id"), agency=text("agency"), agency_type=text("agency_type"),
                            role=text("role"), purpose=e.get("purpose"), lawful_basis=e.get("lawful_basis", []),
                            action=text("action"), child_id=",".join(e.get("children", [])) or None,
                            fields=e.get("fields", []), decision=text("decision"),
                            policy_version=text("policy_version"), break_glass=bool(e.get("break_glass")),
                            status=e.get("status"), method=e.get("method"), route=e.get("route"))


def search(*, ctx: Ctx, child_id: str | None = None, client_id: str | None = None, agency: str | None = None,
           purpose: str | None = None, decision: str | None = None, break_glass: bool | None = None,
           since: datetime | None = None, until: datetime | None = None, limit: int = 100,
           offset: int = 0) -> AuditPage:
    _authorise(ctx, "audit.search")
    total, recs = ctx.services.audit.index.search(
        limit=limit, offset=offset, child_id=child_id, client_id=client_id, agency=agency, purpose=purpose,
        decision=decision, break_glass=break_glass, since=since, until=until)
    return AuditPage(total=total, entries=[_public(r) for r in recs])


def verify(*, ctx: Ctx) -> AuditVerify:
    _authorise(ctx, "audit.verify")
    audit = ctx.services.audit
    problems = audit.verify()
    return AuditVerify(ok=not problems, entries=audit.head(), checkpoints=len(audit.checkpoints()),
                       problems=[str(p) for p in problems])


def checkpoints(*, ctx: Ctx) -> dict:
    """Signed checkpoints and the public key, for a DPO or a witness to keep outside the service.
    Reading writes nothing but this request's own audit entry."""
    _authorise(ctx, "audit.checkpoints")
    return snapshot(ctx.services.audit)


def seal(*, ctx: Ctx) -> dict:
    """Sign a checkpoint over the head now (including this request's own entry)."""
    _authorise(ctx, "audit.seal")
    return ctx.services.audit.checkpoint()


def proof(*, ctx: Ctx, start: int, end: int) -> dict:
    """Leaf digests of entries ``start+1 .. end``: a witness holding checkpoint ``start`` folds
    them into ``end``'s hash to see the log only grew. Digests, never entries."""
    d = ctx.authorise("read_audit", ["identity.demographics"])
    # The range is recorded: the DPO's chain page shows how far a witness has asked.
    ctx.record("audit.proof", "allow", [], [], d.bases(), d.policy_version, proof_from=start, proof_to=end)
    if end - start > MAX_PROOF:
        raise LinkageError(f"a proof covers at most {MAX_PROOF} entries: ask in pieces")
    audit = ctx.services.audit
    leaves = audit.leaves(start, end, audit.index.offset_of(start + 1) if start < end else 0)
    return {"from": start, "to": end, "leaves": leaves}


def subject_access(*, ctx: Ctx, child_id: str) -> AuditPage:
    """Who saw what about this child (the canonical identifier), for a subject access request: also
    under the identifiers merged into it, and those it was split from (``subject_entries``)."""
    _authorise(ctx, "audit.subject", [child_id])
    recs = subject_entries(ctx.services, child_id)
    return AuditPage(total=len(recs), entries=[_public(r) for r in recs])


def _who_broke_glass(ctx: Ctx, use: dict) -> dict:
    """The organisation, person and role that broke glass, from the use's own audit entry: found among
    the client's break-glass entries for that child from the moment the use was recorded (its entry
    is written just after), not among every one the client ever made (a search that grew with uses)."""
    at = datetime.fromisoformat(use["at"]) if use.get("at") else None
    _, recs = ctx.services.audit.index.search(limit=_ALL, client_id=use["client_id"], child_id=use["child_id"],
                                              break_glass=True, since=at - timedelta(seconds=5) if at else None)
    for rec in recs:
        e = rec["entry"]
        if e.get("break_glass_review") == use["review_id"]:
            return {"organisation": e.get("agency"), "person": who(ctx.services, e.get("person"), use["client_id"]),
                    "role": e.get("role")}
    return {}


def _use(ctx: Ctx, use: dict, now: AsNow | None = None) -> BreakGlassUse:
    """The use, its child named as it is now (``service.recorded``): the DPO reviews the child, not the
    identifier a link run has since retired or split."""
    now = now or as_now(ctx.services, [(use["child_id"], use["at"], True)])[0]
    return BreakGlassUse(**{**use, **_who_broke_glass(ctx, use), "child_id": now.child_id,
                            "recorded_as": now.recorded_as, "also_for": now.split_since})


def break_glass_reviews(*, ctx: Ctx, pending: bool | None = None) -> list[BreakGlassUse]:
    """Break-glass uses with their justification (and review, once made), for the DPO.
    ``pending``: True only those awaiting review, False only those reviewed."""
    uses = ctx.services.break_glass.all(pending)
    d = ctx.authorise("read_audit", ["identity.demographics"], [u["child_id"] for u in uses])
    nows = as_now(ctx.services, [(u["child_id"], u["at"], True) for u in uses])
    ctx.record("audit.break_glass", "allow", named_in([u["child_id"] for u in uses], nows), [], d.bases(),
               d.policy_version, reviews=[u["review_id"] for u in uses])
    return [_use(ctx, u, now) for u, now in zip(uses, nows)]


def review_break_glass(*, ctx: Ctx, review_id: str, review: BreakGlassReview) -> BreakGlassUse:
    """Record the DPO's review of one use: by whom (the signed-in person, else the API client),
    when, the outcome and a note (sealed at rest). Itself audited, naming the use and the outcome."""
    services = ctx.services
    extra = {"break_glass_review": review_id, "outcome": review.outcome}
    d = ctx.authorise("read_audit", ["identity.demographics"], **extra)     # before saying whether it exists
    use = services.break_glass.get(review_id)
    if use is None:
        ctx.record("audit.break_glass_review", "not_found", [], [], [], **extra)
        raise NotFound("no such break-glass use")
    reviewer = ctx.person or ctx.caller.client_id
    try:
        done = services.break_glass.review(review_id, reviewer=reviewer, outcome=review.outcome, note=review.note)
    except Conflict:        # a second verdict on a reviewed use: refused, and the attempt is on the record
        ctx.record("audit.break_glass_review", "refused", [use["child_id"]], [], d.bases(), d.policy_version,
                   reason="already_reviewed", note_sha256=digest(review.note), **extra)
        raise
    ctx.record("audit.break_glass_review", "allow", [use["child_id"]], [], d.bases(), d.policy_version,
               note_sha256=digest(review.note), **extra)
    return _use(ctx, done)
