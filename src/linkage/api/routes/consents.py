"""Record, list and withdraw consent. It takes effect on the very next request."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Request

from linkage.api.deps import Caller, PurposeHeader, ServicesDep, audit_and_authorise, record_access
from linkage.api.schemas import ConsentCreate, ConsentPublic
from linkage.consent import ConsentRecord
from linkage.errors import LinkageError

router = APIRouter(prefix="/v1/consents", tags=["consent"])


def _public(services, caller, rec: ConsentRecord) -> ConsentPublic:
    from datetime import date

    return ConsentPublic(consent_id=rec.consent_id, child_id=services.pseudonyms.form(caller.agency, rec.child_id),
                         category=rec.category, actor=rec.actor, purpose=rec.purpose, provision=rec.provision,
                         given_by=rec.given_by, period={"start": rec.given_on, "end": rec.expires_on},
                         status=rec.status(date.today()), recorded_by=rec.recorded_by)


def _child(services, request, caller, purpose, ref: str) -> str:
    child_id = services.resolve(caller.agency, ref)
    if child_id is None:
        record_access(services, request, caller, purpose, "manage_consent", "not_found")
        raise HTTPException(404, "no such child for your agency")
    return child_id


@router.post("", response_model=ConsentPublic, status_code=201)
def record(body: ConsentCreate, request: Request, services: ServicesDep, caller: Caller,
           purpose: PurposeHeader) -> ConsentPublic:
    child_id = _child(services, request, caller, purpose, body.child_id)
    d = audit_and_authorise(services, request, caller, purpose, "manage_consent", ["identity.demographics"], [child_id])
    try:
        rec = services.consents.record(child_id, body.category, body.actor, body.purpose, body.provision,
                                       body.given_by, body.given_on, body.expires_on, caller.agency)
    except LinkageError as exc:
        raise HTTPException(422, str(exc)) from None
    record_access(services, request, caller, purpose, "consent.record", "allow", [child_id],
                  [f"consent:{rec.consent_id}"], d.bases(), d.policy_version)
    return _public(services, caller, rec)


@router.get("", response_model=list[ConsentPublic])
def list_consents(child_id: str, request: Request, services: ServicesDep, caller: Caller,
                  purpose: PurposeHeader) -> list[ConsentPublic]:
    cid = _child(services, request, caller, purpose, child_id)
    d = audit_and_authorise(services, request, caller, purpose, "manage_consent", ["identity.demographics"], [cid])
    recs = services.consents.for_child(cid)
    record_access(services, request, caller, purpose, "consent.list", "allow", [cid],
                  [f"consent:{r.consent_id}" for r in recs], d.bases(), d.policy_version)
    return [_public(services, caller, r) for r in recs]


@router.post("/{consent_id}/withdraw", response_model=ConsentPublic)
def withdraw(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader,
             consent_id: str = Path(max_length=40)) -> ConsentPublic:
    rec = services.consents.get(consent_id)
    if rec is None:
        record_access(services, request, caller, purpose, "consent.withdraw", "not_found")
        raise HTTPException(404, "no such consent")
    d = audit_and_authorise(services, request, caller, purpose, "manage_consent", ["identity.demographics"],
                            [rec.child_id])
    rec = services.consents.withdraw(consent_id, caller.agency)
    record_access(services, request, caller, purpose, "consent.withdraw", "allow", [rec.child_id],
                  [f"consent:{consent_id}"], d.bases(), d.policy_version)
    return _public(services, caller, rec)
