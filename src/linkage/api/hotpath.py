"""The two hot routes, a lookup and a child's view, answered without FastAPI's per-request machinery.

Profiled at 8 connections, about half the server's CPU per lookup went to the framework on the
event loop: routing through the included routers, solving five dependencies, parsing and
validating the body through FastAPI's field wrappers, and three send wrappers. ``HotRoutes``
sits inside ``RequestGuard`` (request id, body limit, security headers, refusal events and the
redaction of errors all still apply) and answers a request itself only when it is well-formed:
a bearer token this process has verified before (``TokenService.remembers``: no I/O) that still
verifies, one known ``X-Purpose``, and for a lookup a JSON body the schema accepts. It then runs
the same flow as the route (``api.answer`` with a ``Pending`` caller: the register is read in the
worker thread, a revoked client is refused there). Anything else (no or unknown token, a bad
header or body, another path) goes on to the application untouched, which answers it exactly as
before; errors the flow raises go to the application's own exception handlers.
"""

from __future__ import annotations

import json
from typing import get_args

from pydantic import ValidationError
from starlette.requests import Request

from linkage.access.tokens import AuthError
from linkage.api.answer import answer
from linkage.api.deps import Pending
from linkage.api.guard import replaying
from linkage.api.routes import children as child_routes
from linkage.api.routes import lookup as lookup_routes
from linkage.service import children as child_flow
from linkage.service import lookup as lookup_flow
from linkage.service.schemas import ChildView, LookupRequest, LookupResponse, Purpose

__all__ = ["HotRoutes"]

_PURPOSES = frozenset(get_args(Purpose))
_CHILDREN = "/v1/children/"


def _single(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The one value of header ``name``; None when it is absent or given more than once."""
    found = [v for n, v in headers if n.lower() == name]
    return found[0].decode("latin-1") if len(found) == 1 else None


def _route(router, path: str, method: str):
    """The framework's own route object: a refusal's security event names its template."""
    return next(r for r in router.routes if r.path == path and method in r.methods)


_LOOKUP = _route(lookup_routes.router, "/v1/lookup", "POST")
_CHILD = _route(child_routes.router, "/v1/children/{child_ref}", "GET")


def _handler(app, exc: Exception):
    """The application's handler for ``exc`` (by its class's MRO, as Starlette looks it up)."""
    handlers = getattr(app, "exception_handlers", {})
    return next((handlers[k] for k in type(exc).__mro__ if k in handlers), None)


class HotRoutes:
    """ASGI: answers well-formed ``POST /v1/lookup`` and ``GET /v1/children/{ref}`` itself."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("root_path"):
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == "/v1/lookup":
            return await self._lookup(scope, receive, send)
        if method == "GET" and path.startswith(_CHILDREN):
            ref = path[len(_CHILDREN):]
            if ref and "/" not in ref and len(ref) <= child_routes.CHILD_REF_MAX:
                pending = self._pending(scope)
                if pending is not None:
                    scope.update(route=_CHILD, path_params={"child_ref": ref})
                    return await self._answer(scope, receive, send, child_flow.view_child, ChildView,
                                              ctx=pending, child_ref=ref)
        return await self.app(scope, receive, send)

    def _pending(self, scope) -> Pending | None:
        """The checked caller and purpose, or None to leave the request to the application."""
        root = scope.get("app")
        services = ((scope.get("state") or {}).get("services")        # the data the guard pinned
                    or getattr(getattr(root, "state", None), "services", None))
        headers = scope["headers"]
        purpose, auth = _single(headers, b"x-purpose"), _single(headers, b"authorization")
        if services is None or purpose not in _PURPOSES or auth is None:
            return None
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not services.tokens.remembers(token):
            return None
        try:
            claims = services.tokens.verify(token)
        except AuthError:
            return None         # expired: the application says so, as ever
        state = scope.setdefault("state", {})
        state["client_id"] = claims.client_id      # for a security event if the request is refused
        return Pending(services, claims, purpose, state["request_id"], state)

    async def _lookup(self, scope, receive, send):
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replay = replaying(body, receive)
        content_type = (_single(scope["headers"], b"content-type") or "").split(";")[0].strip().lower()
        pending = self._pending(scope) if content_type == "application/json" else None
        query = None
        if pending is not None:
            try:        # RequestGuard has bounded the body's size and nesting
                query = LookupRequest.model_validate(json.loads(body))
            except (ValueError, ValidationError):
                query = None
        if query is None:
            return await self.app(scope, replay, send)
        scope["route"] = _LOOKUP
        return await self._answer(scope, replay, send, lookup_flow.lookup, LookupResponse, ctx=pending, query=query)

    async def _answer(self, scope, receive, send, flow, public, **kwargs):
        try:
            response = await answer(flow, public, **kwargs)
        except Exception as exc:
            handler = _handler(scope.get("app"), exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)
