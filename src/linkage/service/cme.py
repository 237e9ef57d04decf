"""Children missing education: the social worker's and CME officer's worklist."""

from __future__ import annotations

from datetime import date

from linkage.service.context import Ctx
from linkage.service.schemas import CmeChild, CmePage
from linkage.views.child import SECTIONS, child_documents
from linkage.views.cme import CME_DOCUMENT, cme_page, last_school, latest_contact
from linkage.views.tables import MEMORY

__all__ = ["cme_list"]

_DETAIL = ["identity.address", "education.enrolment", "health.gp"]


def cme_list(*, ctx: Ctx, on: date | None = None, min_age: int = 5, max_age: int = 16, known_to: str = "any",
             absent_days: int | None = None, page: int = 1, page_size: int = 25) -> CmePage:
    services = ctx.services
    listing = ctx.authorise("list_cme", ["identity.address"])
    when = on or date.today()
    total, rows = cme_page(services.cursor(), when, page, page_size, MEMORY, min_age=min_age, max_age=max_age,
                           absent_days=absent_days, known_to=known_to)
    docs = child_documents(services.cursor(), [c for c, _ in rows], CME_DOCUMENT)
    out, fields, bases, overridden = [], set(), set(listing.bases()), {}
    for child_id, reason in rows:
        consent = services.consents.evaluate(child_id, ctx.caller, ctx.purpose)
        d = services.policy.decide(ctx.caller, "view", ctx.purpose, _DETAIL, consent.permit, consent.deny)
        if cats := consent.overridden(d.allowed):
            overridden[child_id] = cats
        item = CmeChild(child_id=services.pseudonyms.form(ctx.caller.org_id, child_id), reason=reason)
        doc = docs[child_id]
        if "identity.address" in d.allowed:
            item.addresses = SECTIONS["identity.address"][2](doc)
        if "education.enrolment" in d.allowed:
            item.last_school = last_school(doc)
            item.latest_contact = latest_contact(doc)
        if "health.gp" in d.allowed:
            item.gp_practice = SECTIONS["health.gp"][2](doc)
        fields |= set(d.allowed)
        bases |= set(d.bases())
        out.append(item)
    ctx.record("list_cme", "allow", [c for c, _ in rows], sorted(fields), sorted(bases), listing.policy_version,
               **({"consent_overridden": overridden} if overridden else {}))
    return CmePage(total=total, page=page, page_size=page_size, children=out, lawful_basis=sorted(bases))
