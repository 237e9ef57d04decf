"""Reference data held in memory: a school's or GP practice's details by its code.

The server builds one ``ReferenceData`` at start-up from the store (``Services.open``)
and installs it with ``use_reference``; views read it with ``current_reference()``.
Until something is installed it is empty, and every lookup answers None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from linkage.reference.establishments import Establishment
from linkage.reference.gp_practices import GpPractice
from linkage.store.reference import copy_reference_to_memory, reference_rows

__all__ = ["ReferenceData", "current_reference", "reference_from_store", "use_reference"]


@dataclass(frozen=True)
class ReferenceData:
    establishments: Mapping[str, Establishment] = field(default_factory=lambda: MappingProxyType({}))
    practices: Mapping[str, GpPractice] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, establishments: Iterable[Establishment] = (), practices: Iterable[GpPractice] = ()) -> ReferenceData:
        return cls(MappingProxyType({e.urn: e for e in establishments}),
                   MappingProxyType({p.ods_code: p for p in practices}))

    def establishment(self, urn: str | None) -> Establishment | None:
        return self.establishments.get(urn.strip()) if urn else None

    def ap_setting(self, urn: str | None) -> str | None:
        """The AP setting (pupil_referral_unit, ap_academy, ap_free_school, hospital_school) of
        an AP URN; None for any other school and for a URN not in the register."""
        est = self.establishment(urn)
        return est.setting if est is not None and est.is_ap else None

    def is_ap(self, urn: str | None) -> bool | None:
        """True for alternative provision, False for another school, None when the URN is unknown."""
        est = self.establishment(urn)
        return None if est is None else est.is_ap

    def gp_practice(self, ods_code: str | None) -> GpPractice | None:
        return self.practices.get(ods_code.strip().upper()) if ods_code else None


_current = ReferenceData()


def use_reference(data: ReferenceData) -> None:
    """Install the reference data this process's views read."""
    global _current
    _current = data


def current_reference() -> ReferenceData:
    return _current


def reference_from_store(con, to_memory: bool = False) -> ReferenceData:
    """The stored registers (empty if never loaded); ``to_memory`` also copies them into
    ``memory.ref_*`` for SQL that must run after the store is detached."""
    source = "store"
    if to_memory:
        copy_reference_to_memory(con)
        source = "memory"
    ests = [Establishment(**{k: v for k, v in r.items() if k != "is_ap"})
            for r in reference_rows(con, "establishments", source)]
    practices = [GpPractice(**r) for r in reference_rows(con, "gp_practices", source)]
    return ReferenceData.of(ests, practices)
