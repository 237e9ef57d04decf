"""What the data manager's pages share: the purpose they act under, and words for the model's terms."""

from __future__ import annotations

from linkage.errors import Forbidden
from linkage.service import Ctx
from linkage.web.session import Staff
from linkage.web.tasks import DEFAULT_PURPOSE, Task, allowed_purposes

__all__ = ["FIELDS", "comparison_words", "level_words", "manager_ctx"]

# The records' fields as a person says them.
FIELDS = {"record_key": "Record", "source": "Agency", "source_record_id": "Agency's own reference",
          "forename": "First name", "middle_names": "Middle names", "surname": "Last name",
          "former_surname": "Former last name", "preferred_forename": "Preferred first name",
          "preferred_surname": "Preferred last name", "date_of_birth": "Date of birth", "sex": "Sex",
          "postcode": "Postcode", "address": "Address", "address_from": "At this address since",
          "upn": "Unique pupil number (UPN)",
          "former_upn": "Former UPN", "nhs_number": "NHS number", "la_child_id": "Council's child id",
          "extract_date": "Extract date"}
# The model's comparisons and levels, in words.
_COMPARISONS = {"Prior": "Starting point: how likely any two records are one child", "forename": "First name",
                "household": "Last name and postcode", "address": "Address", "dob": "Date of birth",
                "middle_name": "Middle name", "upn": "UPN", "nhs_number": "NHS number", "sex": "Sex",
                "surname": "Last name", "postcode": "Postcode", "Final score": "Total match weight"}
_LEVELS = {"null": "not recorded on one or both", "exact": "the same", "different": "different",
           "nickname": "a known short form", "one edit": "one letter different",
           "one character": "one character different", "jw >= 0.92": "very similar", "jw >= 0.9": "very similar",
           "Starting match weight (prior)": "before any comparison", "Final score": "all comparisons added up"}


def comparison_words(name: str, short: bool = False) -> str:
    """A comparison's name in words; ``short`` for a chart's label."""
    if name.startswith("tf_"):
        base = comparison_words(name[3:])
        return f"{base}: how common" if short else f"How common the {base[:1].lower() + base[1:]} is"
    if short and name == "Prior":
        return "Starting point"
    return _COMPARISONS.get(name, name.replace("_", " ").capitalize())


def level_words(level: str) -> str:
    if level.lower().startswith("term freq adjustment on "):
        return f"adjusted for how common the {level[24:].replace('_', ' ')} is"
    return _LEVELS.get(level, level)


def manager_ctx(staff: Staff, task: Task) -> Ctx:
    """The service context under the first purpose the policy allows this task for; with none, the
    service records the refusal and raises Forbidden."""
    purposes = allowed_purposes(staff.services.policy, staff.user.principal(), task)
    if not purposes:
        staff.ctx(DEFAULT_PURPOSE.get(staff.user.role)).authorise(task.action, list(task.categories))
        raise Forbidden("not allowed")
    return staff.ctx(purposes[0])
