"""Record and withdraw consent; the policy engine reads it on every request.

Shaped like FHIR Consent: a provision (permit or deny) for an actor (the
recipient agency type), a purpose, a period and a data category. It takes
effect at once because it is read per request, never cached.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timezone

from linkage.errors import LinkageError
from linkage.store.state import ServiceState

__all__ = ["ConsentRecord", "ConsentRegister", "ConsentState"]


@dataclass(frozen=True)
class ConsentRecord:
    consent_id: str
    child_id: str
    category: str
    actor: str
    purpose: str
    provision: str
    given_by: str
    given_on: date
    expires_on: date | None
    recorded_by: str
    withdrawn_at: str | None

    def status(self, today: date) -> str:
        if self.withdrawn_at:
            return "withdrawn"
        if self.given_on > today:
            return "pending"
        if self.expires_on and self.expires_on < today:
            return "expired"
        return "active"


@dataclass
class ConsentState:
    """Per category: whether an active permit, or an active deny, applies."""

    permit: dict[str, bool]
    deny: dict[str, bool]


def _row(r) -> ConsentRecord:
    return ConsentRecord(r["consent_id"], r["child_id"], r["category"], r["actor"], r["purpose"],
                         r["provision"], r["given_by"], date.fromisoformat(r["given_on"]),
                         date.fromisoformat(r["expires_on"]) if r["expires_on"] else None,
                         r["recorded_by"], r["withdrawn_at"])


class ConsentRegister:
    def __init__(self, state: ServiceState, categories: dict[str, dict]) -> None:
        self.state = state
        self.categories = categories

    def _expand(self, category: str) -> list[str]:
        """A consent may name one category or a whole group (e.g. ``health``)."""
        if category in self.categories:
            return [category]
        group = [c for c, spec in self.categories.items() if spec["group"] == category]
        if not group:
            raise LinkageError(f"unknown data category {category!r}")
        return group

    def record(self, child_id: str, category: str, actor: str, purpose: str, provision: str,
               given_by: str, given_on: date, expires_on: date | None, recorded_by: str) -> ConsentRecord:
        self._expand(category)
        if provision not in ("permit", "deny"):
            raise LinkageError("provision must be permit or deny")
        if expires_on and expires_on < given_on:
            raise LinkageError("expiry is before the date consent was given")
        cid = "CN-" + secrets.token_hex(8)
        self.state.execute(
            "INSERT INTO consents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (cid, child_id, category, actor, purpose, provision, given_by, given_on.isoformat(),
             expires_on.isoformat() if expires_on else None, recorded_by,
             datetime.now(timezone.utc).isoformat()))
        return self.get(cid)

    def get(self, consent_id: str) -> ConsentRecord | None:
        r = self.state.execute("SELECT * FROM consents WHERE consent_id = ?", (consent_id,)).fetchone()
        return _row(r) if r else None

    def withdraw(self, consent_id: str, by: str) -> ConsentRecord | None:
        self.state.execute("UPDATE consents SET withdrawn_at = ?, withdrawn_by = ? "
                           "WHERE consent_id = ? AND withdrawn_at IS NULL",
                           (datetime.now(timezone.utc).isoformat(), by, consent_id))
        return self.get(consent_id)

    def for_child(self, child_id: str) -> list[ConsentRecord]:
        return [_row(r) for r in self.state.execute(
            "SELECT * FROM consents WHERE child_id = ? ORDER BY recorded_at", (child_id,))]

    def evaluate(self, child_id: str, actor: str, purpose: str, today: date | None = None) -> ConsentState:
        today = today or date.today()
        state = ConsentState({}, {})
        for rec in self.for_child(child_id):
            if rec.actor != actor or rec.purpose != purpose or rec.status(today) != "active":
                continue
            target = state.permit if rec.provision == "permit" else state.deny
            for cat in self._expand(rec.category):
                target[cat] = True
        return state
