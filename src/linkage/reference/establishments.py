"""The DfE's establishment register (Get Information about Schools, GIAS), one row at a time.

GIAS publishes every school as ``edubasealldataYYYYMMDD.csv`` (Windows-1252, about 130
columns); linkage reads the few a person needs to recognise a school and classifies its
``TypeOfEstablishment (name)`` into a small closed list of settings, which is how the
service tells alternative provision (AP) from everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from linkage.errors import Problem
from linkage.reference.rows import Cells

__all__ = ["AP_SETTINGS", "COLUMNS", "SETTINGS", "Establishment", "parse_establishment", "setting_of"]

URN, NAME, TYPE, PHASE, STATUS = ("URN", "EstablishmentName", "TypeOfEstablishment (name)",
                                  "PhaseOfEducation (name)", "EstablishmentStatus (name)")
OPEN, CLOSE, POSTCODE, PHONE, LA_CODE, LA_NAME = ("OpenDate", "CloseDate", "Postcode", "TelephoneNum",
                                                  "LA (code)", "LA (name)")
# The export's own header spellings; every one must be present.
COLUMNS = (URN, NAME, TYPE, PHASE, STATUS, OPEN, CLOSE, POSTCODE, PHONE, LA_CODE, LA_NAME)

SETTINGS = ("mainstream", "special", "independent", "post_16", "early_years", "pupil_referral_unit",
            "ap_academy", "ap_free_school", "hospital_school", "other")
AP_SETTINGS = frozenset({"pupil_referral_unit", "ap_academy", "ap_free_school", "hospital_school"})
# Each setting as a reader says it (the pages; the CSVs keep the codes).
SETTING_WORDS = {"mainstream": "Mainstream school", "special": "Special school", "independent": "Independent school",
                 "post_16": "Post-16 provider", "early_years": "Nursery school",
                 "pupil_referral_unit": "Pupil referral unit", "ap_academy": "AP academy",
                 "ap_free_school": "AP free school", "hospital_school": "Hospital school", "other": "Other"}

# GIAS type names (case and spacing vary between exports, so compared folded).
_TYPES: dict[str, tuple[str, ...]] = {
    "mainstream": ("Community school", "Voluntary aided school", "Voluntary controlled school",
                   "Foundation school", "Academy converter", "Academy sponsor led", "Free schools",
                   "Free school", "University technical college", "Studio schools", "City technology college",
                   "Service children's education"),
    "special": ("Community special school", "Foundation special school", "Academy special converter",
                "Academy special sponsor led", "Free schools special", "Free school special",
                "Non-maintained special school", "Other independent special school"),
    "independent": ("Other independent school",),
    "post_16": ("Further education", "Sixth form centres", "Special post 16 institution",
                "Free schools 16 to 19", "Free schools - 16-19", "Academy 16-19 converter",
                "Academy 16 to 19 sponsor led", "Academy 16-19 sponsor led", "Academy secure 16 to 19"),
    "early_years": ("LA nursery school",),
    "pupil_referral_unit": ("Pupil referral unit",),
    "ap_academy": ("Academy alternative provision converter", "Academy alternative provision sponsor led"),
    "ap_free_school": ("Free schools alternative provision", "Free schools - alternative provision",
                       "Free school alternative provision"),
    "hospital_school": ("Hospital school",),
    "other": ("Secure units", "Miscellaneous", "Offshore schools", "Welsh establishment",
              "Higher education institutions", "British schools overseas", "Online provider",
              "Institution funded by other government department", "Children's centre",
              "Children's centre linked site"),
}


def _fold(text: str) -> str:
    return re.sub(r"[\s\-]+", " ", text.casefold()).strip()


_SETTING_OF = {_fold(name): setting for setting, names in _TYPES.items() for name in names}
# GIAS has no hospital-school type: hospital schools are registered as pupil referral
# units, AP academies or special schools. Among those types a name saying so marks one.
_HOSPITAL = re.compile(r"\bhospital\b", re.IGNORECASE)
_HOSPITAL_TYPES = AP_SETTINGS | {"special"}


def setting_of(type_name: str, name: str = "") -> str | None:
    """The setting of a GIAS type name, or None for a type linkage does not know."""
    setting = _SETTING_OF.get(_fold(type_name))
    if setting in _HOSPITAL_TYPES and _HOSPITAL.search(name):
        return "hospital_school"
    return setting


@dataclass(frozen=True)
class Establishment:
    urn: str
    name: str
    type_name: str
    setting: str
    phase: str | None
    status: str | None
    open_date: date | None
    close_date: date | None
    postcode: str | None
    telephone: str | None
    la_code: str | None
    la_name: str | None

    @property
    def is_ap(self) -> bool:
        """Alternative provision: a PRU, an AP academy or free school, or a hospital school."""
        return self.setting in AP_SETTINGS


_URN = re.compile(r"^\d{6}$")


def parse_establishment(raw: dict[str, str | None], unknown: set[str],
                        warnings: list[Problem]) -> Establishment | list[Problem]:
    """One GIAS row as an Establishment, or every problem with it.

    A type linkage does not know (GIAS adds types) is classed "other" and added to
    ``unknown``; cells left empty in a kept row are added to ``warnings``.
    """
    c = Cells(raw, COLUMNS)
    urn = c.text(URN, required=True)
    if urn is not None and not _URN.match(urn):
        c.problem(URN, f"URN {urn!r} is not six digits")
    name = c.text(NAME, required=True, limit=200)
    type_name = c.text(TYPE, required=True, limit=120)
    setting = setting_of(type_name, name or "") if type_name else None
    if type_name and setting is None:
        unknown.add(type_name)
    opened, closed = c.date_of(OPEN), c.date_of(CLOSE)
    if opened and closed and closed < opened:
        c.problem(CLOSE, f"closed {closed.isoformat()}, before it opened {opened.isoformat()}")
    est = dict(urn=urn, name=name, type_name=type_name, setting=setting or "other",
               phase=c.text(PHASE, limit=60), status=c.text(STATUS, limit=60), open_date=opened,
               close_date=closed, postcode=c.postcode(POSTCODE), telephone=c.phone(PHONE),
               la_code=c.text(LA_CODE, limit=10), la_name=c.text(LA_NAME, limit=120))
    warnings.extend(c.warnings)
    return c.problems or Establishment(**est)
