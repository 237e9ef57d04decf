"""Clerical review for the local authority's data manager: list, show, decide.

The queue and its records were loaded when the server started (the store is then read-only and
detached); decisions go to the append-only log in the service state, which the next
``linkage link`` reads, so the listing drops a decided pair at once and the next run honours it.
"""

from __future__ import annotations

from linkage.errors import LinkageError, NotFound
from linkage.link.review import Decision
from linkage.service.context import Ctx, digest
from linkage.service.schemas import (
    ReviewDecisionCreate,
    ReviewDecisionPublic,
    ReviewField,
    ReviewPage,
    ReviewPair,
    ReviewPairDetail,
    ReviewStep,
)

__all__ = ["decision_entry", "noted", "review_decide", "review_list", "review_pair"]

ACTION = "manage_data"
# A pair shows each record's agency (``source``, the record key's prefix): which agencies know the
# child is ``identity.known_to``, so the entries name it too.
CATEGORIES = ["identity.demographics", "identity.address", "identity.known_to"]


def _pair(row: dict, last: str = "") -> ReviewPair:
    weight = row["match_weight"]
    return ReviewPair(id=row["pair_id"], record_key_l=row["record_key_l"], record_key_r=row["record_key_r"],
                      match_probability=float(row["match_probability"]),
                      match_weight=None if weight != weight or weight is None else float(weight),
                      priority=float(row["priority"]), records_affected=int(row["cluster_size"]),
                      reason=row["reason"], first_run=int(row["first_run"]), last_decision=last)


def _public(d: Decision) -> ReviewDecisionPublic:
    return ReviewDecisionPublic(decision_id=d.decision_id, pair_id=d.pair_id, decision=d.decision,
                                reviewer=d.reviewer, note=d.note, channel=d.channel, decided_at=d.decided_at)


def noted(note: str) -> dict:
    """A note's digest for an audit entry (none without a note). The note is sealed and shown to data
    managers only; its digest ties the entry to it (as break-glass's justification), so the DPO can
    check the note a data manager shows them."""
    return {"note_sha256": digest(note)} if note else {}


def decision_entry(d: Decision) -> dict:
    """What an audit entry says of a recorded decision, whichever channel made it (the API, the
    pages, ``linkage review decide``): one function, so that the channels cannot say it differently."""
    return {"pair_id": d.pair_id, "review_decision": d.decision, "decision_id": d.decision_id,
            "reviewer": d.reviewer, **noted(d.note)}


def review_list(*, ctx: Ctx, reason: str | None = None, min_p: float = 0.0, max_p: float = 1.0,
                order: str = "priority", page: int = 1, page_size: int = 25) -> ReviewPage:
    allowed = ctx.authorise(ACTION, CATEGORIES)
    services = ctx.services
    pairs = services.review.open_pairs(services.decisions.latest(), reason, min_p, max_p, order)
    rows = pairs.iloc[(page - 1) * page_size: page * page_size].to_dict("records")
    out = [_pair(r, r["last_decision"]) for r in rows]
    ctx.record("review.list", "allow", [], CATEGORIES, sorted(set(allowed.bases())), allowed.policy_version,
               pairs=[p.id for p in out])
    return ReviewPage(total=len(pairs), page=page, page_size=page_size, pairs=out)


def _children(ctx: Ctx, action: str, pair_id: str) -> list[str]:
    """The children the pair's two records belong to (named in the audit entry, so a subject
    access report shows who compared or decided their records); an unknown pair is audited, 404."""
    try:
        return ctx.services.review.children(pair_id)
    except NotFound:
        ctx.record(action, "not_found", [], [], [], pair_id=pair_id)
        raise


def review_pair(*, ctx: Ctx, pair_id: str) -> ReviewPairDetail:
    allowed = ctx.authorise(ACTION, CATEGORIES, pair_id=pair_id)
    children = _children(ctx, "review.show", pair_id)
    view = ctx.services.review
    row = view.pair(pair_id)
    history = ctx.services.decisions.history(pair_id)
    try:
        steps = [ReviewStep(comparison=s.comparison, level=s.level, bayes_factor=s.bayes_factor,
                            match_weight=s.match_weight, cumulative=s.cumulative) for s in view.explain(pair_id).steps]
    except LinkageError:
        steps = []        # no saved model, or a record no longer current: the records still show
    detail = ReviewPairDetail(
        **_pair(row, history[-1].decision if history else "").model_dump(),
        fields=[ReviewField(**f._asdict()) for f in view.side_by_side(pair_id)],
        waterfall=steps, decisions=[_public(d) for d in history])
    ctx.record("review.show", "allow", children, CATEGORIES, sorted(set(allowed.bases())), allowed.policy_version,
               pair_id=pair_id)
    return detail


def review_decide(*, ctx: Ctx, pair_id: str, body: ReviewDecisionCreate,
                  channel: str = "api") -> ReviewDecisionPublic:
    """Record a decision (``channel``: "api", or "web" for the staff pages). The audit entry's
    ``person`` is only ever the signed-in member of staff; the name an API client gives is its
    claim, kept as ``reviewer`` beside the client that made it."""
    allowed = ctx.authorise(ACTION, CATEGORIES, pair_id=pair_id)
    children = _children(ctx, "review.decide", pair_id)
    d = ctx.services.review.decide(ctx.services.decisions, pair_id, body.decision, reviewer=body.reviewer,
                                   note=body.note, channel=channel, client_id=ctx.caller.client_id,
                                   seen=body.seen_decision)
    ctx.record("review.decide", "allow", children, CATEGORIES, sorted(set(allowed.bases())),
               allowed.policy_version, **decision_entry(d))
    return _public(d)
