"""Social workers and CME officers find children missing education."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from linkage.api.deps import Caller, PurposeHeader, ServicesDep, audit_and_authorise, record_access
from linkage.api.schemas import CmeChild, CmePage
from linkage.views.child import SECTIONS, child_documents
from linkage.views.cme import CME_DOCUMENT, cme_page, last_school, latest_contact
from linkage.views.tables import MEMORY

router = APIRouter(prefix="/v1", tags=["children missing education"])
_DETAIL = ["identity.address", "education.enrolment", "health.gp"]


@router.get("/cme", response_model=CmePage)
def cme(request: Request, services: ServicesDep, caller: Caller, purpose: PurposeHeader,
        min_age: Annotated[int, Query(ge=0, le=25)] = 5,
        max_age: Annotated[int, Query(ge=1, le=26)] = 16,
        known_to: Annotated[Literal["any", "social_care", "health"], Query()] = "any",
        absent_days: Annotated[int | None, Query(ge=1, le=200, description="Also list children on roll who "
                                                 "attended no session last term with this many days' absence.")] = None,
        on: Annotated[date | None, Query(description="Date to judge ages and rolls on; default today.")] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=100)] = 25) -> CmePage:
    """Children known to social care or health with no current school place, off roll,
    or not attending; with every last known address, last school, GP and latest contact."""
    listing = audit_and_authorise(services, request, caller, purpose, "list_cme", ["identity.address"])
    when = on or date.today()
    total, rows = cme_page(services.cursor(), when, page, page_size, MEMORY, min_age=min_age, max_age=max_age,
                           absent_days=absent_days, known_to=known_to)
    docs = child_documents(services.cursor(), [c for c, _ in rows], CME_DOCUMENT)
    out, fields, bases = [], set(), set(listing.bases())
    for child_id, reason in rows:
        consent = services.consents.evaluate(child_id, caller.agency_type, purpose)
        d = services.policy.decide(caller, "view", purpose, _DETAIL, consent.permit, consent.deny)
        item = CmeChild(child_id=services.pseudonyms.form(caller.agency, child_id), reason=reason)
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
    record_access(services, request, caller, purpose, "list_cme", "allow", [c for c, _ in rows],
                  sorted(fields), sorted(bases), listing.policy_version)
    return CmePage(total=total, page=page, page_size=page_size, children=out, lawful_basis=sorted(bases))
