"""How many security events a process writes: a flood of refused requests (anyone can send them)
must not fill the disk or hold the log's lock. Here, below the API and the staff pages, which both
take from one allowance (``root``: the API's application, whose state holds it and the settings)."""

from __future__ import annotations

import time

__all__ = ["WALK_NETWORKS", "WALK_SECONDS", "take_budget", "take_walk"]

WALK_SECONDS = 60           # one unknown-path entry a network this often, with the count between
WALK_NETWORKS = 4096        # networks remembered; the oldest forgotten first


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
