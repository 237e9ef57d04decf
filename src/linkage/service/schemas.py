"""Request and response models. Create and public shapes are separate, so
secrets, canonical identifiers and raw demographics never leak into answers."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from linkage.validation import (
    is_valid_nhs_number,
    is_valid_upn,
    normalise_nhs_number,
    normalise_postcode,
    normalise_upn,
    plausible_birth_date,
)
from linkage.validation.text import check_text

Purpose = Literal["admission", "safeguarding", "cme", "care", "audit", "data_management"]
AgencyType = Literal["ap_school", "school", "social_care", "health", "la_education", "dpo"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _text(v: str | None, limit: int = 100) -> str | None:
    if v is None:
        return v
    if why := check_text(v, limit):
        raise ValueError(why)
    return v


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class LookupRequest(_In):
    forename: str = Field(min_length=1, max_length=100)
    surname: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    postcode: str | None = Field(default=None, max_length=10)
    upn: str | None = Field(default=None, max_length=13)
    nhs_number: str | None = Field(default=None, max_length=12)
    sex: Literal["M", "F", "U"] | None = None

    @field_validator("forename", "surname")
    @classmethod
    def _names(cls, v: str) -> str:
        return _text(v)

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


class CandidatePublic(BaseModel):
    child_id: str = Field(description="The child's identifier in your agency's own pseudonymous form.")
    match_probability: float
    agreed: dict[str, str]
    disagreed: dict[str, str]


class LookupResponse(BaseModel):
    candidates: list[CandidatePublic]
    searched_records: int
    lawful_basis: list[str]


class ChildView(BaseModel):
    child_id: str
    sections: dict[str, Any]
    lawful_basis: dict[str, str] = Field(description="Data category -> the lawful basis it was shared under.")
    withheld: list[str] = Field(description="Categories the policy does not allow for this request.")
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
    addresses: list[dict[str, Any]] | None = None
    last_school: dict[str, Any] | None = None
    gp_practice: list[dict[str, Any]] | None = None
    latest_contact: dict[str, Any] | None = None


class CmePage(BaseModel):
    total: int
    page: int
    page_size: int
    children: list[CmeChild]
    lawful_basis: list[str]


class ConsentCreate(_In):
    """A FHIR Consent in brief: provision, actor, purpose, period, data category."""

    child_id: str = Field(max_length=40, description="The child, in your agency's pseudonymous form.")
    category: str = Field(max_length=40, description="A data category, or a group such as 'health'.")
    actor: AgencyType = Field(description="The recipient agency type.")
    purpose: Purpose
    provision: Literal["permit", "deny"] = "permit"
    given_by: Literal["child", "parent", "carer", "guardian", "local_authority"]
    given_on: date
    expires_on: date | None = None


class ConsentPublic(BaseModel):
    consent_id: str
    child_id: str
    category: str
    actor: str
    purpose: str
    provision: str
    given_by: str
    period: dict[str, date | None]
    status: str
    recorded_by: str


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


class AuditPage(BaseModel):
    total: int
    entries: list[AuditEntryPublic]


class AuditVerify(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    problems: list[str]


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
    differs: bool


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

    @field_validator("reviewer")
    @classmethod
    def _reviewer(cls, v: str) -> str:
        return _text(v)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str) -> str:
        return _text(v, 1000) if v else v
