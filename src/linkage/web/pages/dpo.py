"""The data-protection officer's pages: access over time, refusals and security events,
break-glass reviews, unusual patterns, consents with their evidence, subject access, and
the audit chain. Each calls ``linkage.service`` under the purpose ``audit``; the policy's
``read_audit`` decides, so any other role gets 403 (and the attempt is audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from linkage.errors import Conflict, NotFound
from linkage.safetext import attachment
from linkage.service import audit as audit_flow, holds as holds_flow
from linkage.service.dpo import access_summary, chain_status, consent_register, security_events, window
from linkage.service.patterns import unusual_patterns
from linkage.service.schemas_dpo import BreakGlassReview, HoldLift
from linkage.service.subject_access import (ACTIONS, CATEGORIES, DECISIONS, PURPOSES, report_csv, report_pdf,
                                            subject_report, subject_search)
from linkage.web.pages.dpo_charts import ALLOWED, REFUSED, columns, hbars
from linkage.web.forms import person_query, summary
from linkage.web.render import NOTE_BOUND, PREFIX, render
from linkage.web.session import Staff, StaffDep

router = APIRouter(prefix="/dpo")

PURPOSE = "audit"
PERIODS = {7: "Last 7 days", 30: "Last 30 days", 90: "Last 90 days"}
OUTCOMES = {"justified": "Justified", "not_justified": "Not justified", "referred": "Referred for investigation"}
DECISION_WORDS = {"allow": "Allowed", "withheld": "Withheld by a refusal of consent (the caller told nothing)",
                  "deny": "Refused by the sharing policy",
                  "refused": "Refused before any decision (security event)", "not_found": "Not found"}
# Refused requests by kind, as a person says them (the policy's own refusals by what was asked).
KINDS = {"security.unauthenticated": "No token, or a token not accepted (401)",
         "security.invalid_request": "Malformed or oversized request (400, 408, 413, 422, 431)",
         "security.unknown_path": "Path or method the service does not have (404, 405): one a network a minute",
         "security.rate_limited": "Too many requests (429)", "security.csrf_refused": "Form without its security token",
         "security.sign_in_failed": "Failed sign-in", "security.sign_in_throttled": "Sign-in attempts throttled",
         "security.lockout": "Locked out after failed sign-ins (from one network, or every new one)",
         "security.session_ended": "Session ended: person or organisation disabled",
         "security.session_refused": "Session cookie refused: signed out, ended (idle, too old) or never issued",
         "security.audit_log_replaced": "Audit log file replaced or removed while the server ran (put back)",
         "security.audit_log_cut": "Newest audit log entries removed while the server ran"}
STATUSES = {"active": "Active", "pending": "Not yet in force", "expired": "Expired", "withdrawn": "Withdrawn"}


def _ctx(staff: Staff):
    return staff.ctx(PURPOSE)


def _named(counts, words: dict[str, str]):
    return [c.model_copy(update={"key": words.get(c.key, c.key)}) for c in counts]


def _period(days: int) -> int:
    return days if days in PERIODS else 30


def _words(**extra) -> dict:
    return {"purpose_words": PURPOSES, "action_words": ACTIONS, "decision_words": DECISIONS,
            "category_words": CATEGORIES, "allowed_colour": ALLOWED, "refused_colour": REFUSED, **extra}


@router.get("")
def overview(request: Request, staff: StaffDep):
    pending = audit_flow.break_glass_reviews(ctx=_ctx(staff), pending=True)
    return render(request, "dpo.html", pending=len(pending))


@router.get("/access")
def access(request: Request, staff: StaffDep, days: int = 30, organisation: str = "", purpose: str = "",
           decision: str = ""):
    days = _period(days)
    since, until = window(days)
    s = access_summary(ctx=_ctx(staff), since=since, until=until, agency=organisation[:200] or None,
                       purpose=purpose[:40] or None, decision=decision if decision in DECISION_WORDS else None)
    by_purpose, by_decision = _named(s.by_purpose, PURPOSES), _named(s.by_decision, DECISION_WORDS)
    return render(request, "dpo_access.html", s=s, days=days, periods=PERIODS, decisions=DECISION_WORDS,
                  chosen={"organisation": organisation, "purpose": purpose, "decision": decision},
                  per_day=columns(s.days), by_org=hbars(s.by_organisation), by_purpose=hbars(by_purpose),
                  by_decision=hbars(by_decision), purpose_counts=by_purpose, decision_counts=by_decision,
                  **_words())


@router.get("/security")
def security(request: Request, staff: StaffDep, days: int = 30):
    days = _period(days)
    since, until = window(days)
    ev = security_events(ctx=_ctx(staff), since=since, until=until)
    words = {k: KINDS.get(k) or f"Refused by the sharing policy: {ACTIONS.get(k, k.replace('_', ' '))}"
             for k in {c.key for c in ev.by_action} | {e.action for e in ev.events}}
    kinds = _named(ev.by_action, words)
    return render(request, "dpo_security.html", ev=ev, days=days, periods=PERIODS, chart=hbars(kinds), kinds=kinds,
                  kind_words=words, **_words())


def _break_glass_page(request: Request, staff: Staff, errors: dict[str, str] | None = None,
                      values: dict | None = None, status_code: int = 200, done: str | None = None):
    uses = audit_flow.break_glass_reviews(ctx=_ctx(staff))
    errors = errors or {}
    summary = [{"text": t, "href": f"#{k}"} for k, t in errors.items()]
    values = values or {}

    def items(review_id: str) -> list[dict]:
        mine = values.get("review_id") == review_id
        return [{"value": k, "text": t, "checked": mine and values.get("outcome") == k} for k, t in OUTCOMES.items()]
    return render(request, "dpo_break_glass.html", status_code,
                  pending=[(u, items(u.review_id)) for u in uses if u.reviewed_at is None],
                  reviewed=[u for u in reversed(uses) if u.reviewed_at is not None], outcomes=OUTCOMES,
                  errors=errors, summary=summary, values=values, done=done)


@router.get("/break-glass")
def break_glass(request: Request, staff: StaffDep, done: str = ""):
    return _break_glass_page(request, staff, done=done[:40] or None)


@router.post("/break-glass/{review_id}")
def review(request: Request, staff: StaffDep, review_id: str,
           outcome: Annotated[str, Form(max_length=20)] = "", note: Annotated[str, Form(max_length=NOTE_BOUND)] = ""):
    values = {"review_id": review_id, "outcome": outcome, "note": note}
    errors: dict[str, str] = {}
    if outcome not in OUTCOMES:
        errors[f"outcome-{review_id}"] = "Select whether the use was justified"
    if not note.strip():
        errors[f"note-{review_id}"] = "Enter a note saying why"
    if not errors:
        try:
            body = BreakGlassReview(outcome=outcome, note=note)
        except ValidationError as exc:
            errors[f"note-{review_id}"] = "Check the note: " + exc.errors()[0]["msg"].removeprefix("Value error, ")
    if errors:
        return _break_glass_page(request, staff, errors, values, 400)
    try:
        audit_flow.review_break_glass(ctx=_ctx(staff), review_id=review_id[:40], review=body)
    except Conflict:
        return _break_glass_page(request, staff, {f"outcome-{review_id}": "This use has already been reviewed"},
                                 values, 409)
    return RedirectResponse(f"{PREFIX}/dpo/break-glass?done={review_id}", 303)


SHOWN = 25          # findings of each kind on the patterns page unless all are asked for (most first)


@router.get("/patterns")
def patterns(request: Request, staff: StaffDep, days: int = 30, show: str = ""):
    days = _period(days)
    since, until = window(days)
    found = unusual_patterns(ctx=_ctx(staff), since=since, until=until)
    kinds = {k: [f for f in found.findings if f.kind == k] for k in found.rules}
    every = show == "all"
    return render(request, "dpo_patterns.html", p=found, kinds={k: fs if every else fs[:SHOWN] for k, fs in kinds.items()},
                  totals={k: len(fs) for k, fs in kinds.items()}, every=every, days=days, periods=PERIODS)


@router.get("/consents")
def consents(request: Request, staff: StaffDep, category: str = "", provision: str = "", status: str = ""):
    shown = consent_register(ctx=_ctx(staff), category=category if category in CATEGORIES or category in (
                             "identity", "education", "social_care", "health") else None,
                             provision=provision if provision in ("permit", "deny") else None,
                             status=status if status in STATUSES else None)
    return render(request, "dpo_consents.html", consents=shown, statuses=STATUSES,
                  chosen={"category": category, "provision": provision, "status": status}, **_words())


def _holds_page(request: Request, staff: Staff, errors: dict[str, str] | None = None, values: dict | None = None,
                status_code: int = 200, done: str | None = None):
    shown = holds_flow.consent_holds(ctx=_ctx(staff))
    return render(request, "dpo_consent_holds.html", status_code, held=[h for h in shown if h.status == "held"],
                  lifted=[h for h in shown if h.status == "lifted"], errors=errors or {},
                  summary=summary(errors or {}), values=values or {}, done=done)


@router.get("/consent-holds")
def consent_holds(request: Request, staff: StaffDep, done: str = ""):
    return _holds_page(request, staff, done=done[:40] or None)


@router.post("/consent-holds/lift")
def lift_hold(request: Request, staff: StaffDep, organisation: Annotated[str, Form(max_length=40)] = "",
              child_id: Annotated[str, Form(max_length=40)] = "", note: Annotated[str, Form(max_length=NOTE_BOUND)] = ""):
    """Lift one hold with a note (the DPO's name, the time and the note are kept, the note sealed)."""
    field = f"note-{organisation}-{child_id}"
    values = {"organisation": organisation, "child_id": child_id, "note": note}
    try:
        body = HoldLift(organisation=organisation, child_id=child_id, note=note)
    except ValidationError as exc:
        said = "Enter a note saying why" if not note.strip() else (
            "Check the note: " + exc.errors()[0]["msg"].removeprefix("Value error, "))
        return _holds_page(request, staff, {field: said}, values, 400)
    try:
        done = holds_flow.lift_consent_hold(ctx=_ctx(staff), lift=body)
    except NotFound:
        return _holds_page(request, staff, {field: "This hold has already been lifted"}, values, 404)
    return RedirectResponse(f"{PREFIX}/dpo/consent-holds?done={done.lift_id}", 303)


def _subject_form(request: Request, values: dict, errors: dict[str, str], status_code: int = 200, **extra):
    return render(request, "dpo_subject.html", status_code, values=values, errors=errors, summary=summary(errors),
                  **extra)


@router.get("/subject")
def subject_form(request: Request, staff: StaffDep):
    _ctx(staff).authorise("read_audit", ["identity.demographics"], action_asked="audit.subject_search")
    return _subject_form(request, {}, {})


@router.post("/subject")
def subject_submit(request: Request, staff: StaffDep, forename: Annotated[str, Form(max_length=200)] = "",
                   surname: Annotated[str, Form(max_length=200)] = "",
                   dob_day: Annotated[str, Form(alias="dob-day", max_length=10)] = "",
                   dob_month: Annotated[str, Form(alias="dob-month", max_length=10)] = "",
                   dob_year: Annotated[str, Form(alias="dob-year", max_length=10)] = "",
                   postcode: Annotated[str, Form(max_length=20)] = "",
                   upn: Annotated[str, Form(max_length=20)] = "",
                   nhs_number: Annotated[str, Form(max_length=20)] = ""):
    values = {k: v.strip() for k, v in dict(forename=forename, surname=surname, dob_day=dob_day,
                                            dob_month=dob_month, dob_year=dob_year, postcode=postcode, upn=upn,
                                            nhs_number=nhs_number).items()}
    errors: dict[str, str] = {}
    query = person_query(values, errors, whose="the person's")
    if errors:
        return _subject_form(request, values, errors, 400)
    found = subject_search(ctx=_ctx(staff), query=query)
    if found.child_ref is None:
        return _subject_form(request, values, {}, no_match=True)
    return RedirectResponse(f"{PREFIX}/dpo/subject/{found.child_ref}", 303)


@router.get("/subject/{child_ref}")
def subject(request: Request, staff: StaffDep, child_ref: str):
    report = subject_report(ctx=_ctx(staff), child_ref=child_ref[:64])
    return render(request, "dpo_subject_report.html", report=report)


def _download(staff: Staff, child_ref: str, form: str):
    report = subject_report(ctx=_ctx(staff), child_ref=child_ref[:64], form=form)
    headers = {"content-disposition": attachment("subject-access", report.child_ref, f"{report.produced:%Y%m%d}",
                                                 ext=form), "cache-control": "no-store",
               "x-content-type-options": "nosniff"}
    if form == "pdf":
        return Response(report_pdf(report), media_type="application/pdf", headers=headers)
    return Response(report_csv(report), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/subject/{child_ref}/report.pdf")
def subject_pdf(staff: StaffDep, child_ref: str):
    return _download(staff, child_ref, "pdf")


@router.get("/subject/{child_ref}/report.csv")
def subject_csv(staff: StaffDep, child_ref: str):
    return _download(staff, child_ref, "csv")


@router.get("/chain")
def chain(request: Request, staff: StaffDep, check: str = ""):
    status = chain_status(ctx=_ctx(staff), verify=check == "yes")
    return render(request, "dpo_chain.html", status=status, checked=check == "yes")

