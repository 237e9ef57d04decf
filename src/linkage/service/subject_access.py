"""Subject access for the DPO: from a requester's name and date of birth to the child, then
a readable report of who saw what about the child, when, and under which lawful basis,
as a page, a PDF and a CSV.

The search resolves through the linked population exactly as a lookup does (the same
index and the same confidence rule), but it is the DPO's: authorised by ``read_audit``,
audited as ``audit.subject_search``, and it names the child only by the DPO organisation's
own pseudonym. It shows nothing of the child's record: only the audit of it.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

from linkage.access.users import UserRegistry
from linkage.errors import NotFound
from linkage.service.context import Ctx
from linkage.service.lookup import NO_SINGLE_MATCH, best_match
from linkage.service.schemas import LookupRequest
from linkage.service.schemas_dpo import SubjectMatch, SubjectReport, SubjectRow

__all__ = ["ACTIONS", "CATEGORIES", "PURPOSES", "report_csv", "report_pdf", "subject_report", "subject_search",
           "who"]

_ALL = 1_000_000
PURPOSES = {"admission": "Admitting a pupil", "safeguarding": "Safeguarding a child",
            "cme": "Children missing education", "care": "Providing health care",
            "data_management": "Keeping the linked records accurate", "audit": "Auditing access to records",
            "outcomes": "Reviewing alternative provision outcomes"}
ACTIONS = {"view": "Opened the child's record", "lookup": "Found the child by a lookup",
           "lookup.withheld": "Looked the child up; a refusal of consent withheld the match",
           "break_glass": "Opened the child's record in an emergency (break-glass)",
           "list_cme": "Listed the child as missing education",
           "list_cme.withheld": "Listed children missing education; a refusal of consent left the child out",
           "export_cme": "Exported the list of children missing education, with the child on it",
           "consent.record": "Recorded a consent",
           "consent.list": "Read the child's consents", "consent.withdraw": "Withdrew a consent",
           "consent.register": "Audited the consent register",
           "consent.holds": "Listed the organisations held from recording consent for the child",
           "consent.hold_lift": "Lifted an organisation's hold on recording consent for the child", "review.decide": "Decided a possible match",
           "review.show": "Compared two records for a possible match", "review.list": "Listed possible matches",
           "identity.changes": "Was told of a change to the child's identifier",
           "identity.changes.withheld": "Held the child's identifier; a refusal of consent withheld a change to it",
           "read_outcome_children": "Read alternative provision outcomes",
           "quarantine.list": "Listed held-back records",
           "quarantine.export": "Exported held-back records"}
CATEGORIES = {"identity.demographics": "name and date of birth", "identity.address": "addresses",
              "identity.known_to": "which agencies know the child", "education.enrolment": "schools",
              "education.attendance": "attendance", "education.exclusion": "suspensions and exclusions",
              "education.sen": "special educational needs", "social_care.involvement": "that social care is involved",
              "social_care.episodes": "social care history", "health.gp": "GP registration",
              "health.contacts": "health contacts"}
DECISIONS = {"allow": "Shown", "withheld": "Withheld: a refusal of consent", "deny": "Refused", "not_found": "Not found",
             "refused": "Refused"}


def _authorise(ctx: Ctx, what: str):
    return ctx.authorise("read_audit", ["identity.demographics"], action_asked=what)


def subject_search(*, ctx: Ctx, query: LookupRequest) -> SubjectMatch:
    """The one child these details name, by the DPO's pseudonym; or none, and what to add.
    Rate-limited as lookups are, so it cannot be used to mine the population."""
    services = ctx.services
    services.lookup_limiter.check(ctx.caller.client_id)
    d = _authorise(ctx, "audit.subject_search")
    best = best_match(services, query)
    if best is None:
        ctx.record("audit.subject_search", "allow", [], [], d.bases(), d.policy_version, outcome="no_single_match")
        return SubjectMatch(child_ref=None, message=NO_SINGLE_MATCH)
    child = services.aliases.get(best.child_id, best.child_id)
    ctx.record("audit.subject_search", "allow", [child], [], d.bases(), d.policy_version, outcome="match")
    return SubjectMatch(child_ref=ctx.pseudonym(child))


def who(services, person: str | None, client_id: str | None) -> str:
    """The signed-in person (their email), or the registered API client by its name."""
    if person:
        return person
    if not client_id:
        return "not signed in"
    if client_id.startswith("user:"):
        users = services.__dict__.get("_users")
        if users is None:
            users = services.__dict__["_users"] = UserRegistry(services.state, services.clients.orgs)
        user = users.get(client_id.removeprefix("user:"))
        return user.email if user else client_id
    client = services.clients.get(client_id)
    return f"system: {client.name} ({client_id})" if client else f"system: {client_id}"


def _row(e: dict, services) -> SubjectRow:
    person = who(services, e.get("person"), e.get("client_id"))
    fields = list(e.get("fields", []))
    what = [CATEGORIES.get(f, f) for f in fields if not f.startswith("consent:")]
    if len(what) < len(fields):
        what.append("consent records")
    action = str(e.get("action") or "")
    return SubjectRow(time=str(e.get("time") or ""), organisation=str(e.get("agency") or "not known"),
                      organisation_type=str(e.get("agency_type") or "").replace("_", " "), person=person,
                      role=str(e.get("role") or "").replace("_", " "),
                      purpose=PURPOSES.get(e.get("purpose") or "", e.get("purpose") or "none given"),
                      action=ACTIONS.get(action, action.replace("_", " ").replace(".", ": ")),
                      what=what,
                      lawful_basis=list(e.get("lawful_basis", [])),
                      decision=DECISIONS.get(e.get("decision"), str(e.get("decision") or "")),
                      break_glass=bool(e.get("break_glass")))


def subject_report(*, ctx: Ctx, child_ref: str, form: str = "page") -> SubjectReport:
    """Who saw what about the child (the DPO's pseudonym; identifiers merged into it included, and
    those it was split from up to the split), oldest first, leaving out the DPO's own audit reads. Audited as ``audit.subject``."""
    services = ctx.services
    d = _authorise(ctx, "audit.subject")
    child = ctx.resolve(child_ref)
    if child is None or not services.child_exists(child):
        ctx.record("audit.subject", "not_found", [], [], [])
        raise NotFound("no such child for your organisation")
    seen = subject_entries(services, child)
    ctx.record("audit.subject", "allow", [child], [], d.bases(), d.policy_version, form=form, entries=len(seen))
    return SubjectReport(child_ref=child_ref, produced=datetime.now(timezone.utc),
                         produced_by=ctx.person or ctx.caller.client_id,
                         rows=[_row(rec["entry"], services) for rec in seen])


