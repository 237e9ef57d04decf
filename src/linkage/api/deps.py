"""Dependencies as ``Annotated`` aliases: services, the caller, the purpose, the request context.

FastAPI runs a plain ``def`` dependency in a worker thread: a hop through the thread pool
each, per request. Those that never block are ``async def``, run on the event loop. The
caller's check reads the register on every request; it stays on the event loop only when
that costs microseconds (a token whose signature this process has checked before, and the
embedded SQLite register), and goes to a thread otherwise (a first token, an external IdP's
keys over the network, a PostgreSQL register)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from linkage.access.tokens import AuthError
from linkage.policy import Principal
from linkage.service import Ctx, Services
from linkage.service.schemas import Purpose

__all__ = ["Caller", "CtxDep", "PurposeHeader", "ServicesDep"]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /oauth/token")


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _caller(request: Request, services: Services, token: str) -> Principal:
    try:
        claims = services.tokens.verify(token)
        request.state.client_id = claims.client_id        # for a security event if the request is refused
        # Who the caller is comes from the register on every request, never from the token.
        return services.clients.caller(claims)
    except AuthError as exc:
        raise _unauthorised(str(exc)) from None


async def get_caller(request: Request, services: ServicesDep,
                     creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorised("a bearer token is required")
    if services.tokens.remembers(creds.credentials) and services.state.dialect.name == "sqlite":
        return _caller(request, services, creds.credentials)
    return await run_in_threadpool(_caller, request, services, creds.credentials)


Caller = Annotated[Principal, Depends(get_caller)]
PurposeHeader = Annotated[Purpose, Header(alias="X-Purpose", description="Why you are asking.")]


async def get_ctx(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader) -> Ctx:
    return Ctx(services, caller, purpose, request.state.request_id)


CtxDep = Annotated[Ctx, Depends(get_ctx)]
