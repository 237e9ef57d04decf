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
import time

import anyio

__all__ = ["record_refusal", "remote", "take_budget", "take_walk"]

ACTIONS = {401: "security.unauthenticated", 400: "security.invalid_request", 408: "security.invalid_request",
           413: "security.invalid_request", 422: "security.invalid_request", 429: "security.rate_limited",
           404: "security.unknown_path", 405: "security.unknown_path"}
WALK_SECONDS = 60           # one unknown-path entry a network this often, with the count between
WALK_NETWORKS = 4096        # networks remembered; the oldest forgotten first
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
    staff = state.get("staff")          # a signed-in person on a staff page: the DPO sees who
    if staff is not None:
        entry.update(client_id=staff.user.principal().client_id, person=staff.user.email)
    return entry


class _Budget:
    """At most ``per_second`` security events a second, so a flood of bad requests cannot
    fill the disk or hold the log's lock; the number left out is on the next one written."""

    def __init__(self) -> None:
        self.second, self.used, self.dropped = 0, 0, 0

    def take(self, per_second: int) -> int | None:
        now = int(time.monotonic())
        if now != self.second:
            self.second, self.used = now, 0
        if self.used >= per_second:
            self.dropped += 1
            return None
        self.used += 1
        dropped, self.dropped = self.dropped, 0
        return dropped


class _Walks:
    """Per network, at most one entry each ``WALK_SECONDS``; the refusals between are counted and
    the count goes on that network's next entry. Bounded: the least recent network is forgotten."""

    def __init__(self) -> None:
        self.seen: dict[str, list] = {}         # network -> [when its last entry was written, left out since]

    def take(self, network: str) -> int | None:
        now = time.monotonic()
        held = self.seen.get(network)
        if held is not None and now - held[0] < WALK_SECONDS:
            held[1] += 1
            return None
        repeats = held[1] if held is not None else 0
        self.seen.pop(network, None)
        self.seen[network] = [now, 0]           # newest last: dicts keep insertion order
        if len(self.seen) > WALK_NETWORKS:
            del self.seen[next(iter(self.seen))]
        return repeats


def take_walk(root, network: str, kind: str = "path") -> int | None:
    """Whether an unknown path (or a request that is not HTTP) from ``network`` is written now: None
    when that network had one written within the minute (counted), else how many were left out."""
    state = root.state
    if getattr(state, "refusal_walks", None) is None:
        state.refusal_walks = _Walks()
    return state.refusal_walks.take(f"{network} {kind}")


def take_budget(root) -> int | None:
    """One security event from the process's allowance (``root``: the API's application, whose
    state holds it): None when this second's is spent, else how many were left out before it."""
    state = root.state
    if getattr(state, "refusal_budget", None) is None:
        state.refusal_budget = _Budget()
    return state.refusal_budget.take(state.services.settings.audit_security_events_per_second)


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
