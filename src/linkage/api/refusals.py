"""Requests refused before any policy decision (401, 400/408/413/422, 429) leave a security event
in the audit log: who (if a valid token said), from what network, what route, what status; never
the body, the query values, the raw path (it may hold a pseudonym) or the token. A flood is capped
(``audit_security_events_per_second``) and the events left out are counted.

A path no route has (404) and a method a route lacks (405) asked for no data, but a scanner walking
the API or the pages is made of them: ``security.unknown_path``, at most one entry a network a
minute, carrying how many more that network sent since its last one (``repeats``), so a walk is
visible without flooding the log."""

from __future__ import annotations

import logging

import anyio

from linkage.access.allowance import take_budget, take_walk

__all__ = ["record_refusal", "remote"]

ACTIONS = {401: "security.unauthenticated", 400: "security.invalid_request", 408: "security.invalid_request",
           413: "security.invalid_request", 422: "security.invalid_request", 429: "security.rate_limited",
           404: "security.unknown_path", 405: "security.unknown_path"}
log = logging.getLogger("linkage.audit")


def _unrouted(scope, status: int) -> bool:
    """A 404 no route gave (a routed one is the flow's, which audits what it looked for) or a 405."""
    if status == 405:
        return True
    from starlette.routing import Mount

    route = scope.get("route")
    return route is None or isinstance(route, Mount)       # a mount's own router found nothing below it


def remote(scope) -> str:
    """The caller's network (never its address), as the sign-in events give it."""
    from linkage.service.oauth import network

    client = scope.get("client")
    return network(client[0]) if client else "unknown"


def _route(scope) -> str:
    """The matched route's template (``/v1/children/{child_id}``), never the path with its values."""
    from starlette.routing import Mount

    route = scope.get("route")
    if isinstance(route, Mount):            # its router found nothing below it: the mount's prefix only
        return scope.get("root_path", "") + " (not routed)"
    path = getattr(route, "path", None)
    return (scope.get("root_path", "") + path) if path else "(not routed)"     # a mounted app's prefix too


def refusal_entry(scope, status: int) -> dict | None:
    action = ACTIONS.get(status)
    if action is None:
        return None
    state = scope.get("state") or {}
    entry = {"request_id": state.get("request_id", ""), "client_id": state.get("client_id"), "action": action,
             "decision": "refused", "status": status, "method": scope.get("method", ""), "route": _route(scope),
             "remote": remote(scope), "children": [], "fields": []}
    if state.get("refused_reason"):     # a token the register refused (``api.deps``): why, and whose
        entry["reason"] = state["refused_reason"]
    if state.get("refused_person"):
        entry["person"] = state["refused_person"]
    if state.get("refused_subject"):
        entry["idp_subject"] = state["refused_subject"]
    staff = state.get("staff")          # a signed-in person on a staff page: the DPO sees who
    if staff is not None:
        entry.update(client_id=staff.user.principal().client_id, person=staff.user.email)
    return entry


async def record_refusal(scope, status: int, root) -> None:
    """``root``: the API's application (its state holds the services). Not ``scope["app"]``:
    inside the staff pages that is the mounted web application, which holds none, and every
    refusal there went unrecorded."""
    if status not in ACTIONS or (scope.get("state") or {}).get("audited"):
        return      # not a refusal of this kind, or the flow already audited it
    walk = status in (404, 405)
    if walk and not _unrouted(scope, status):
        return
    try:        # fsync'd like any entry, off the event loop, before the response goes out
        repeats = take_walk(root, remote(scope)) if walk else 0
        if repeats is None:
            return
        dropped = take_budget(root)
        if dropped is None:
            return
        entry = refusal_entry(scope, status)
        if walk:
            entry["repeats"] = repeats
        if dropped:
            entry["not_recorded_before"] = dropped
        await anyio.to_thread.run_sync(root.state.services.audit.append, entry)
    except Exception:
        log.exception("could not audit a refused request")
