"""Requests refused before any policy decision (401, 400/413/422, 429) leave a security event
in the audit log: who (if a valid token said), what route, what status; never the body,
the query values, the raw path (it may hold a pseudonym) or the token."""

from __future__ import annotations

import logging

import anyio

__all__ = ["record_refusal"]

ACTIONS = {401: "security.unauthenticated", 400: "security.invalid_request", 413: "security.invalid_request",
           422: "security.invalid_request", 429: "security.rate_limited"}
log = logging.getLogger("linkage.audit")


def _route(scope) -> str:
    """The matched route's template (``/v1/children/{child_id}``), never the path with its values."""
    return getattr(scope.get("route"), "path", None) or "(not routed)"


def refusal_entry(scope, status: int) -> dict | None:
    action = ACTIONS.get(status)
    if action is None:
        return None
    state = scope.get("state") or {}
    return {"request_id": state.get("request_id", ""), "client_id": state.get("client_id"), "action": action,
            "decision": "refused", "status": status, "method": scope.get("method", ""), "route": _route(scope),
            "children": [], "fields": []}


async def record_refusal(scope, status: int) -> None:
    if status not in ACTIONS:
        return
    try:        # fsync'd like any entry, off the event loop, before the response goes out
        services = scope["app"].state.services
        await anyio.to_thread.run_sync(services.audit.append, refusal_entry(scope, status))
    except Exception:
        log.exception("could not audit a refused request")
