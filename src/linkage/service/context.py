"""Who is asking, why, and on which request; with the two steps every flow shares."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from linkage.errors import Forbidden
from linkage.policy import Decision, Principal
from linkage.service.container import Services

__all__ = ["Ctx", "digest"]


@dataclass(frozen=True)
class Ctx:
    """One request's caller. ``person`` names the signed-in member of staff, when there is one."""

    services: Services
    caller: Principal
    purpose: str | None
    request_id: str
    person: str | None = None

    @property
    def org(self) -> str:
        """The caller's organisation, as pseudonyms and relationships are keyed: its register id."""
        return self.caller.org_id

    def pseudonym(self, child_id: str) -> str:
        """The child's identifier in the caller's organisation's own form."""
        return self.services.pseudonyms.form(self.org, child_id)

    def pseudonyms(self, child_ids: list[str]) -> dict[str, str]:
        """Many children's identifiers in the caller's organisation's form, issued together."""
        return self.services.pseudonyms.forms(self.org, child_ids)

    def resolve(self, child_ref: str) -> str | None:
        """The canonical child behind one of the caller's organisation's pseudonyms."""
        return self.services.resolve(self.org, child_ref)

    def record(self, action: str, decision: str, children: list[str] | None = None,
               fields: list[str] | None = None, lawful_basis: list[str] | None = None,
               policy_version: str = "", **extra) -> None:
        """Append to the audit log, fsync'd before the response goes out. No raw personal data."""
        c = self.caller
        entry = {"request_id": self.request_id, "client_id": c.client_id, "agency": c.agency,
                 "agency_type": c.agency_type, "role": c.role, "purpose": self.purpose, "action": action,
                 "children": sorted(set(children or [])), "fields": sorted(fields or []),
                 "lawful_basis": sorted(set(lawful_basis or [])), "decision": decision,
                 "policy_version": policy_version or self.services.policy.version, **extra}
        if self.person:
            entry["person"] = self.person
        self.services.audit.append(entry)

    def authorise(self, action: str, categories: list[str], children: list[str] | None = None,
                  consent: dict | None = None, consent_denied: dict | None = None,
                  break_glass: bool = False, context: dict | None = None, every: bool = False,
                  require: tuple[str, ...] = (), **extra) -> Decision:
        """Decide; a refusal is audited and raised as ``Forbidden``, an allowance returned.

        Refused when no category is allowed, when ``every`` is set and any category is
        denied (an act about all of them at once), or when any of ``require`` (those the
        answer cannot be given without) is not allowed."""
        decision = self.services.policy.decide(self.caller, action, self.purpose or "", categories, consent,
                                               consent_denied, break_glass, context)
        return self.enforce(action, decision, children, break_glass=break_glass, every=every, require=require,
                            **extra)

    def enforce(self, action: str, decision: Decision, children: list[str] | None = None,
                break_glass: bool = False, every: bool = False, require: tuple[str, ...] = (),
                **extra) -> Decision:
        """``authorise``'s refusal for a decision already made (``service.children.may_view``'s)."""
        if (not decision.any or (every and decision.denied)
                or not set(require) <= set(decision.allowed)):
            self.record(action, "deny", children, [], [], decision.policy_version, break_glass=break_glass,
                        **extra)
            raise Forbidden(f"the sharing policy does not allow {action} for purpose {self.purpose!r}")
        return decision


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
