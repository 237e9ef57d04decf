"""A child's record: the page opened from a confident lookup or from the CME worklist.

It renders ``linkage.service.children.view_child``, the same policy-cut, consent-checked,
audited flow as ``GET /v1/children/{id}``: what the policy or consent withheld is said, in
words derived from the decision (``service.withheld``), where the section would be.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request

from linkage.service.children import view_child
from linkage.service.withheld import REASONS
from linkage.web.render import AGENCY_WORDS, render
from linkage.web.session import StaffDep
from linkage.web.tasks import DEFAULT_PURPOSE, PURPOSES, Task, allowed_purposes

__all__ = ["router"]

router = APIRouter()

AGENCIES = AGENCY_WORDS
# What each data category is, as a section a person reads.
TITLES = {"identity.demographics": "Name and date of birth", "identity.address": "Addresses",
          "identity.known_to": "Which agencies know the child", "education.enrolment": "Schools",
          "education.attendance": "Attendance", "education.exclusion": "Suspensions and exclusions",
          "education.sen": "Special educational needs (SEN)", "social_care.involvement": "Social care",
          "social_care.episodes": "Social care plans and episodes", "health.gp": "GP registration",
          "health.contacts": "Health contacts"}
_EPISODES = {"CIN": "Child in need", "CPP": "Child protection plan", "LAC": "Looked after"}
# The attendance chart's geometry (px): a server-drawn SVG, since the CSP allows no inline style.
# Each term's label sits above its bar, not beside it: a label column of fixed width was overrun by
# the bar wherever the label was longer ("2025/26 Summer" is 140 px in 16 px Arial, the column 130).
BAR_WIDTH, ROW = 360, 56


def _purposes(staff) -> list[str]:
    task = Task("child", "A child's record", "", "view", tuple(staff.services.policy.categories))
    return allowed_purposes(staff.services.policy, staff.user.principal(), task)


def _day(d: Any) -> str:
    return d.strftime("%-d %B %Y") if isinstance(d, date) else ""


def phone(number: str | None) -> str:
    """A UK number as people write it (01632 960000); stored in E.164 (+441632960000)."""
    if not number or not number.startswith("+44") or not number[3:].isdigit():
        return number or ""
    national = "0" + number[3:]
    return f"{national[:5]} {national[5:]}" if national.startswith("01") else f"{national[:4]} {national[4:]}"


def timeline(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """Every dated thing each agency knows (addresses, schools, plans, contacts), newest first."""
    items: list[tuple[date, str, str]] = []

    def add(when, agency: str, text: str) -> None:
        if isinstance(when, date):
            items.append((when, agency, text))

    for a in sections.get("addresses") or []:
        place = ", ".join(p for p in (a.get("address"), a.get("postcode")) if p)
        agency = AGENCIES.get(a.get("source"), "An agency")
        if a.get("since"):
            add(a["since"], agency, f"Moved to {place}")
        else:
            add(a.get("as_of"), agency, f"Address held: {place} (no move-in date recorded)")
    for s in sections.get("schools") or []:
        name = s.get("school_name") or f"school URN {s['urn']}"
        add(s.get("entry_date"), "School", f"Joined {name}")
        add(s.get("leaving_date"), "School", f"Left {name}")
    for e in sections.get("exclusions") or []:
        add(e.get("start_date"), "School", f"{e.get('category_label') or e['category']}: "
                                           f"{e.get('reason_label') or e.get('reason') or 'no reason recorded'}")
    care = sections.get("social_care_episodes") or {}
    for e in care.get("episodes") or []:
        kind = e.get("kind_label") or _EPISODES.get(e["kind"], e["kind"])
        add(e.get("start_date"), "Children's social care", f"{kind} started")
        add(e.get("end_date"), "Children's social care", f"{kind} ended")
    for m in care.get("missing_episodes") or []:
        add(m.get("start_date"), "Children's social care", "Reported missing")
    for g in sections.get("gp_registrations") or []:
        add(g.get("start_date"), "Health", f"Registered with {g.get('practice_name') or g['ods_code']}")
    for c in sections.get("health_contacts") or []:
        add(c.get("contact_date"), "Health", c.get("contact_type") or "Contact")
    items.sort(key=lambda i: i[0], reverse=True)
    return [{"date": _day(when), "agency": agency, "text": text} for when, agency, text in items]


def chart(terms: list[dict]) -> dict[str, Any]:
    """Bars for the attendance chart: one row per term (its label above its bar), the bar's width the
    attendance rate."""
    rows = []
    for i, t in enumerate(terms):
        rate = t.get("attendance_rate")
        rows.append({"y": i * ROW, "term": t["term"], "width": round((rate or 0) * BAR_WIDTH, 1),
                     "label": f"{rate:.0%}" if rate is not None else "not known",
                     "low": rate is not None and rate < 0.9})
    return {"rows": rows, "height": max(len(rows), 1) * ROW, "width": BAR_WIDTH + 60, "bar": BAR_WIDTH}


@router.get("/children/{child_ref}")
def child_page(request: Request, staff: StaffDep, child_ref: str, purpose: str = ""):
    purposes = _purposes(staff)
    chosen = purpose if purpose in purposes else (purposes or [DEFAULT_PURPOSE.get(staff.user.role, "")])[0]
    view = view_child(ctx=staff.ctx(chosen), child_ref=child_ref[:64])
    s = view.sections
    withheld = {c: REASONS[r] for c, r in view.withheld_reasons.items()}
    return render(request, "child.html", view=view, s=s, withheld=withheld, titles=TITLES, agencies=AGENCIES,
                  timeline=timeline(s) if "known_to" in s else None, chart=chart(s.get("attendance") or []),
                  purpose=chosen, purpose_name=PURPOSES.get(chosen, chosen),
                  others=[(p, PURPOSES[p]) for p in purposes if p != chosen], day=_day, phone=phone)
