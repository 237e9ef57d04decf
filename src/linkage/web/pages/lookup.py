"""Find a child: an admissions officer's lookup form, through ``linkage.service.lookup``.

The page says one of two things: one confident match (with what agreed, for the
officer to confirm it is the same child), or no single match and what to add.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from linkage.service.lookup import lookup
from linkage.web.forms import FIELDS, person_query, summary
from linkage.web.render import render
from linkage.web.session import Staff, StaffDep
from linkage.web.tasks import DEFAULT_PURPOSE, PURPOSES, allowed_purposes, task

router = APIRouter()

TASK = task("lookup")
# Below this a candidate is never offered as "the" child: the officer adds a UPN, NHS number or postcode.
CONFIDENT = 0.95
_LEVELS = {"exact": "the same", "nickname": "a known short form", "one edit": "one letter different",
           "one character": "one digit different", "jw >= 0.92": "very similar", "jw >= 0.9": "very similar"}


def _purposes(staff: Staff) -> list[str]:
    """The purposes this person may look up for; none at all is refused (and audited) by the service."""
    found = allowed_purposes(staff.services.policy, staff.user.principal(), TASK)
    if not found:
        # Records the refusal (under the role's usual purpose) and raises Forbidden.
        staff.ctx(DEFAULT_PURPOSE.get(staff.user.role)).authorise(TASK.action, list(TASK.categories))
    return found


def _form(request: Request, staff: Staff, values: dict, errors: dict[str, str], status_code: int = 200,
          **extra):
    purposes = _purposes(staff)
    values = {"purpose": purposes[0], **values}
    return render(request, "lookup.html", status_code, values=values, errors=errors, summary=summary(errors),
                  purposes=[(p, PURPOSES[p]) for p in purposes], **extra)


@router.get("/lookup")
def lookup_form(request: Request, staff: StaffDep):
    return _form(request, staff, {}, {})


def explain(candidate) -> str:
    """Why this is the child, in plain English."""
    def said(fields: dict[str, str]) -> str:
        return ", ".join(f"{FIELDS.get(f, f)} ({_LEVELS.get(level, level)})" for f, level in fields.items())

    text = f"Matched on {said(candidate.agreed)}" if candidate.agreed else "Matched"
    if candidate.disagreed:
        text += f". Different: {said(candidate.disagreed)}; check these with the family"
    return text + "."


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def outcome(response) -> tuple[object | None, str | None]:
    """(the single confident match or None, the service's message or None).

    Written against both shapes of ``LookupResponse``: ``{match, message, lawful_basis}`` (when
    the service decides) or ``{candidates, ...}`` (this page decides: exactly one candidate at or
    above CONFIDENT).
    """
    if hasattr(response, "match"):
        return response.match, getattr(response, "message", None)
    strong = [c for c in response.candidates if c.match_probability >= CONFIDENT]
    return (strong[0] if len(strong) == 1 else None), None


@router.post("/lookup")
def lookup_submit(request: Request, staff: StaffDep,
                        forename: Annotated[str, Form(max_length=200)] = "",
                        surname: Annotated[str, Form(max_length=200)] = "",
                        dob_day: Annotated[str, Form(alias="dob-day", max_length=10)] = "",
                        dob_month: Annotated[str, Form(alias="dob-month", max_length=10)] = "",
                        dob_year: Annotated[str, Form(alias="dob-year", max_length=10)] = "",
                        postcode: Annotated[str, Form(max_length=20)] = "",
                        upn: Annotated[str, Form(max_length=20)] = "",
                        nhs_number: Annotated[str, Form(max_length=20)] = "",
                        purpose: Annotated[str, Form(max_length=30)] = ""):
    values = {k: v.strip() for k, v in dict(forename=forename, surname=surname, dob_day=dob_day, dob_month=dob_month,
                                            dob_year=dob_year, postcode=postcode, upn=upn, nhs_number=nhs_number,
                                            purpose=purpose).items()}
    errors: dict[str, str] = {}
    query = person_query(values, errors)
    if values["purpose"] not in _purposes(staff):
        errors["purpose"] = "Select why you are looking for this child"
    if errors:
        return _form(request, staff, values, errors, 400)
    result = lookup(ctx=staff.ctx(values["purpose"]), query=query)
    match, _ = outcome(result)
    if match is None:       # the form again, as filled in, to add what would single the child out
        return _form(request, staff, values, {}, no_match=True)    # the service's ``message`` says the same
    return render(request, "lookup_result.html", match=match, reason=_sentence(getattr(match, "reason", None) or explain(match)),
                  lawful_basis=result.lawful_basis, purpose=PURPOSES[values["purpose"]], values=values)
