"""The outcomes' codes as a reader says them, for every place a person reads them: the pages and
the report's HTML and PDF ("Short (ended within 12 weeks)", "Pupil referral unit", "No SEN").
The CSVs keep the codes, for analysts' joins."""

from __future__ import annotations

from linkage.outcomes.release import TYPE_WORDS
from linkage.reference.establishments import SETTING_WORDS

__all__ = ["group", "placement", "setting"]


def setting(code):
    """A school's setting code as a reader says it ("Pupil referral unit"); an unknown code as it is."""
    return SETTING_WORDS.get(code, code) if code else code


def placement(code):
    """An AP placement type as a reader says it ("Short (ended within 12 weeks)"); anything else as it is."""
    return TYPE_WORDS.get(code, code) if isinstance(code, str) else code


def group(code, by: str):
    """An outcomes table's group, as a reader says it: a setting or a placement type in words, any
    other group (already words: "no SEN", "known to social care") with a capital, as a row header."""
    if by == "setting":
        return setting(code)
    if by == "placement_type":
        return placement(code)
    return code[:1].upper() + code[1:] if isinstance(code, str) else code
