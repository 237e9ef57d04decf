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


def as_now(services, child_id: str, at: str, splits: bool = True) -> AsNow:
    """``child_id`` recorded at ``at`` (ISO text), as the child is now; ``splits``: whether the
    record follows a split (a consent's permit does not: ``consent.register._speaks``)."""
    now = services.aliases.get(child_id, child_id)
    parts = sorted(c for c in services.split_children({child_id})
                   if c != now and began_before(at, services.split_from(c)[child_id])) if splits else []
    return AsNow(now, child_id if now != child_id else None, parts)


def named_in(recorded: list[str], shown: list[AsNow]) -> list[str]:
    """The children the audit entry of a list the DPO read names: each as recorded (subject access
    finds it under either), then each as shown now and split since, where not already named."""
    more = dict.fromkeys(c for n in shown for c in (n.child_id, *n.split_since) if c not in recorded)
    return [*recorded, *more]
