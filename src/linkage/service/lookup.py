"""Find the child behind an incoming pupil's demographics."""

from __future__ import annotations

from linkage.errors import LinkageError
from linkage.link.lookup import LookupQuery
from linkage.service.context import Ctx
from linkage.service.schemas import CandidatePublic, LookupRequest, LookupResponse

__all__ = ["NotReady", "lookup"]


class NotReady(LinkageError):
    """No linked population yet: HTTP 503."""


def lookup(*, ctx: Ctx, query: LookupRequest) -> LookupResponse:
    services = ctx.services
    decision = ctx.authorise("lookup", ["identity.demographics"])
    if services.lookup is None:
        raise NotReady("no linked population yet: run `linkage link`")
    found = [c for c in services.lookup.search(LookupQuery(**query.model_dump()))    # a refusal hides identity
             if not services.consents.hides_identity(c.child_id, ctx.caller, ctx.purpose)]
    ctx.record("lookup", "allow", [c.child_id for c in found], ["match_probability", "agreed_fields"],
               decision.bases(), decision.policy_version)
    return LookupResponse(
        candidates=[CandidatePublic(child_id=services.pseudonyms.form(ctx.caller.org_id, c.child_id),
                                    match_probability=c.match_probability, agreed=c.agreed,
                                    disagreed=c.disagreed) for c in found],
        searched_records=services.lookup.size, lawful_basis=decision.bases())
