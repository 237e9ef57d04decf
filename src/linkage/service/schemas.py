"""Request and response models. Create and public shapes are separate, so
secrets, canonical identifiers and raw demographics never leak into answers."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from linkage.validation import (
    is_valid_nhs_number,
    is_valid_upn,
    normalise_name,
    normalise_nhs_number,
    normalise_postcode,
    normalise_upn,
    plausible_birth_date,
)
from linkage.validation.text import check_text

Purpose = Literal["admission", "safeguarding", "cme", "care", "audit", "data_management", "outcomes"]
AgencyType = Literal["ap_school", "school", "social_care", "health", "la_education", "dpo"]


def _iso(pattern: str, what: str):
    """Pydantic's lax mode reads ``0`` or ``"1700000000"`` as a Unix time; the schema says an ISO
    string, so anything else is refused rather than silently turned into 1970."""
    compiled = re.compile(pattern)

    def check(v: Any) -> Any:
        if isinstance(v, (date, datetime)) or (isinstance(v, str) and compiled.match(v)):
            return v
        raise ValueError(f"expected an ISO 8601 {what}")
    return BeforeValidator(check)


IsoDate = Annotated[date, _iso(r"\d{4}-\d{2}-\d{2}$", "date (YYYY-MM-DD)")]
IsoDateTime = Annotated[datetime, _iso(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", "date-time")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _text(v: str | None, limit: int = 100) -> str | None:
    if v is None:
        return v
    if why := check_text(v, limit):
        raise ValueError(why)
    return v


def checked_text(limit: int, min_length: int = 1):
    """A free-text field checked like every other (no control characters, no formulas)."""
    return Annotated[str, Field(min_length=min_length, max_length=limit), AfterValidator(lambda v: _text(v, limit))]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class LookupRequest(_In):
    forename: str = Field(min_length=1, max_length=100)
    surname: str = Field(min_length=1, max_length=100)
    date_of_birth: IsoDate
    postcode: str | None = Field(default=None, max_length=10)
    upn: str | None = Field(default=None, max_length=13)
    nhs_number: str | None = Field(default=None, max_length=12)
    sex: Literal["M", "F", "U"] | None = None

    @field_validator("forename", "surname")
    @classmethod
    def _names(cls, v: str) -> str:
        # Judged by the linker's own normaliser: a name that normalises to nothing (or to
        # no letters) would match any name, and turn lookup into a search.
        v = _text(v)
        norm = normalise_name(v) or ""
        if not any("a" <= ch <= "z" for ch in norm):
            raise ValueError("must contain a name's letters")
        return v

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: date) -> date:
        if why := plausible_birth_date(v):
            raise ValueError(why)
        return v

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, v: str | None) -> str | None:
        if v is None:
            return v
        norm = normalise_postcode(v)
        if norm is None:
            raise ValueError("not a UK postcode")
        return norm

    @field_validator("upn")
    @classmethod
    def _upn(cls, v: str | None) -> str | None:
        if v is not None and not is_valid_upn(v):
            raise ValueError("UPN fails the check letter")
        return normalise_upn(v) if v else v

    @field_validator("nhs_number")
    @classmethod
    def _nhs(cls, v: str | None) -> str | None:
        if v is not None and not is_valid_nhs_number(v):
            raise ValueError("NHS number fails modulus 11")
        return normalise_nhs_number(v) if v else v


class LookupMatch(BaseModel):
    """Just enough to confirm that this is the child you mean."""

    child_id: str = Field(description="The child's identifier in your organisation's own pseudonymous form.")
    forename: str
    surname: str
    date_of_birth: date
    postcode_district: str | None = Field(description="The outward code of the child's latest postcode.")
    match_probability: float
    reason: str = Field(description="What agreed and what differed, in words.")


class LookupResponse(BaseModel):
    match: LookupMatch | None = Field(description="The child, only on a confident, unambiguous match.")
    message: str | None = Field(default=None, description="Why there is no match, and what would help.")
    lawful_basis: list[str]


class ChildView(BaseModel):
    child_id: str
    sections: dict[str, Any]
    lawful_basis: dict[str, str] = Field(description="Data category -> the lawful basis it was shared under.")
    withheld: list[str] = Field(description="Categories the policy does not allow for this request.")
    withheld_reasons: dict[str, str] = Field(
        default_factory=dict, description="Withheld category -> why: consent_refused, needs_consent, "
                                          "other_purpose, break_glass or role (asked of the policy).")
    break_glass: bool = False


class BreakGlassRequest(_In):
    justification: str = Field(min_length=20, max_length=2000)

    @field_validator("justification")
    @classmethod
    def _clean(cls, v: str) -> str:
        return _text(v, 2000)


class CmeChild(BaseModel):
    child_id: str
    reason: str
    new_since_last_run: bool | None = Field(
        default=None, description="Not on the list the previous link run drew (null: no earlier run to compare).")
    name: dict[str, str | None] | None = None
    age: int | None = None
    latest_address: dict[str, Any] | None = Field(
        default=None, description="The address the child most recently moved to; `since` is the move-in date "
                                  "where an agency records one, `as_of` the newest extract holding it.")
    out_of_school: dict[str, Any] | None = Field(
        default=None, description="The last day on a school roll and the days since, once the last enrolment ended.")
    absence: dict[str, Any] | None = Field(default=None, description="The latest term's absence.")
    addresses: list[dict[str, Any]] | None = None
    last_school: dict[str, Any] | None = None
    gp_practice: list[dict[str, Any]] | None = None
    latest_contact: dict[str, dict[str, Any]] | None = Field(
        default=None, description="The latest dated contact per agency whose data you may see.")


class CmePage(BaseModel):
    total: int
    page: int
    page_size: int
    children: list[CmeChild]
    lawful_basis: list[str]
    compared_with_previous_run: bool = Field(
        default=False, description="Whether an earlier link run's list exists to say who is new.")


ConsentPurpose = Literal["admission", "safeguarding", "cme", "care"]


class ConsentRecipient(_In):
    """FHIR ``provision.actor``: exactly one of an organisation (its id) or, explicitly, a whole type."""

    organisation: checked_text(100) | None = Field(default=None, description="One recipient organisation, by its id.")
    type: AgencyType | None = Field(default=None, description="Every organisation of this type.")

    @model_validator(mode="after")
    def _one(self) -> ConsentRecipient:
        if (self.organisation is None) == (self.type is None):
            raise ValueError("name exactly one of organisation or type")
        return self


class ConsentCreate(_In):
    """A FHIR Consent in brief: provision, actor, purpose, period, data category; who gave it, how, evidence."""

    child_id: str = Field(max_length=40, description="The child, in your organisation's pseudonymous form.")
    category: str = Field(max_length=40, description="A data category, or a group such as 'health'.")
    recipient: ConsentRecipient
    purpose: ConsentPurpose
    provision: Literal["permit", "deny"] = "permit"
    given_by: Literal["parent", "carer", "guardian", "young_person", "local_authority"] = Field(
        description="Who gave (or refused) consent: a person with parental responsibility, a competent "
                    "young person, or the local authority under a care order.")
    method: Literal["written", "verbal", "electronic"]
    evidence_ref: checked_text(200) = Field(
        description="Where the evidence is kept (a form, a case note); sealed at rest.")
    given_on: IsoDate
    expires_on: IsoDate | None = None


class ConsentRecorder(BaseModel):
    organisation: str
    organisation_type: str
    client_id: str | None = Field(None, description="Shown to those who may read the evidence only: another "
                                                    "organisation knowing a client id could lock it out.")


class ConsentPublic(BaseModel):
    consent_id: str
    child_id: str = Field(description="The child, in your organisation's pseudonymous form.")
    category: str
    recipient: dict[str, str] = Field(description="{'organisation': id} or {'type': organisation type}.")
    purpose: str
    provision: str
    given_by: str
    method: str
    evidence_ref: str | None = Field(description="Shown to the recording organisation, the consent officer "
                                                 "and the DPO only.")
    period: dict[str, date | None]
    status: str
    recorded_by: ConsentRecorder


class AuditEntryPublic(BaseModel):
    seq: int
    time: str
    request_id: str
    client_id: str
    agency: str
    agency_type: str
    role: str
    purpose: str | None
    lawful_basis: list[str]
    action: str
    child_id: str | None
    fields: list[str]
    decision: str
    policy_version: str
    break_glass: bool = False
    # Security events (refused requests) only: the status, method and route template.
    status: int | None = None
    method: str | None = None
    route: str | None = None


class AuditPage(BaseModel):
    total: int
    entries: list[AuditEntryPublic]


class AuditVerify(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    problems: list[str]


class QuarantineItem(BaseModel):
    ref: str = Field(description="EXTRACT:LINE, one quarantined row of one extract.")
    source: str
    file_name: str
    line_no: int
    record_id: str | None = Field(description="The agency's own identifier for the row, when it could be read.")
    column: str = Field(description="The agency's column the problem is in (or 'row').")
    reason: str
    reason_code: str
    severity: str | None = None
    current: bool = Field(description="False when a later extract of the source superseded this one.")


class QuarantinePage(BaseModel):
    total: int
    page: int
    page_size: int
    as_of: datetime | None = Field(description="The newest extract ingested when the server started: "
                                               "the quarantine as it stood then.")
    items: list[QuarantineItem]


class IdentityChange(BaseModel):
    run_id: int
    changed_at: datetime
    change: Literal["merged", "split"]
    pseudonym: str = Field(description="A pseudonym your organisation holds.")
    surviving_pseudonym: str | None = Field(
        default=None, description="merged: the pseudonym that now stands for the same child; replace yours.")
    new_pseudonyms: list[str] = Field(
        default_factory=list, description="split: pseudonyms of the children that records left yours for.")


class IdentityChanges(BaseModel):
    since: str
    up_to_run: int | None = Field(description="The last linkage run included; pass it as `since` next time.")
    changes: list[IdentityChange]


class ReviewPair(BaseModel):
    """One open pair in the clerical review queue."""
    id: str
    record_key_l: str
    record_key_r: str
    match_probability: float
    match_weight: float | None
    priority: float = Field(description="Expected benefit of deciding: (1 - 2|p - 0.5|) x records affected.")
    records_affected: int
    reason: str
    first_run: int
    last_decision: str = ""


class ReviewPage(BaseModel):
    total: int
    page: int
    page_size: int
    pairs: list[ReviewPair]


class ReviewField(BaseModel):
    field: str
    left: str
    right: str
    differs: bool                        # as the model reads the two values
    written_differently: bool = False    # the same to the model, written otherwise ("WONG", "Wong")


class ReviewStep(BaseModel):
    """One step of Splink's waterfall: a comparison's level and its part of the match weight."""
    comparison: str
    level: str
    bayes_factor: float
    match_weight: float
    cumulative: float


class ReviewDecisionPublic(BaseModel):
    decision_id: int
    pair_id: str
    decision: Literal["match", "not_match", "unsure"]
    reviewer: str
    note: str
    channel: str
    decided_at: str


class ReviewPairDetail(ReviewPair):
    fields: list[ReviewField]
    waterfall: list[ReviewStep]
    decisions: list[ReviewDecisionPublic]


class ReviewDecisionCreate(_In):
    decision: Literal["match", "not_match", "unsure"]
    reviewer: str = Field(min_length=1, max_length=100, description="The member of staff deciding.")
    note: str = Field(default="", max_length=1000)
    seen_decision: int | None = Field(
        default=None, ge=0, description="The decision_id of the pair's latest decision when the reviewer looked at "
        "it (0: none). Given, a decision recorded since refuses this one (409) instead of overwriting it unseen.")

    @field_validator("reviewer")
    @classmethod
    def _reviewer(cls, v: str) -> str:
        return _text(v)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str) -> str:
        return _text(v, 1000) if v else v


# ---------------------------------------------------------------- AP outcomes

Published = int | float | str | None        # a count or rate as published: "c" when suppressed


class OutcomeTable(BaseModel):
    """One published table: counts by group, through disclosure control; never a child."""

    key: str
    title: str
    by: str
    columns: list[str]
    groups: list[str]
    cells: list[list[Published]]
    row_totals: list[Published]
    col_totals: list[Published]
    total: Published
    derived_name: str = ""
    derived: list[Published | list[Published]] | None = None
    rule: str


class OutcomeComparison(BaseModel):
    measure: str
    label: str
    placed_n: Published
    comparison_n: Published
    placed_pct: Published
    placed_ci: Published | list[Published]
    comparison_pct: Published
    comparison_ci: Published | list[Published]
    difference_pct: Published
    difference_ci: Published | list[Published]


class OutcomesReport(BaseModel):
    as_at: date
    by: str
    cohort: str | None
    placements: Published
    rule: str
    rule_citation: str
    tables: list[OutcomeTable]
    comparisons: list[OutcomeComparison]
    matching: dict[str, Published]
    limits: str
    not_measured: str = ""        # what these outcomes cannot speak to (attainment), and why
    lawful_basis: list[str]


class OutcomeChild(BaseModel):
    """One placement at the caller's own setting, for its leader; the child in the caller's pseudonym."""

    child: str
    entry_date: date
    leaving_date: date | None = None
    placement_type: str
    dual_registered: bool | None = None
    measures: dict[str, float | int | str | None]


class OutcomeChildren(BaseModel):
    as_at: date
    urn: str
    children: list[OutcomeChild]
    lawful_basis: list[str]


class QuarantineCount(BaseModel):
    source: str
    reason_code: str
    meaning: str = Field(description="What the reason code means, in words.")
    rows: int = Field(description="Quarantined rows with this problem (a row may have several problems).")
    problems: int


class QuarantineSummary(BaseModel):
    """The current quarantine counted by source and by reason, as it stood at server start-up."""
    as_of: datetime | None
    rows: int
    problems: int
    counts: list[QuarantineCount]


class QualityMU(BaseModel):
    comparison: str
    level: str
    m_probability: float | None = Field(description="How often matching pairs show this level (None: not "
                                                    "estimated).")
    u_probability: float | None = Field(description="How often non-matching pairs show this level.")
    match_weight: float | None = Field(description="log2(m / u): the evidence this level gives.")


class QualityRun(BaseModel):
    run_id: int
    finished_at: datetime | None
    mode: str
    records: int | None
    children: int | None
    new_ids: int | None
    merges: int | None
    splits: int | None


class QualityLabels(BaseModel):
    """Precision and recall judged by the reviewers' decisions (decided pairs as labels)."""
    labels: int
    matches: int
    not_matches: int
    threshold: float
    precision: float | None     # None: not known (no decided pair was linked, or none was a match)
    recall: float | None
    f1: float | None
    tp: int
    fp: int
    fn: int
    tn: int


class QualityReport(BaseModel):
    """How good the last linkage run is: the figures the data manager watches."""
    last_run: QualityRun | None
    runs: list[QualityRun]
    records_by_source: dict[str, int]
    children: int
    cluster_sizes: dict[str, int] = Field(description="Children by how many records they hold.")
    weight_bins: list[tuple[int, int]] = Field(description="(match weight bin start, pairs): 2-wide bins of the "
                                                           "pairs the run scored and kept.")
    pairs_scored: int
    review_lower: float | None
    threshold: float | None
    m_u: list[QualityMU]
    labels: QualityLabels | None = Field(description="None until a reviewer has decided a scored pair.")
    decisions: int = Field(description="Every decision in the review log, including unsure and splits.")
