"""Dependencies as ``Annotated`` aliases: services, the caller, the purpose, the request context.

FastAPI runs a plain ``def`` dependency in a worker thread: a hop through the thread pool
each, per request. Those that never block are ``async def``, run on the event loop. The
caller's check reads the register on every request; it stays on the event loop only when
that costs microseconds (a token whose signature this process has checked before, and the
embedded SQLite register), and goes to a thread otherwise (a first token, an external IdP's
keys over the network, a PostgreSQL register).

The hot routes (``api.answer``) take ``PendingDep`` instead: the token is checked on the event
loop as above (a bad or expired token is refused before anything else), and the register is
read in the request's one worker thread, as the flow's first step. A read from SQLite on the
event loop releases the GIL, and under load the loop then waits for it behind the worker
threads: measured at 8 connections, that wait was a third of the loop's time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from linkage.access.tokens import AuthError, TokenClaims
from linkage.policy import Principal
from linkage.service import Ctx, Services
from linkage.service.schemas import Purpose

__all__ = ["Caller", "CtxDep", "Pending", "PendingDep", "PurposeHeader", "ServicesDep"]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /oauth/token")


async def get_services(request: Request) -> Services:
    # The data the guard pinned for this request (it stays open until the request ends).
    return getattr(request.state, "services", None) or request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _claims(request: Request, services: Services, token: str) -> TokenClaims:
    try:
        claims = services.tokens.verify(token)
    except AuthError as exc:
        raise _unauthorised(str(exc)) from None
    request.state.client_id = claims.client_id        # for a security event if the request is refused
    return claims


def _registered(services: Services, claims: TokenClaims, state: dict) -> Principal:
    """Who the caller is comes from the register on every request, never from the token. ``state``:
    the request's (``scope["state"]``), where a refusal leaves its reason, and the person refused,
    for its audit entry (``api.refusals``)."""
    try:
        return services.clients.caller(claims)
    except AuthError as exc:
        if exc.reason:
            state["refused_reason"] = exc.reason
        if exc.person:
            state["refused_person"] = exc.person
        if claims.external:         # whom the provider issued it to: what to register, if that is the want
            state["refused_subject"] = claims.subject
        raise _unauthorised(str(exc)) from None


def _caller(request: Request, services: Services, token: str) -> Principal:
    return _registered(services, _claims(request, services, token), request.scope.setdefault("state", {}))


def _bearer_token(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorised("a bearer token is required")
    return creds.credentials


async def get_caller(request: Request, services: ServicesDep,
                     creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    token = _bearer_token(creds)
    if services.tokens.remembers(token) and services.state.dialect.name == "sqlite":
        return _caller(request, services, token)
    return await run_in_threadpool(_caller, request, services, token)


Caller = Annotated[Principal, Depends(get_caller)]
PurposeHeader = Annotated[Purpose, Header(alias="X-Purpose", description="Why you are asking.")]


@dataclass(frozen=True)
class Pending:
    """A request whose token has been checked, its caller not yet read from the register:
    ``ctx()`` does that (refusing a revoked or disabled client with 401, as ``Caller`` does),
    in the worker thread that then runs the flow."""

    services: Services
    claims: TokenClaims
    purpose: str
    request_id: str
    state: dict = field(default_factory=dict, compare=False)     # the request's scope["state"]

    def ctx(self) -> Ctx:
        return Ctx(self.services, _registered(self.services, self.claims, self.state), self.purpose,
                   self.request_id)


async def get_claims(request: Request, services: ServicesDep,
                     creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> TokenClaims:
    token = _bearer_token(creds)
    if services.tokens.remembers(token):        # times only: microseconds, no I/O
        return _claims(request, services, token)
    return await run_in_threadpool(_claims, request, services, token)


async def get_pending(request: Request, services: ServicesDep, claims: Annotated[TokenClaims, Depends(get_claims)],
                      purpose: PurposeHeader) -> Pending:
    """A missing or bad token is refused (401) before the purpose header is looked at, as with ``CtxDep``."""
    return Pending(services, claims, purpose, request.state.request_id, request.scope.setdefault("state", {}))


PendingDep = Annotated[Pending, Depends(get_pending)]


async def get_ctx(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader) -> Ctx:
    return Ctx(services, caller, purpose, request.state.request_id)


CtxDep = Annotated[Ctx, Depends(get_ctx)]
