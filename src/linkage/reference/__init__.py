"""Reference data, so people see names, not codes.

Registers (the DfE's establishments, the NHS's GP practices) are loaded into the store
by ``linkage reference load``; code lists (exclusion reasons, SEN provision, CIN
codes...) are YAML files under ``connectors/reference/codes/``. Ask:

- ``current_reference().establishment(urn)`` a school's name, type, setting, phase;
- ``current_reference().ap_setting(urn)`` which kind of alternative provision, if any;
- ``label(kind, code)`` the published label of a code.
"""

from linkage.reference.establishments import AP_SETTINGS, SETTINGS, Establishment, setting_of
from linkage.reference.gp_practices import GpPractice
from linkage.reference.labels import code_list, codes, kinds, label
from linkage.reference.load import KINDS, LoadResult, load_reference, read_reference
from linkage.reference.lookup import ReferenceData, current_reference, reference_from_store, use_reference
from linkage.reference.samples import sample_path, sample_reference

__all__ = [
    "AP_SETTINGS",
    "KINDS",
    "SETTINGS",
    "Establishment",
    "GpPractice",
    "LoadResult",
    "ReferenceData",
    "code_list",
    "codes",
    "current_reference",
    "kinds",
    "label",
    "load_reference",
    "read_reference",
    "reference_from_store",
    "sample_path",
    "sample_reference",
    "setting_of",
    "use_reference",
]
