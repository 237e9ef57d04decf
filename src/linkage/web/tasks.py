"""What each member of staff can do, asked of the sharing policy rather than listed per role.

A task is offered only if the policy would allow its action for at least one purpose,
so the start page and the policy cannot disagree. Pages not built yet are listed
without a link.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.policy import PolicyEngine, Principal

__all__ = ["DEFAULT_PURPOSE", "PURPOSES", "TASKS", "Task", "allowed_purposes", "task", "tasks_for"]

# Purposes in the order they are offered, with what a person reads.
PURPOSES = {"admission": "Admitting a pupil", "safeguarding": "Safeguarding a child",
            "cme": "Children missing education", "care": "Providing health care",
            "data_management": "Keeping the linked records accurate", "audit": "Auditing access to records",
            "outcomes": "Measuring AP outcomes"}

# The purpose a role starts with; the person can change it per task.
DEFAULT_PURPOSE = {"admissions": "admission", "designated_safeguarding_lead": "safeguarding",
                   "ap_leader": "admission", "social_worker": "safeguarding", "team_manager": "safeguarding",
                   "cme_officer": "cme", "data_manager": "data_management", "dpo": "audit",
                   "school_nurse": "care", "health_visitor": "care", "safeguarding_nurse": "care",
                   "commissioner": "outcomes"}


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    description: str
    action: str
    categories: tuple[str, ...]
    path: str | None = None       # None: not built yet


TASKS = (
    Task("lookup", "Find a child", "Check whether a child is already known, from their name, date of birth "
         "and postcode.", "lookup", ("identity.demographics",), "/lookup"),
    Task("cme", "Children missing education", "Work the list of children not on a school roll.",
         "list_cme", ("identity.address",), "/cme"),
    Task("review", "Review possible matches", "Decide whether two records are the same child; the next "
         "linkage run honours the decision.", "manage_data", ("identity.demographics", "identity.address"),
         "/review"),
    Task("quarantine", "Records held back", "See the records that failed validation, by agency and reason, and "
         "send them back to be corrected.", "manage_data",
         ("identity.demographics",), "/quarantine"),
    Task("quality", "Linkage quality", "How well records are being linked: sources, children, match weights, "
         "and precision and recall from your decisions.", "manage_data", ("identity.demographics",), "/quality"),
    Task("audit", "Audit log", "Search who saw which child's records, and why.", "read_audit",
         ("identity.demographics",), "/dpo"),
    Task("outcomes", "AP outcomes", "What happens to children before, during and after alternative provision, "
         "as published statistics.", "read_outcomes", ("education.enrolment",), "/outcomes"),
)


def task(name: str) -> Task:
    return next(t for t in TASKS if t.name == name)


def allowed_purposes(policy: PolicyEngine, who: Principal, t: Task) -> list[str]:
    """The purposes for which the policy lets ``who`` do ``t`` at all, default first."""
    found = [p for p in PURPOSES if policy.decide(who, t.action, p, list(t.categories)).any]
    first = DEFAULT_PURPOSE.get(who.role)
    return sorted(found, key=lambda p: p != first)


def tasks_for(policy: PolicyEngine, who: Principal) -> list[tuple[Task, list[str]]]:
    return [(t, ps) for t in TASKS if (ps := allowed_purposes(policy, who, t))]
