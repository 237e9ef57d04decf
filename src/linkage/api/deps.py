"""Dependencies as ``Annotated`` aliases: services, the caller, the purpose, the request context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from linkage.access.tokens import AuthError
from linkage.policy import Principal
from linkage.service import Ctx, Services
from linkage.service.schemas import Purpose

__all__ = ["Caller", "CtxDep", "PurposeHeader", "ServicesDep"]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /oauth/token")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def get_caller(request: Request, services: ServicesDep,
               creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorised("a bearer token is required")
    try:
        claims = services.tokens.verify(creds.credentials)
        request.state.client_id = claims.client_id        # for a security event if the request is refused
        # Who the caller is comes from the register on every request, never from the token.
        return services.clients.caller(claims)
    except AuthError as exc:
        raise _unauthorised(str(exc)) from None


Caller = Annotated[Principal, Depends(get_caller)]
PurposeHeader = Annotated[Purpose, Header(alias="X-Purpose", description="Why you are asking.")]


def get_ctx(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader) -> Ctx:
    return Ctx(services, caller, purpose, request.state.request_id)


CtxDep = Annotated[Ctx, Depends(get_ctx)]