def subject_entries(services, child: str) -> list[dict]:
    """The log records naming the child, oldest first (the DPO's own audit reads left out): under
    its identifier, those merged into it, and those it was split from, up to the split (who saw
    that child then saw this one's records too). The API's report and the page's share it."""
    seen: dict[int, dict] = {}
    for cid in (child, *services.former_ids(child)):
        for rec in services.audit.index.search(limit=_ALL, child_id=cid, skip_action_prefix="audit.")[1]:
            seen[rec["seq"]] = rec
    for cid, left in services.split_from(child).items():
        for rec in services.audit.index.search(limit=_ALL, child_id=cid, skip_action_prefix="audit.",
                                               until=left)[1]:
            seen[rec["seq"]] = rec
    return [seen[s] for s in sorted(seen)]


_HEADER = ["When (UTC)", "Organisation", "Organisation type", "Person", "Role", "Purpose", "What they did",
           "What was seen", "Lawful basis", "Outcome", "Break-glass"]


def _cells(r: SubjectRow) -> list[str]:
    return [r.time, r.organisation, r.organisation_type, r.person, r.role, r.purpose, r.action, "; ".join(r.what),
            "; ".join(r.lawful_basis), r.decision, "yes" if r.break_glass else "no"]


def report_csv(report: SubjectReport) -> str:
    """The report as CSV, every cell made safe for a spreadsheet."""
    from linkage.safetext import csv_text

    return csv_text(_HEADER, (_cells(r) for r in report.rows))


def report_pdf(report: SubjectReport) -> bytes:
    """The report as an A4 PDF of text, through the outcomes report's PDF pages (matplotlib)."""
    from matplotlib.backends.backend_pdf import PdfPages

    from linkage.outcomes.report import pdf_pages, wrap

    title = [f"Subject access report: who saw this child's records (reference {report.child_ref})",
             f"Produced {report.produced:%d %B %Y %H:%M} UTC by {report.produced_by}. "
             f"{len(report.rows):,} recorded accesses, oldest first.", ""]
    blocks = [title]
    for r in report.rows:
        lines = [f"{r.time[:19].replace('T', ' ')}  {r.organisation} ({r.organisation_type}): {r.person}, {r.role}"]
        lines += wrap(f"{r.action}. Purpose: {r.purpose}. Outcome: {r.decision}."
                      + (f" Seen: {', '.join(r.what)}." if r.what else "")
                      + (" Break-glass." if r.break_glass else ""), 150)
        lines += wrap("Lawful basis: " + ("; ".join(r.lawful_basis) or "none recorded"), 150)
        blocks.append(["    " + x if i else x for i, x in enumerate(lines)] + [""])
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": "Subject access report", "Creator": "linkage"}) as pdf:
        pdf_pages(pdf, blocks, "Held by the data-protection officer. Contains personal data: keep it secure "
                               "and send it only to the requester.")
    return buf.getvalue()
