"""Children missing education: the social worker's and CME officer's worklist.

The listing itself says a child is known to social care or health and not on a roll (or
not attending), so it needs ``identity.known_to`` and ``education.enrolment`` (and
``education.attendance`` when filtering on absence). Each child's detail is then decided
per child, with that child's consents, and built field by field from
``views.cme.CME_FIELDS``: a health contact appears only to a caller allowed
``health.contacts``. The children listed become the caller's organisation's to open.
"""

from __future__ import annotations

from datetime import date

from linkage.service.context import Ctx
from linkage.service.schemas import CmeChild, CmePage
from linkage.views.child import child_documents
from linkage.views.cme import CME_FIELDS, CME_LISTING_FIELDS, cme_page
from linkage.views.fields import build, categories, columns
from linkage.views.tables import MEMORY

__all__ = ["cme_list"]

_DETAIL = sorted(categories(CME_FIELDS))


def cme_list(*, ctx: Ctx, on: date | None = None, min_age: int = 5, max_age: int = 16, known_to: str = "any",
             absent_days: int | None = None, page: int = 1, page_size: int = 25) -> CmePage:
    services = ctx.services
    needed = ("identity.known_to", "education.enrolment") + (("education.attendance",) if absent_days else ())
    listing = ctx.authorise("list_cme", list(needed), require=needed)
    when = on or date.today()
    total, rows = cme_page(services.cursor(), when, page, page_size, MEMORY, min_age=min_age, max_age=max_age,
                           absent_days=absent_days, known_to=known_to)
    decisions, consents = {}, {}
    for child_id, _ in rows:
        consents[child_id] = consent = services.consents.evaluate(child_id, ctx.caller, ctx.purpose)
        decisions[child_id] = services.policy.decide(ctx.caller, "view", ctx.purpose or "", _DETAIL,
                                                     consent.permit, consent.deny)
    # Only the lists some child's allowed fields need are read.
    wanted = columns(CME_FIELDS, {c for d in decisions.values() for c in d.allowed})
    docs = child_documents(services.cursor(), list(decisions), wanted)
    out, shown, bases, overridden = [], set(), set(), {}
    for child_id, reason in rows:
        d = decisions[child_id]
        head, head_cats = build(CME_LISTING_FIELDS, (ctx.pseudonym(child_id), reason), listing.allowed)
        detail, detail_cats = build(CME_FIELDS, docs[child_id], d.allowed)
        for cats, decision in ((head_cats, listing), (detail_cats, d)):
            shown |= cats
            bases |= {decision.allowed[c] for c in cats}
        if cats := consents[child_id].overridden(head_cats | detail_cats):
            overridden[child_id] = cats
        out.append(CmeChild(**head, **detail))
    children = [c for c, _ in rows]
    if children:
        services.relationships.grant(ctx.org, children, "cme worklist")
    ctx.record("list_cme", "allow", children, sorted(shown), sorted(bases), listing.policy_version,
               **({"consent_overridden": overridden} if overridden else {}))
    return CmePage(total=total, page=page, page_size=page_size, children=out, lawful_basis=sorted(bases))
