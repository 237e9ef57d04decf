"""The DPO's view: who saw what, whether the log is intact, and subject access."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from linkage.api.deps import Caller, PurposeHeader, ServicesDep, audit_and_authorise, record_access
from linkage.api.schemas import AuditEntryPublic, AuditPage, AuditVerify

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _authorise(services, request, caller, purpose, what: str, children=None):
    d = audit_and_authorise(services, request, caller, purpose, "read_audit", ["identity.demographics"], children)
    record_access(services, request, caller, purpose, what, "allow", children, [], d.bases(), d.policy_version)


def _public(rec: dict) -> AuditEntryPublic:
    e = rec["entry"]
    return AuditEntryPublic(seq=rec["seq"], time=e["time"], request_id=e["request_id"], client_id=e["client_id"],
                            agency=e["agency"], agency_type=e["agency_type"], role=e["role"], purpose=e.get("purpose"),
                            lawful_basis=e.get("lawful_basis", []), action=e["action"],
                            child_id=",".join(e.get("children", [])) or None, fields=e.get("fields", []),
                            decision=e["decision"], policy_version=e.get("policy_version", ""),
                            break_glass=bool(e.get("break_glass")))


@router.get("", response_model=AuditPage)
def search(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader,
           child_id: Annotated[str | None, Query(max_length=40)] = None,
           client_id: Annotated[str | None, Query(max_length=64)] = None,
           agency: Annotated[str | None, Query(max_length=200)] = None,
           access_purpose: Annotated[str | None, Query(alias="purpose", max_length=40)] = None,
           decision: Annotated[Literal["allow", "deny", "not_found"] | None, Query()] = None,
           break_glass: bool | None = None,
           since: datetime | None = None, until: datetime | None = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100,
           offset: Annotated[int, Query(ge=0)] = 0) -> AuditPage:
    _authorise(services, request, caller, purpose, "audit.search")
    hits = []
    for rec in services.audit.entries():
        e = rec["entry"]
        t = datetime.fromisoformat(e["time"])
        if ((child_id and child_id not in e.get("children", [])) or (client_id and e["client_id"] != client_id)
                or (agency and e["agency"] != agency) or (access_purpose and e.get("purpose") != access_purpose)
                or (decision and e["decision"] != decision)
                or (break_glass is not None and bool(e.get("break_glass")) != break_glass)
                or (since and t < _aware(since)) or (until and t > _aware(until))):
            continue
        hits.append(rec)
    return AuditPage(total=len(hits), entries=[_public(r) for r in hits[offset:offset + limit]])


def _aware(d: datetime) -> datetime:
    from datetime import timezone

    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


@router.get("/verify", response_model=AuditVerify)
def verify(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader) -> AuditVerify:
    _authorise(services, request, caller, purpose, "audit.verify")
    problems = services.audit.verify()
    return AuditVerify(ok=not problems, entries=len(services.audit.entries()),
                       checkpoints=len(services.audit.checkpoints()), problems=[str(p) for p in problems])


@router.get("/checkpoints")
def checkpoints(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader) -> dict:
    """Signed checkpoints and the public key, for a DPO to keep outside the service."""
    _authorise(services, request, caller, purpose, "audit.checkpoints")
    services.audit.checkpoint()
    return {"public_key_pem": services.audit.public_key_pem(), "checkpoints": services.audit.checkpoints()}


@router.get("/subject/{child_id}", response_model=AuditPage)
def subject_access(child_id: str, request: Request, services: ServicesDep, caller: Caller,
                   purpose: PurposeHeader) -> AuditPage:
    """Who saw what about this child (the canonical identifier), for a subject access request."""
    _authorise(services, request, caller, purpose, "audit.subject", [child_id])
    hits = [r for r in services.audit.entries()
            if child_id in r["entry"].get("children", []) and not r["entry"]["action"].startswith("audit.")]
    return AuditPage(total=len(hits), entries=[_public(r) for r in hits])


@router.get("/break-glass")
def break_glass_reviews(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader) -> list[dict]:
    """Every break-glass access with its justification, for the DPO's review."""
    _authorise(services, request, caller, purpose, "audit.break_glass")
    rows = [dict(r) for r in services.state.execute("SELECT * FROM break_glass ORDER BY at")]
    for r in rows:
        r["justification"] = services.sealer.open(r["justification"], r["review_id"])
    return rows
