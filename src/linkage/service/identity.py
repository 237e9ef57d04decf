"""Identity changes in each organisation's own pseudonyms, so systems that store them can follow.

After a linkage run merges two children, the pseudonym an organisation holds for
the retired identifier still resolves, but its own records keep two pseudonyms for
one child until it learns the surviving one; after a split, records it filed under
one pseudonym now belong to another child. This tells it, in its own forms only,
and only about children it was issued a pseudonym for before: it can never learn
of a child it never saw, nor of one a refusal of identity data hides from its lookups (that
is audited as ``identity.changes.withheld``, for the DPO). The server answers from what it held
at start-up (``up_to_run``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from functools import cache
from itertools import groupby

from linkage.digits import whole_number
from linkage.errors import LinkageError
from linkage.policy import Principal
from linkage.service.context import Ctx
from linkage.service.schemas import IdentityChange, IdentityChanges
from linkage.views.changes import Change, changes_since, last_run_id

__all__ = ["identity_changes", "org_key", "parse_since"]


def org_key(caller: Principal) -> str:
    """What an organisation's pseudonyms are keyed by: its register id, never its name.
    Every pseudonym this module forms or looks up goes through here."""
    return caller.org_id


def parse_since(since: str | None) -> int | datetime | None:
    """A run number (ASCII digits), or an ISO 8601 time, as UTC without a zone (as runs are
    kept); nothing means from the first run. A time whose offset takes it past the calendar
    (``0001-01-01T00:00+01:00``) is refused here, not where it is moved to UTC (a 500)."""
    if since is None or not since.strip():
        return None
    text = since.strip()
    if (run := whole_number(text)) is not None:
        return run
    try:
        when = datetime.fromisoformat(text)
        return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when
    except (ValueError, OverflowError):
        raise LinkageError("since must be a run number or an ISO 8601 time, e.g. 2026-11-01T00:00:00Z") from None


def _follow(run: list[Change], holds, learned: set[str], form, hidden,
            withheld: set[str]) -> tuple[list[tuple[str, ...]], set[str]]:
    """One run's merges and splits among children the organisation holds a pseudonym for
    (``holds``, or learned earlier in this answer), and the canonical ids involved. A child
    ``hidden`` from the caller is never named (it goes to ``withheld``), nor followed further."""
    out, involved = [], set()

    def known(child_id: str) -> bool:
        return child_id in learned or holds(child_id)

    for c in run:
        if c.change == "merged" and known(c.other_child_id):
            if hidden(c.child_id):
                withheld |= {c.other_child_id, c.child_id}
                continue
            out.append(("merged", form(c.other_child_id), form(c.child_id), ()))
            involved |= {c.other_child_id, c.child_id}
            learned.add(c.child_id)
    left: dict[str, set[str]] = defaultdict(set)
    for c in run:
        if c.change in ("split", "moved") and c.other_child_id:
            left[c.other_child_id].add(c.child_id)
    for old in sorted(left):
        if not known(old):
            continue
        new = sorted(left[old] - {old})
        refused = {n for n in new if hidden(n)}
        new = [n for n in new if n not in refused]
        if refused:
            withheld |= {old, *refused}
        if not new:
            continue
        out.append(("split", form(old), None, tuple(form(n) for n in new)))
        involved |= {old, *new}
        learned.update(new)
    return out, involved


def identity_changes(*, ctx: Ctx, since: str | None = None) -> IdentityChanges:
    decision = ctx.authorise("sync_pseudonyms", ["identity.demographics"])
    after = parse_since(since)
    services = ctx.services
    org = org_key(ctx.caller)
    cur = services.cursor()

    def holds(child_id: str) -> bool:
        return services.pseudonyms.was_issued(org, child_id)

    def form(child_id: str) -> str:
        return services.pseudonyms.form(org, child_id)

    @cache
    def hidden(child_id: str) -> bool:
        """Whether a refusal of identity data hides the child (as it is now) from the caller's lookups."""
        now = services.aliases.get(child_id, child_id)
        return services.consents.hides_identity(now, ctx.caller, ctx.purpose, former=services.former_ids(now),
                                                split_from=services.split_from(now))

    changes, involved, learned, withheld = [], set(), set(), set()
    for run_id, group in groupby(changes_since(cur, after, memory=True), key=lambda c: c.run_id):
        run = list(group)
        found, children = _follow(run, holds, learned, form, hidden, withheld)
        involved |= children
        changes.extend(IdentityChange(run_id=run_id, changed_at=run[0].changed_at, change=kind, pseudonym=p,
                                      surviving_pseudonym=survivor, new_pseudonyms=list(new))
                       for kind, p, survivor, new in found)
    up_to = last_run_id(cur, memory=True)
    if withheld:
        ctx.record("identity.changes.withheld", "withheld", sorted(withheld), [], decision.bases(),
                   decision.policy_version, reason="consent_refused", since=since or "", up_to_run=up_to)
    ctx.record("identity.changes", "allow", sorted(involved), ["pseudonym"] if changes else [], decision.bases(),
               decision.policy_version, since=since or "", up_to_run=up_to)
    return IdentityChanges(since=since or "", up_to_run=up_to, changes=changes)
