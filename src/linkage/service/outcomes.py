"""AP outcomes: aggregates for commissioners, AP leaders and the LA; own pupils for an AP setting.

Aggregates (``read_outcomes``) are computed from the placements the server measured at
start-up (``outcomes.build.materialise_outcomes``) and published only through disclosure
control; each access is audited as an aggregate access, naming no child. An AP leader's
child-level view (``read_outcome_children``) holds only placements at the caller's own URN
(its ``org_code``), each child in the caller's own pseudonym, and only the measures whose
data category the policy allows.

The web page (``/app/outcomes``) and ``GET /v1/outcomes`` call the same functions; a CSV
download (``outcomes_csv``) is the same aggregate access, audited as such, written through
``linkage.safetext``.
"""

from __future__ import annotations

import threading
from datetime import date

from linkage.errors import Forbidden, NotFound
from linkage.outcomes.aggregate import DIMENSIONS, LONG_HEADER, Release, as_text, long_rows
from linkage.outcomes.build import materialised, outcomes_from
from linkage.outcomes.comparison import LIMITS
from linkage.outcomes.disclosure import CIN
from linkage.outcomes.measures import ATTAINMENT
from linkage.safetext import csv_text
from linkage.service.context import Ctx
from linkage.service.schemas import (
    OutcomeChild,
    OutcomeChildren,
    OutcomeComparison,
    OutcomesReport,
    OutcomeTable,
)

__all__ = ["AGGREGATE_CATEGORIES", "CHILD_MEASURES", "DIMENSIONS", "as_text", "outcome_children", "outcomes_csv", "outcomes_report"]

AGGREGATE_CATEGORIES = ["education.enrolment", "education.attendance", "education.exclusion", "education.sen",
                        "social_care.involvement"]
# Each child-level measure and the data category it discloses.
CHILD_MEASURES = {
    "attendance_before": "education.attendance", "attendance_during": "education.attendance",
    "attendance_after": "education.attendance", "suspended_1term": "education.exclusion",
    "suspended_1year": "education.exclusion", "excluded_1term": "education.exclusion",
    "excluded_1year": "education.exclusion", "reintegrated": "education.enrolment",
    "reintegration_sustained": "education.enrolment", "missing_after": "education.enrolment",
    "next_place": "education.enrolment", "post16_sustained": "education.enrolment",
    "ehc_started": "education.sen", "sen_status": "education.sen",
    "social_care": "social_care.involvement", "referral_1year": "social_care.involvement",
}
_LOCK = threading.Lock()


def _frames(ctx: Ctx):
    found = materialised(ctx.services.cursor())
    if found is None:
        raise NotFound("outcomes have not been measured on this server")
    return found


def outcomes_report(*, ctx: Ctx, by: str = "setting", cohort: str | None = None,
                    export: str | None = None) -> OutcomesReport:
    """The published tables for one breakdown; ``export`` (e.g. ``csv``) is recorded in the audit entry."""
    if by not in DIMENSIONS:
        raise NotFound(f"no breakdown {by!r}")
    decision = ctx.authorise("read_outcomes", AGGREGATE_CATEGORIES, every=True,
                             require=tuple(AGGREGATE_CATEGORIES), scope="aggregate")
    cache = ctx.services.__dict__.setdefault("_outcomes", {})
    with _LOCK:
        result = cache.get((by, cohort))
        if result is None:
            as_at, placements, units = _frames(ctx)
            if "release" not in cache:      # every breakdown and cohort decided together, once
                cache["release"] = Release(placements, CIN)
            result = cache[(by, cohort)] = outcomes_from(placements, units, as_at=as_at, by=by, cohort=cohort,
                                                         rule=CIN, release=cache["release"])
    bases = sorted(set(decision.allowed.values()))
    ctx.record("read_outcomes", "allow", [], AGGREGATE_CATEGORIES, bases, decision.policy_version,
               scope="aggregate", by=by, cohort=cohort, rule=result.rule.name,
               **({"export": export} if export else {}))
    return OutcomesReport(as_at=result.as_at, by=by, cohort=cohort, placements=result.placements,
                          rule=result.rule.name, rule_citation=result.rule.citation,
                          tables=[OutcomeTable(**t.as_dict()) for t in result.tables],
                          comparisons=[OutcomeComparison(**c.as_dict()) for c in result.comparisons],
                          matching=result.matching, limits=LIMITS, not_measured=ATTAINMENT,
                          lawful_basis=bases)


