"""Dependencies as ``Annotated`` aliases: services, the caller, the purpose."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from linkage.api.schemas import Purpose
from linkage.api.security import AuthError
from linkage.api.services import Services
from linkage.policy import Decision, Principal

__all__ = ["Caller", "PurposeHeader", "ServicesDep", "audit_and_authorise", "record_access"]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /oauth/token")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def get_caller(services: ServicesDep,
               creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorised("a bearer token is required")
    try:
        claims = services.tokens.verify(creds.credentials)
    except AuthError as exc:
        raise _unauthorised(str(exc)) from None
    return Principal(claims.client_id, claims.agency, claims.agency_type, claims.role)


Caller = Annotated[Principal, Depends(get_caller)]
PurposeHeader = Annotated[Purpose, Header(alias="X-Purpose", description="Why you are asking.")]


def record_access(services: Services, request: Request, caller: Principal, purpose: str | None,
                  action: str, decision: str, children: list[str] | None = None,
                  fields: list[str] | None = None, lawful_basis: list[str] | None = None,
                  policy_version: str = "", **extra) -> None:
    """Append to the audit log; fsync'd before the response goes out. No raw personal data."""
    services.audit.append({
        "request_id": request.state.request_id, "client_id": caller.client_id, "agency": caller.agency,
        "agency_type": caller.agency_type, "role": caller.role, "purpose": purpose, "action": action,
        "children": sorted(set(children or [])), "fields": sorted(fields or []),
        "lawful_basis": sorted(set(lawful_basis or [])), "decision": decision,
        "policy_version": policy_version or services.policy.version, **extra})


def audit_and_authorise(services: Services, request: Request, caller: Principal, purpose: str,
                        action: str, categories: list[str], children: list[str] | None = None,
                        consent: dict | None = None, consent_denied: dict | None = None,
                        break_glass: bool = False, **extra) -> Decision:
    """Decide; a refusal is audited and becomes 403, an allowance is returned to the route."""
    decision = services.policy.decide(caller, action, purpose, categories, consent, consent_denied, break_glass)
    if not decision.any:
        record_access(services, request, caller, purpose, action, "deny", children, [], [],
                      decision.policy_version, break_glass=break_glass, **extra)
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"the sharing policy does not allow {action} for purpose {purpose!r}")
    return decision


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
