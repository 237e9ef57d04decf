"""The DPO's view: who saw what, whether the log is intact, and subject access."""

from __future__ import annotations

from datetime import datetime, timezone

from linkage.service.context import Ctx
from linkage.service.schemas import AuditEntryPublic, AuditPage, AuditVerify

__all__ = ["break_glass_reviews", "checkpoints", "search", "subject_access", "verify"]


def _authorise(ctx: Ctx, what: str, children: list[str] | None = None) -> None:
    d = ctx.authorise("read_audit", ["identity.demographics"], children)
    ctx.record(what, "allow", children, [], d.bases(), d.policy_version)


def _public(rec: dict) -> AuditEntryPublic:
    e = rec["entry"]
    return AuditEntryPublic(seq=rec["seq"], time=e["time"], request_id=e["request_id"], client_id=e["client_id"],
                            agency=e["agency"], agency_type=e["agency_type"], role=e["role"], purpose=e.get("purpose"),
                            lawful_basis=e.get("lawful_basis", []), action=e["action"],
                            child_id=",".join(e.get("children", [])) or None, fields=e.get("fields", []),
                            decision=e["decision"], policy_version=e.get("policy_version", ""),
                            break_glass=bool(e.get("break_glass")))


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def search(*, ctx: Ctx, child_id: str | None = None, client_id: str | None = None, agency: str | None = None,
           purpose: str | None = None, decision: str | None = None, break_glass: bool | None = None,
           since: datetime | None = None, until: datetime | None = None, limit: int = 100,
           offset: int = 0) -> AuditPage:
    _authorise(ctx, "audit.search")
    hits = []
    for rec in ctx.services.audit.entries():
        e = rec["entry"]
        t = datetime.fromisoformat(e["time"])
        if ((child_id and child_id not in e.get("children", [])) or (client_id and e["client_id"] != client_id)
                or (agency and e["agency"] != agency) or (purpose and e.get("purpose") != purpose)
                or (decision and e["decision"] != decision)
                or (break_glass is not None and bool(e.get("break_glass")) != break_glass)
                or (since and t < _aware(since)) or (until and t > _aware(until))):
            continue
        hits.append(rec)
    return AuditPage(total=len(hits), entries=[_public(r) for r in hits[offset:offset + limit]])


def verify(*, ctx: Ctx) -> AuditVerify:
    _authorise(ctx, "audit.verify")
    audit = ctx.services.audit
    problems = audit.verify()
    return AuditVerify(ok=not problems, entries=len(audit.entries()), checkpoints=len(audit.checkpoints()),
                       problems=[str(p) for p in problems])


def checkpoints(*, ctx: Ctx) -> dict:
    """Signed checkpoints and the public key, for a DPO to keep outside the service."""
    _authorise(ctx, "audit.checkpoints")
    ctx.services.audit.checkpoint()
    return {"public_key_pem": ctx.services.audit.public_key_pem(), "checkpoints": ctx.services.audit.checkpoints()}


def subject_access(*, ctx: Ctx, child_id: str) -> AuditPage:
    """Who saw what about this child (the canonical identifier), for a subject access request."""
    _authorise(ctx, "audit.subject", [child_id])
    hits = [r for r in ctx.services.audit.entries()
            if child_id in r["entry"].get("children", []) and not r["entry"]["action"].startswith("audit.")]
    return AuditPage(total=len(hits), entries=[_public(r) for r in hits])


def break_glass_reviews(*, ctx: Ctx) -> list[dict]:
    """Every break-glass access with its justification, for the DPO's review."""
    _authorise(ctx, "audit.break_glass")
    return ctx.services.break_glass.all()
