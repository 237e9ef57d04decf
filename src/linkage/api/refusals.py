"""Requests refused before any policy decision (401, 400/408/413/422, 429) leave a security event
in the audit log: who (if a valid token said), what route, what status; never the body,
the query values, the raw path (it may hold a pseudonym) or the token. A flood is capped
(``audit_security_events_per_second``) and the events left out are counted."""

from __future__ import annotations

import logging
import time

import anyio

__all__ = ["record_refusal", "take_budget"]

ACTIONS = {401: "security.unauthenticated", 400: "security.invalid_request", 408: "security.invalid_request",
           413: "security.invalid_request", 422: "security.invalid_request", 429: "security.rate_limited"}
log = logging.getLogger("linkage.audit")


def _route(scope) -> str:
    """The matched route's template (``/v1/children/{child_id}``), never the path with its values."""
    path = getattr(scope.get("route"), "path", None)
    return (scope.get("root_path", "") + path) if path else "(not routed)"     # a mounted app's prefix too


def refusal_entry(scope, status: int) -> dict | None:
    action = ACTIONS.get(status)
    if action is None:
        return None
    state = scope.get("state") or {}
    entry = {"request_id": state.get("request_id", ""), "client_id": state.get("client_id"), "action": action,
             "decision": "refused", "status": status, "method": scope.get("method", ""), "route": _route(scope),
             "children": [], "fields": []}
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
    try:        # fsync'd like any entry, off the event loop, before the response goes out
        dropped = take_budget(root)
        if dropped is None:
            return
        entry = refusal_entry(scope, status)
        if dropped:
            entry["not_recorded_before"] = dropped
        await anyio.to_thread.run_sync(root.state.services.audit.append, entry)
    except Exception:
        log.exception("could not audit a refused request")