def outcomes_csv(*, ctx: Ctx, by: str = "setting", cohort: str | None = None) -> str:
    """Every published figure of one breakdown as CSV for analysts (formula-safe), audited as an
    aggregate access like the tables themselves."""
    report = outcomes_report(ctx=ctx, by=by, cohort=cohort, export="csv")
    return csv_text(LONG_HEADER, long_rows(report.tables, report.as_at, report.cohort))


def _value(v):
    if v is None:
        return None
    try:
        if v != v:        # NaN / NA
            return None
    except TypeError:
        return None
    if hasattr(v, "item"):
        v = v.item()
    return round(v, 3) if isinstance(v, float) else v


def _refused(ctx: Ctx, cats: list[str], children: set[str]) -> dict:
    """The children a refusal addressed to the caller (for any purpose: none is recorded for
    ``outcomes``) is about, each with its own decision, or None when identity data is refused (the
    child is then left out, as a lookup leaves it out). Before, a refusal given for admission was
    passed round by asking under ``outcomes``."""
    services = ctx.services
    register = services.consents
    recorded = register.children_with_consent(ctx.caller, None, refusals_for_any_purpose=True)
    if not recorded:
        return {}
    speaks = {services.aliases.get(c, c) for c in recorded} | services.split_children(recorded)
    out = {}
    for child_id in children & speaks:
        state = register.evaluate(child_id, ctx.caller, None, former=services.former_ids(child_id),
                                  split_from=services.split_from(child_id), refusals_for_any_purpose=True)
        if not any(state.deny.values()):
            continue
        out[child_id] = None if register.refuses_identity(state, ctx.caller, ctx.purpose) else \
            services.policy.decide(ctx.caller, "read_outcome_children", ctx.purpose or "", cats,
                                   consent_denied=state.deny)
    return out


def outcome_children(*, ctx: Ctx, cohort: str | None = None, urn: str | None = None) -> OutcomeChildren:
    """The caller's own AP setting's placements, child by child, in the caller's pseudonyms.

    ``urn``, when asked for, must be the caller's own: another setting's pupils are refused
    (and the attempt audited), never quietly swapped for the caller's. A refusal addressed to the
    caller withholds what it refuses (``_refused``); the audit entry names what (``consent_refused``)."""
    own_urn = ctx.caller.org_code
    cats = sorted(set(CHILD_MEASURES.values()))
    if ctx.caller.agency_type != "ap_school" or not own_urn:
        ctx.record("read_outcome_children", "deny", [], [], [], scope="own pupils")
        raise Forbidden("only an AP setting registered with its URN sees its own pupils' outcomes")
    if urn is not None and urn != own_urn:
        ctx.record("read_outcome_children", "deny", [], [], [], scope="own pupils", asked_urn=str(urn)[:20])
        raise Forbidden("an AP setting sees only its own pupils' outcomes")
    urn = own_urn
    decision = ctx.authorise("read_outcome_children", cats, scope="own pupils")
    as_at, placements, _ = _frames(ctx)
    own = placements[placements.urn == urn]
    if cohort:
        own = own[own.cohort == cohort]
    refused = _refused(ctx, cats, set(own.child_id))
    out, listed, left_out, withheld, shown_cats = [], [], set(), {}, set()
    for row in own.astype(object).to_dict("records"):
        child_id = row["child_id"]
        mine = refused.get(child_id, decision)
        if mine is None:            # a refusal of identity data: left out, as from the leader's lookups
            left_out.add(child_id)
            continue
        allowed = {m for m, c in CHILD_MEASURES.items() if c in mine.allowed}
        if gone := sorted(set(cats) - set(mine.allowed)):
            withheld[child_id] = gone
        shown_cats |= {CHILD_MEASURES[m] for m in allowed}
        listed.append(child_id)
        out.append(OutcomeChild(child=ctx.pseudonym(child_id), entry_date=_value(row["entry_date"]),
                                leaving_date=_value(row["leaving_date"]), placement_type=row["placement_type"],
                                dual_registered=_value(row["dual_registered"]),
                                measures={m: _value(row[m]) for m in CHILD_MEASURES if m in allowed}))
    shown = sorted(shown_cats)
    bases = sorted({decision.allowed[c] for c in shown})
    if left_out:        # the leader is told nothing; the DPO and each child's report are
        ctx.record("read_outcome_children.withheld", "withheld", sorted(left_out), [], bases, decision.policy_version,
                   reason="consent_refused", scope="own pupils", urn=urn)
    ctx.record("read_outcome_children", "allow", listed, shown, bases, decision.policy_version,
               scope="own pupils", urn=urn, **({"consent_refused": withheld} if withheld else {}))
    return OutcomeChildren(as_at=as_at if isinstance(as_at, date) else date.fromisoformat(str(as_at)), urn=urn,
                           children=out, lawful_basis=bases)
