"""A child named by the identifier something was recorded under (a break-glass use, a consent, a
consent hold), as the child is now.

A link run since may have merged that identifier into another child (``aliases``), or split
records from it (``split_from``). The DPO reads the child as it is now, the identifier recorded
where it differs ("recorded as ..."), and the children split from it since it was recorded: what
the record said about the child then, it says about them too (a refusal and a hold speak for them,
``consent.holds``; a break-glass use opened their records)."""

from __future__ import annotations

from dataclasses import dataclass, field

from linkage.consent.holds import began_before

__all__ = ["AsNow", "as_now", "named_in"]


@dataclass(frozen=True)
class AsNow:
    child_id: str                   # the child now
    recorded_as: str | None         # the identifier recorded, where a merge retired it
    split_since: list[str] = field(default_factory=list)    # children split from it since


def as_now(services, recorded: list[tuple[str, str | None, bool]]) -> list[AsNow]:
    """Each ``(child_id, at, follows)`` (recorded under ``child_id`` at ``at``, ISO text) as the child
    is now; ``follows``: whether the record speaks for parts split off since (a refusal does, a
    permission does not: ``consent.register._speaks``). The splits are read once for the whole list
    (a register of thousands of consents asks once, not once a consent)."""
    ids = {c for c, at, follows in recorded if follows and at}
    parted = {c: services.split_from(c) for c in services.split_children(ids)}     # child -> {id: left at}
    out = []
    for child_id, at, follows in recorded:
        now = services.aliases.get(child_id, child_id)
        parts = sorted(c for c, left in parted.items() if c != now and child_id in left and follows and at
                       and began_before(at, left[child_id]))
        out.append(AsNow(now, child_id if now != child_id else None, parts))
    return out


def named_in(recorded: list[str], shown: list[AsNow]) -> list[str]:
    """The children the audit entry of a list the DPO read names: each as recorded (subject access
    finds it under either), then each as shown now and split since, where not already named."""
    more = dict.fromkeys(c for n in shown for c in (n.child_id, *n.split_since) if c not in recorded)
    return [*recorded, *more]
