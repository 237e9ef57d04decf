"""Children missing education: the social worker's and CME officer's worklist.

The listing itself says a child is known to social care or health and not on a roll (or
not attending), so it needs ``identity.known_to`` and ``education.enrolment`` (and
``education.attendance`` when filtering on absence). Each child's detail is then decided
per child, with that child's consents, and built field by field from
``views.cme.CME_FIELDS`` and ``worklist_fields``: a health contact appears only to a caller
allowed ``health.contacts``; a child whose address is withheld never matches an area filter
and sorts last by address. The children listed (or exported) become the caller's
organisation's to open. A child a refusal of identity data hides from the caller's lookups is
left out of its list too (the list names children as a lookup does); the DPO is told, in a
``list_cme.withheld`` entry naming them.

The API's ``GET /v1/cme``, the worklist page and its CSV export all go through ``_worklist``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from linkage.consent import ConsentState
from linkage.policy import Decision
from linkage.safetext import csv_text
from linkage.service.context import Ctx
from linkage.service.schemas import CmeChild, CmePage
from linkage.views.cme import ABSENT, CME_FIELDS, CME_LISTING_FIELDS, worklist_fields
from linkage.views.fields import build, categories

__all__ = ["SORTS", "CmeExport", "cme_export", "cme_list"]

_DETAIL = sorted(categories(CME_FIELDS) | categories(worklist_fields(date.today())))
_NO_CONSENT = ConsentState({}, {})

# Sortable columns: each child's sort key from its built worklist entry (None sorts last).
SORTS = {
    "name": lambda c: ((c["name"]["surname"] or "").casefold(), (c["name"]["forename"] or "").casefold())
    if c.get("name") else None,
    "age": lambda c: c.get("age"),
    "out_of_school": lambda c: c["out_of_school"]["days"] if c.get("out_of_school") else None,
    "school": lambda c: (c["last_school"].get("school_name") or c["last_school"]["urn"]).casefold()
    if c.get("last_school") else None,
    "address": lambda c: str(c["latest_address"]["since"] or c["latest_address"]["as_of"])
    if c.get("latest_address") else None,
    "new": lambda c: None if c.get("new_since_last_run") is None else not c["new_since_last_run"],   # new first
}


@dataclass(frozen=True)
class _Filters:
    on: date
    min_age: int = 5
    max_age: int = 16
    known_to: str = "any"
    absent_days: int | None = None
    area: str | None = None
    new_only: bool = False
    sort: str | None = None
    descending: bool = False


def _in_area(child: dict, area: str) -> bool:
    """``area``: a postcode district (``NS1``) or a postcode area's letters (``NS``)."""
    postcode = (child.get("latest_address") or {}).get("postcode")
    if not postcode:
        return False
    district = postcode.split()[0].upper()
    return district == area or (area.isalpha() and re.match(r"[A-Z]+", district).group() == area)


def _was_listed(previous: tuple[str, int | None] | None, absent_days: int | None) -> bool:
    """Whether the previous run's list, drawn with this absence threshold, had the child."""
    if previous is None:
        return False
    reason, absent = previous
    return reason != ABSENT or (absent_days is not None and absent is not None and absent >= 2 * absent_days)


@dataclass
class _Listing:
    total: int
    children: list[tuple[str, CmeChild]]     # (canonical id, as served) on the page, or every one
    shown: set[str]                          # the categories served
    bases: set[str]
    overridden: dict[str, list[str]]
    decision: Decision                       # the listing's own
    compared: bool                           # an earlier run's list exists
    withheld: list[str]                      # left out by a refusal of identity data to the caller

    def record(self, ctx: Ctx, action: str, **extra) -> None:
        if self.withheld:       # the caller is told nothing; the DPO and each child's report are
            ctx.record("list_cme.withheld", "withheld", self.withheld, [], self.decision.bases(),
                       self.decision.policy_version, reason="consent_refused", listing=action)
        ctx.record(action, "allow", [c for c, _ in self.children], sorted(self.shown), sorted(self.bases),
                   self.decision.policy_version,
                   **({"consent_overridden": self.overridden} if self.overridden else {}), **extra)


