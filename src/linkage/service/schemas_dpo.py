"""The DPO's models: break-glass uses and reviews, access counts, security events, unusual
patterns, the chain's status and the subject-access report. Kept apart from ``schemas.py``
so the DPO's pages and routes have one place to read."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from linkage.service.schemas import ConsentPublic, _In, checked_text

__all__ = ["AccessSummary", "BreakGlassReview", "BreakGlassUse", "ChainStatus", "ConsentHold", "Count", "DayCount",
           "HoldLift", "RegisteredConsent",
           "PatternFinding", "Patterns", "SecurityEvent", "SecurityEvents", "SubjectMatch",
           "SubjectReport", "SubjectRow"]

Outcome = Literal["justified", "not_justified", "referred"]


class BreakGlassReview(_In):
    outcome: Outcome
    note: checked_text(2000) = Field(description="Why: sealed at rest, shown to the DPO only.")


class BreakGlassUse(BaseModel):
    review_id: str
    request_id: str
    client_id: str
    child_id: str = Field(description="The canonical child identifier (the DPO audits by it), as it is now: "
                                      "a use recorded under one a link run has since merged names the survivor.")
    recorded_as: str | None = Field(default=None, description="The identifier the use was recorded under, where "
                                                              "a link run has since merged it into ``child_id``.")
    also_for: list[str] = Field(default_factory=list, description=(
        "Children a link run has split from it since the use: it opened their records too."))
    justification: str
    at: str
    organisation: str | None = None
    person: str | None = None
    role: str | None = None
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    outcome: Outcome | None = None
    review_note: str | None = None


class HoldLift(_In):
    organisation: checked_text(40) = Field(description="The held organisation's org id or official code.")
    child_id: checked_text(40) = Field(description="The child as the hold names it (canonical, as listed).")
    note: checked_text(2000) = Field(description="Why the hold is lifted: sealed at rest, shown to the DPO only.")


class RegisteredConsent(ConsentPublic):
    """A consent in the DPO's register: the child as it is now, and as the consent was recorded."""
    recorded_as: str | None = Field(default=None, description="The child as the consent was recorded, where a "
                                                              "link run has since merged it into ``child_id``.")
    also_for: list[str] = Field(default_factory=list, description=(
        "Children a link run has split from it since a refusal was recorded: it speaks for them too."))


class ConsentHold(BaseModel):
    """An organisation held from recording consent for a child; lifted ones say by whom, when and why."""
    organisation_id: str
    organisation: str = Field(description="Its name, as registered.")
    organisation_type: str
    child_id: str = Field(description="The canonical child identifier (the DPO audits by it), as it is now: "
                                      "a hold recorded under one a link run has since merged names the survivor.")
    recorded_as: str | None = Field(default=None, description="The identifier the hold was recorded under, where "
                                    "a link run has since merged it into the child named.")
    also_held_for: list[str] = Field(default_factory=list, description=(
        "Children a link run has split from it since the hold began: the hold speaks for them too (whose "
        "date of birth refused the organisation cannot be told); lifting it lifts it for each."))
    reason: str = Field(description="given_on_before_birth: the consent that started the hold.")
    held_at: str
    status: Literal["held", "lifted"]
    lift_id: str | None = None
    lifted_at: str | None = None
    lifted_by: str | None = None
    note: str | None = None


class Count(BaseModel):
    key: str
    allowed: int = 0
    refused: int = 0          # deny, refused, not_found and withheld together

    @property
    def total(self) -> int:
        return self.allowed + self.refused


class DayCount(Count):
    day: date


class AccessSummary(BaseModel):
    since: datetime
    until: datetime
    total: int
    days: list[DayCount]
    by_organisation: list[Count]
    by_purpose: list[Count]
    by_decision: list[Count]
    organisations: list[str]       # every organisation in the window, for the filter
    purposes: list[str]


class SecurityEvent(BaseModel):
    seq: int
    time: str
    action: str
    decision: str
    organisation: str | None = None
    person: str | None = None
    client_id: str | None = None
    purpose: str | None = None
    status: int | None = None
    method: str | None = None
    route: str | None = None
    reason: str | None = None
    idp_subject: str | None = None  # whom a refused identity provider's token named: the one to register, or not
    repeats: int | None = None      # an unknown path's, or non-HTTP bytes': more from that network since its last entry
    remote: str | None = None


class SecurityEvents(BaseModel):
    total: int
    by_action: list[Count]
    events: list[SecurityEvent]     # newest first


class PatternFinding(BaseModel):
    kind: Literal["out_of_hours", "many_children", "lookup_not_followed", "lookups_naming_nobody"]
    client_id: str
    organisation: str | None = None
    person: str | None = None
    count: int
    first: datetime
    last: datetime
    detail: str


class Patterns(BaseModel):
    since: datetime
    until: datetime                # when the search was made (a kept search: maybe minutes ago)
    refresh_seconds: int = 0       # how old a kept search may be (0: searched on every visit)
    rules: dict[str, str]          # each check, in words, with its settings
    findings: list[PatternFinding]


class ChainStatus(BaseModel):
    ok: bool
    summary: str
    entries: int
    checkpoints: int
    problems: list[str]
    last_checkpoint_seq: int | None = None
    last_checkpoint_time: str | None = None
    witness: str                   # in words: configured or not, and how far it has seen
    witnessed_seq: int | None = None
    witnessed_time: str | None = None


class SubjectMatch(BaseModel):
    """One child named, by the DPO's organisation's pseudonym; or none, and what to add."""

    child_ref: str | None
    message: str | None = None


class SubjectRow(BaseModel):
    time: str
    organisation: str
    organisation_type: str
    person: str
    role: str
    purpose: str
    action: str
    what: list[str]                # the data categories seen, in words
    lawful_basis: list[str]
    decision: str
    break_glass: bool = False


class SubjectReport(BaseModel):
    child_ref: str
    produced: datetime
    produced_by: str
    rows: list[SubjectRow]
