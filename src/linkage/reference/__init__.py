"""Reference data, so people see names, not codes.

Registers (the DfE's establishments, the NHS's GP practices) are loaded into the store
by ``linkage reference load``; code lists (exclusion reasons, SEN provision, CIN
codes...) are YAML files under ``connectors/reference/codes/``. Ask:

- ``current_reference().establishment(urn)`` a school's name, type, setting, phase;
- ``current_reference().ap_setting(urn)`` which kind of alternative provision, if any;
- ``label(kind, code)`` the published label of a code.

The names are imported on first use: ``load`` pulls in the connectors, which a server reading
the registers never needs.
"""

from linkage.lazyexports import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, {
    "AP_SETTINGS": "establishments",
    "SETTINGS": "establishments",
    "Establishment": "establishments",
    "setting_of": "establishments",
    "GpPractice": "gp_practices",
    "code_list": "labels",
    "codes": "labels",
    "kinds": "labels",
    "label": "labels",
    "KINDS": "load",
    "LoadResult": "load",
    "load_reference": "load",
    "read_reference": "load",
    "ReferenceData": "lookup",
    "current_reference": "lookup",
    "reference_from_store": "lookup",
    "use_reference": "lookup",
    "sample_path": "samples",
    "sample_reference": "samples",
})