def _worklist(ctx: Ctx, f: _Filters, page: int | None, page_size: int, action: str) -> _Listing:
    """The filtered, sorted worklist: one page of it, or every child when ``page`` is None."""
    services = ctx.services
    needed = ("identity.known_to", "education.enrolment") + (("education.attendance",) if f.absent_days else ())
    listing = ctx.authorise(action, list(needed), require=needed)
    filters = {"min_age": f.min_age, "max_age": f.max_age, "absent_days": f.absent_days, "known_to": f.known_to}
    day = services.cme_days.day(f.on)
    rows = day.rows(services.cursor(), **filters)
    previous = services.cme_previous
    new = {r[0]: (None if previous is None else not _was_listed(previous.get(r[0]), f.absent_days)) for r in rows}
    if f.new_only:
        rows = [r for r in rows if new[r[0]]]
    # Consents: only the children some consent to this caller is about need their own state.
    # (a consent recorded under an identifier since merged names the child it merged into; a
    # refusal under one since split, every part)
    recorded = services.consents.children_with_consent(ctx.caller, ctx.purpose) if rows else set()
    with_consent = {services.aliases.get(c, c) for c in recorded} | services.split_children(recorded)
    consents, decisions, plain, hidden = {}, {}, None, set()
    for child_id, *_ in rows:
        if child_id in with_consent:
            consents[child_id] = consent = services.consents.evaluate(child_id, ctx.caller, ctx.purpose,
                                                                      former=services.former_ids(child_id),
                                                                      split_from=services.split_from(child_id))
            if services.consents.refuses_identity(consent, ctx.caller, ctx.purpose):
                hidden.add(child_id)        # as from the caller's lookups (unless safeguarding overrides)
            decisions[child_id] = services.policy.decide(ctx.caller, "view", ctx.purpose or "", _DETAIL,
                                                         consent.permit, consent.deny)
        else:               # no consent names the child: the same decision for every such child
            consents[child_id] = _NO_CONSENT
            plain = plain or services.policy.decide(ctx.caller, "view", ctx.purpose or "", _DETAIL,
                                                    _NO_CONSENT.permit, _NO_CONSENT.deny)
            decisions[child_id] = plain
    # Every listed child's worklist columns, to filter and sort on (only the lists the allowed fields
    # need are read); the rest of each child's detail only for the children served.
    # One set of categories per decision (every child no consent names shares one).
    sets: dict[int, frozenset[str]] = {}
    allowed = {c: sets.get(id(d)) or sets.setdefault(id(d), frozenset(d.allowed)) for c, d in decisions.items()}
    built = day.summaries(services.documents, allowed)
    order = [r[0] for r in rows]
    if f.area:
        area = f.area.replace(" ", "").upper()
        order = [c for c in order if _in_area(built[c][0], area)]
    withheld = [c for c in order if c in hidden]
    order = [c for c in order if c not in hidden]
    if f.sort in SORTS:
        keys = {c: SORTS[f.sort]({**built[c][0], "new_since_last_run": new[c]}) for c in order}
        known = sorted((c for c in order if keys[c] is not None), key=keys.__getitem__, reverse=f.descending)
        order = known + [c for c in order if keys[c] is None]
    total = len(order)
    chosen = order if page is None else order[(page - 1) * page_size:page * page_size]
    reasons = {r[0]: r[1] for r in rows}
    details = day.details(services.documents, {c: allowed[c] for c in chosen})
    out, shown, bases, overridden = [], set(), set(), {}
    refs = ctx.pseudonyms(chosen)
    for child_id in chosen:
        head, head_cats = build(CME_LISTING_FIELDS, (refs[child_id], reasons[child_id], new[child_id]),
                                listing.allowed)
        detail, detail_cats = details[child_id]
        detail_cats = detail_cats | built[child_id][1]
        for cats, decision in ((head_cats, listing), (detail_cats, decisions[child_id])):
            shown |= cats
            bases |= {decision.allowed[c] for c in cats}
        if cats := consents[child_id].overridden(head_cats | detail_cats):
            overridden[child_id] = cats
        out.append((child_id, CmeChild(**head, **built[child_id][0], **detail)))
    if chosen:
        services.relationships.grant(ctx.org, chosen, "cme worklist")
    return _Listing(total, out, shown, bases, overridden, listing, previous is not None,
                    withheld)


def cme_list(*, ctx: Ctx, on: date | None = None, min_age: int = 5, max_age: int = 16, known_to: str = "any",
             absent_days: int | None = None, area: str | None = None, new_only: bool = False,
             sort: str | None = None, descending: bool = False, page: int = 1, page_size: int = 25) -> CmePage:
    f = _Filters(on or date.today(), min_age, max_age, known_to, absent_days, area, new_only, sort, descending)
    found = _worklist(ctx, f, page, page_size, "list_cme")
    found.record(ctx, "list_cme")
    return CmePage(total=found.total, page=page, page_size=page_size, children=[c for _, c in found.children],
                   lawful_basis=sorted(found.bases), compared_with_previous_run=found.compared)


@dataclass(frozen=True)
class CmeExport:
    text: str
    count: int


EXPORT_HEADER = ["Reference", "First name", "Last name", "Age", "Why listed", "New since last run",
                 "Last day on a school roll", "Days since", "Last school", "Last school URN",
                 "Sessions absent this term", "Sessions possible this term", "Latest address", "Postcode",
                 "Lived there since", "Address as of"]


def _row(c: CmeChild) -> list[Any]:
    name, school, gone = c.name or {}, c.last_school or {}, c.out_of_school or {}
    absence, address = c.absence or {}, c.latest_address or {}
    new = {True: "yes", False: "no"}.get(c.new_since_last_run, "")
    return [c.child_id, name.get("forename"), name.get("surname"), c.age, c.reason, new, gone.get("last_day"),
            gone.get("days"), school.get("school_name"), school.get("urn"), absence.get("sessions_absent"),
            absence.get("sessions_possible"), address.get("address"),
            address.get("postcode"), address.get("since"), address.get("as_of")]


def cme_export(*, ctx: Ctx, on: date | None = None, min_age: int = 5, max_age: int = 16, known_to: str = "any",
               absent_days: int | None = None, area: str | None = None, new_only: bool = False,
               sort: str | None = None, descending: bool = False) -> CmeExport:
    """The whole filtered worklist as CSV (cells neutralised against formulas), audited as an
    export naming its count and the filters, and every child in it."""
    f = _Filters(on or date.today(), min_age, max_age, known_to, absent_days, area, new_only, sort, descending)
    found = _worklist(ctx, f, None, 0, "list_cme")
    text = csv_text(EXPORT_HEADER, (_row(c) for _, c in found.children))
    found.record(ctx, "export_cme", count=found.total, format="csv",
                 filters={k: v for k, v in vars(f).items() if k != "on" and v not in (None, False)}
                 | {"on": f.on.isoformat()})
    return CmeExport(text, found.total)
