"""The canonical model every connector maps into.

A person record is one agency's view of one child. Events hang off a record
by ``record_key`` (``source:source_record_id``). Table DDL is generated from
these models, so the schema and the validation never drift apart.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "SHAPE",
    "SOURCES",
    "Source",
    "PersonRecord",
    "Event",
    "EVENT_TYPES",
    "Enrolment",
    "Attendance",
    "Exclusion",
    "SenProvision",
    "Referral",
    "CareEpisode",
    "MissingEpisode",
    "Allocation",
    "GpRegistration",
    "HealthContact",
]

Source = Literal["education", "social_care", "health"]
# The key a row read with the wrong number of cells says so under (its cells kept beside it).
SHAPE = "__shape__"

SOURCES: tuple[str, ...] = ("education", "social_care", "health")


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PersonRecord(_Row):
    source: Source
    source_record_id: str
    forename: str
    middle_names: str | None = None
    surname: str
    former_surname: str | None = None
    preferred_forename: str | None = None
    preferred_surname: str | None = None
    date_of_birth: date
    sex: Literal["M", "F", "U"] | None = None
    postcode: str | None = None
    address: str | None = None
    # When the child came to live at this address, where the source records it (PDS
    # address.period.start, a case-management system's start date): not the extract's date.
    address_from: date | None = None
    upn: str | None = None
    former_upn: str | None = None
    nhs_number: str | None = None
    la_child_id: str | None = None
    extract_date: date

    @property
    def record_key(self) -> str:
        return f"{self.source}:{self.source_record_id}"


class Event(_Row):
    """An event belongs to one source and is stored in one table."""

    table: ClassVar[str]
    source: ClassVar[str]
    # Fields that must be present for the event to exist at all.
    required: ClassVar[tuple[str, ...]] = ()
    # Telephone numbers: typed, stored in E.164 form (``+441632960000``).
    phones: ClassVar[tuple[str, ...]] = ()


class Enrolment(Event):
    table = "edu_enrolment"
    source = "education"
    required = ("urn",)
    urn: str
    entry_date: date | None = None
    leaving_date: date | None = None
    enrol_status: Literal["C", "M", "S", "F", "G", "O"] | None = None


class Attendance(Event):
    table = "edu_attendance"
    source = "education"
    required = ("term", "sessions_possible")
    term: str
    sessions_possible: int
    sessions_authorised: int = 0
    sessions_unauthorised: int = 0


class Exclusion(Event):
    table = "edu_exclusion"
    source = "education"
    required = ("category", "start_date")
    category: Literal["SUSP", "PERM", "LNCH"]
    reason: str | None = None
    start_date: date
    sessions: float | None = None


class SenProvision(Event):
    table = "edu_sen"
    source = "education"
    required = ("provision",)
    provision: Literal["N", "K", "E"]


class Referral(Event):
    table = "sc_referral"
    source = "social_care"
    required = ("referral_date",)
    referral_date: date
    referral_source: str | None = None
    closure_date: date | None = None


class CareEpisode(Event):
    """Child in need, child protection plan or looked after (CIN census, SSDA903)."""

    table = "sc_episode"
    source = "social_care"
    required = ("kind", "start_date")
    kind: Literal["CIN", "CPP", "LAC"]
    start_date: date
    end_date: date | None = None


class MissingEpisode(Event):
    table = "sc_missing"
    source = "social_care"
    required = ("start_date",)
    start_date: date
    end_date: date | None = None


class Allocation(Event):
    table = "sc_allocation"
    source = "social_care"
    required = ("team",)
    phones = ("contact",)
    team: str
    contact: str | None = None


class GpRegistration(Event):
    table = "health_gp"
    source = "health"
    required = ("ods_code",)
    ods_code: str
    start_date: date | None = None
    end_date: date | None = None


class HealthContact(Event):
    table = "health_contact"
    source = "health"
    required = ("contact_date",)
    contact_date: date
    contact_type: str | None = None


class PastAddress(Event):
    """An address the source held for the child before its current one: a file with one row
    per address, or a column of previous addresses (any source)."""

    table = "address_history"
    source = "any"
    postcode: str | None = None
    address: str | None = None
    address_from: date | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    "enrolment": Enrolment,
    "attendance": Attendance,
    "exclusion": Exclusion,
    "sen": SenProvision,
    "referral": Referral,
    "care_episode": CareEpisode,
    "missing": MissingEpisode,
    "allocation": Allocation,
    "gp_registration": GpRegistration,
    "contact": HealthContact,
    "past_address": PastAddress,
}
