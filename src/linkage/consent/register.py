"""Record and withdraw consent; the policy engine reads it on every request.

Shaped like FHIR Consent: a provision (permit or deny) for one actor (a recipient
organisation, or explicitly a whole organisation type), a purpose, a period and a
data category, with who gave it, how, and the evidence. It takes effect at once
because it is read per request, never cached. Who may record, withdraw or read a
consent is the policy's question (``consent_context`` gives it the facts); this
module only keeps the register.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from linkage.consent.holds import ConsentHolds, began_before, create_holds
from linkage.errors import Conflict, LinkageError
from linkage.policy import PolicyEngine, Principal
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState

__all__ = ["ConsentDateRefused", "ConsentRecord", "ConsentRegister", "ConsentState", "Recipient", "RecipientRefused",
           "create_holds", "org_key"]

def org_key(principal: Principal) -> str:
    """The caller's organisation: its register id, never its display name."""
    return principal.org_id


class ConsentDateRefused(LinkageError):
    """A consent's date that cannot be right (after today, before the child's birth): ``code`` says
    which, for the audit entry of the refusal."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class RecipientRefused(LinkageError):
    """A consent's recipient organisation that is not registered (asked only of a caller the policy
    lets record the consent: ``service.consents.record_consent``)."""


@dataclass(frozen=True)
class Recipient:
    """FHIR ``provision.actor``: one organisation (``kind='organisation'``) or every one of a type."""

    kind: str       # organisation | type
    value: str      # the organisation's id, or the type
    type: str       # the organisation type either way

    def names(self, principal: Principal) -> bool:
        if self.kind == "organisation":
            return self.value == org_key(principal)
        return self.value == principal.agency_type


@dataclass(frozen=True)
class ConsentRecord:
    consent_id: str
    child_id: str
    category: str
    recipient: Recipient
    purpose: str
    provision: str
    given_by: str
    method: str
    evidence_ref: str           # opened from its sealed form
    given_on: date
    expires_on: date | None
    recorder_org: str
    recorder_type: str
    recorded_by: str            # the client that recorded it
    withdrawn_at: str | None
    recorded_at: str | None = None      # when (ISO text): a refusal before a split speaks for its parts

    def status(self, today: date) -> str:
        return _status(self.given_on, self.expires_on, self.withdrawn_at, today, self.provision)

    def recorded_by_org(self, principal: Principal) -> bool:
        return self.recorder_org == org_key(principal)


@dataclass
class ConsentState:
    """Per category: whether an active permit, or an active deny, applies."""

    permit: dict[str, bool]
    deny: dict[str, bool]

    def overridden(self, allowed) -> list[str]:
        """The categories the policy allowed although a refusal stood (safeguarding)."""
        return sorted(c for c in allowed if self.deny.get(c))

    def audit(self, allowed) -> dict[str, list[str]]:
        """What an access's audit entry says about refusals it overrode: nothing when none."""
        cats = self.overridden(allowed)
        return {"consent_overridden": cats} if cats else {}


class ConsentRegister:
    def __init__(self, state: ServiceState, policy: PolicyEngine, sealer: Sealer,
                 organisation: Callable[[str], tuple[str, str] | None]) -> None:
        self.state = state
        self.policy = policy
        self.categories = policy.categories
        self._sealer = sealer
        self._organisation = organisation     # id or official code -> (org id, type), if registered
        self._identity = [c for c, spec in self.categories.items() if spec["group"] == "identity"]
        self.holds = ConsentHolds(state, sealer)

    def expand(self, category: str) -> list[str]:
        """A consent may name one category or a whole group (e.g. ``health``)."""
        if category in self.categories:
            return [category]
        group = [c for c, spec in self.categories.items() if spec["group"] == category]
        if not group:
            raise LinkageError(f"unknown data category {category!r}")
        return group

    def recipient(self, organisation: str | None = None, type: str | None = None) -> Recipient:
        """The recipient a consent names; an organisation must be registered, so its type is known."""
        if organisation is not None:
            found = self._organisation(organisation)
            if found is None:
                raise RecipientRefused("the recipient organisation is not registered")
            return Recipient("organisation", *found)
        if type is None:
            raise LinkageError("a consent names a recipient organisation or a recipient type")
        return Recipient("type", type, type)

    @staticmethod
    def consent_context(principal: Principal, recipient: Recipient | None,
                        rec: ConsentRecord | None = None) -> dict[str, str | bool]:
        """The facts the policy decides consent actions on. With no recipient (not yet looked up),
        none that names the caller: the decision no recipient could widen."""
        if recipient is None:
            return {"recipient_type": "", "caller_is_recipient": False, "recorded_by_caller": False}
        return {"recipient_type": recipient.type, "caller_is_recipient": recipient.names(principal),
                "recorded_by_caller": bool(rec and rec.recorded_by_org(principal))}

    def held(self, principal: Principal, child_id: str, former: tuple[str, ...] = (),
             split_from: Mapping[str, datetime] | None = None) -> bool:
        """Whether the caller's organisation is held from recording consent for the child (``hold``),
        under its identifier, one merged into it, or one it was split from since (``ConsentHolds.speaking``)."""
        return self.holds.held(org_key(principal), [child_id, *former], split_from)

    def hold(self, principal: Principal, child_id: str, reason: str) -> None:
        """Hold the caller's organisation from recording any further consent for the child: a
        consent it may not be told is wrong (dated before a date of birth it may not see) was
        refused once, and each further answer would tell it one more thing about the date. The
        consent officer records the child's consents for it from then on, until the DPO lifts the hold
        (``consent.holds``)."""
        self.holds.hold(org_key(principal), child_id, reason)

    def record(self, *, child_id: str, category: str, recipient: Recipient, purpose: str, provision: str,
               given_by: str, method: str, evidence_ref: str, given_on: date, expires_on: date | None,
               recorder: Principal, born: date | None = None) -> ConsentRecord:
        """``born``: the child's earliest recorded date of birth. A consent is recorded once given:
        dated ahead (a refusal typed a year on would not apply until then) or before the child
        was born, it is a mistake, refused before anything is stored."""
        self.expand(category)
        if provision not in ("permit", "deny"):
            raise LinkageError("provision must be permit or deny")
        if given_on > date.today() + timedelta(days=1):
            raise ConsentDateRefused("given_on is after today: record a consent once it has been given",
                                     "given_on_ahead")
        if born is not None and given_on < born:
            raise ConsentDateRefused("given_on is before the child's date of birth", "given_on_before_birth")
        if expires_on and expires_on < given_on:
            raise LinkageError("expiry is before the date consent was given")
        cid = "CN-" + secrets.token_hex(8)
        self.state.execute(
            "INSERT INTO consents (consent_id, child_id, category, recipient_kind, recipient, purpose, provision, "
            "given_by, method, evidence_ref, given_on, expires_on, recorder_org, recorder_type, recorded_by, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, child_id, category, recipient.kind, recipient.value, purpose, provision, given_by, method,
             self._sealer.seal(evidence_ref, _seal_context(cid)), given_on.isoformat(),
             expires_on.isoformat() if expires_on else None, org_key(recorder), recorder.agency_type,
             recorder.client_id, datetime.now(timezone.utc).isoformat()))
        return self.get(cid)

    def _row(self, r) -> ConsentRecord:
        kind, value = r["recipient_kind"], r["recipient"]
        org_type = value if kind == "type" else ((self._organisation(value) or ("", ""))[1])
        return ConsentRecord(
            r["consent_id"], r["child_id"], r["category"], Recipient(kind, value, org_type), r["purpose"],
            r["provision"], r["given_by"], r["method"],
            self._sealer.open(r["evidence_ref"], _seal_context(r["consent_id"])),
            date.fromisoformat(r["given_on"]), _day(r["expires_on"]),
            r["recorder_org"], r["recorder_type"], r["recorded_by"], r["withdrawn_at"], r["recorded_at"])

    def get(self, consent_id: str) -> ConsentRecord | None:
        r = self.state.execute("SELECT * FROM consents WHERE consent_id = ?", (consent_id,)).fetchone()
        return self._row(r) if r else None

    def withdraw(self, consent_id: str, by: str) -> ConsentRecord | None:
        changed = self.state.execute("UPDATE consents SET withdrawn_at = ?, withdrawn_by = ? "
                                     "WHERE consent_id = ? AND withdrawn_at IS NULL",
                                     (datetime.now(timezone.utc).isoformat(), by, consent_id)).rowcount
        if not changed:
            raise Conflict("the consent is already withdrawn")
        return self.get(consent_id)

    def for_child(self, child_id: str, former: tuple[str, ...] = (),
                  split_from: Mapping[str, datetime] | None = None) -> list[ConsentRecord]:
        """The child's consents, with those recorded under ``former``: identifiers a link run
        merged into it (a refusal given before the merge still speaks for the child), and the
        refusals that speak for it from identifiers it was split from (``split_from``)."""
        ids, parted = _ids(child_id, former, split_from)
        return [self._row(r) for r in self.state.execute(
            f"SELECT * FROM consents WHERE child_id IN ({', '.join('?' * len(ids + parted))}) ORDER BY recorded_at",
            ids + parted) if _speaks(r, ids, split_from)]

    def children_with_consent(self, principal: Principal, purpose: str | None,
                              refusals_for_any_purpose: bool = False) -> set[str]:
        """The children any (not withdrawn) consent addressed to this caller is about: every
        other child's consent state is empty, so a list need not ask child by child. The ids
        are as recorded: one a link run has since merged names the child it merged into.
        ``refusals_for_any_purpose``: refusals only, whatever purpose each was given for
        (``evaluate``'s)."""
        where, values = _addressed(principal, purpose, refusals_for_any_purpose)
        return {r[0] for r in self.state.execute(f"SELECT DISTINCT child_id FROM consents WHERE {where}", values)}

    def all(self, category: str | None = None, provision: str | None = None,
            limit: int = 10_000) -> list[ConsentRecord]:
        """Every consent in the register, newest first (the DPO's audit of it)."""
        where, params = [], []
        for column, value in (("category", category), ("provision", provision)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        clause = " WHERE " + " AND ".join(where) if where else ""
        return [self._row(r) for r in self.state.execute(
            f"SELECT * FROM consents{clause} ORDER BY recorded_at DESC LIMIT ?", (*params, limit))]

    def evaluate(self, child_id: str, principal: Principal, purpose: str | None,
                 today: date | None = None, former: tuple[str, ...] = (),
                 split_from: Mapping[str, datetime] | None = None,
                 refusals_for_any_purpose: bool = False) -> ConsentState:
        """The consent that applies to this caller: addressed to its organisation, or to its type.
        ``former``: identifiers merged into the child, whose consents are the child's;
        ``split_from``: identifiers this child's records left, and when: a refusal recorded under
        one before then speaks for this child too (whose it was cannot be told), a permission
        does not (it stays with the identifier, as it would disclose to a child who may not be
        the one who gave it).

        ``refusals_for_any_purpose``: the refusals addressed to the caller whatever purpose each was
        given for, and no permission: for a purpose no consent is recorded for (an AP leader's
        ``outcomes``), where a refusal given for another must not be passed round."""
        today = today or date.today()
        state = ConsentState({}, {})
        ids, parted = _ids(child_id, former, split_from)
        where, values = _addressed(principal, purpose, refusals_for_any_purpose)
        rows = self.state.execute(
            "SELECT child_id, category, provision, given_on, expires_on, recorded_at FROM consents "
            f"WHERE child_id IN ({', '.join('?' * len(ids + parted))}) AND {where}", (*ids, *parted, *values))
        for r in rows:
            if not _speaks(r, ids, split_from):
                continue
            if _status(date.fromisoformat(r["given_on"]), _day(r["expires_on"]), None, today,
                       r["provision"]) != "active":
                continue
            target = state.permit if r["provision"] == "permit" else state.deny
            for cat in self.expand(r["category"]):
                target[cat] = True
        return state

    def hides_identity(self, child_id: str, principal: Principal, purpose: str | None,
                       former: tuple[str, ...] = (), split_from: Mapping[str, datetime] | None = None) -> bool:
        """Whether a refusal about identity data takes this child out of the caller's lookups.

        The policy decides: the refusal stands unless safeguarding lets it be overridden.
        """
        return self.refuses_identity(self.evaluate(child_id, principal, purpose, former=former,
                                                   split_from=split_from), principal, purpose)

    def refuses_identity(self, state: ConsentState, principal: Principal, purpose: str | None) -> bool:
        """``hides_identity`` for consents already evaluated (a child's view has them)."""
        refused = [c for c in self._identity if state.deny.get(c)]
        if not refused:
            return False
        return bool(self.policy.decide(principal, "lookup", purpose or "", refused, state.permit,
                                       state.deny).denied)


def _addressed(principal: Principal, purpose: str | None, refusals_for_any_purpose: bool) -> tuple[str, tuple]:
    """The condition (and its values) for the live consents addressed to the caller, its organisation
    or its type: for ``purpose``, or every refusal whatever its purpose."""
    which = "provision = 'deny'" if refusals_for_any_purpose else "purpose = ?"
    return (f"{which} AND withdrawn_at IS NULL AND ((recipient_kind = 'organisation' AND recipient = ?) "
            "OR (recipient_kind = 'type' AND recipient = ?))",
            (*(() if refusals_for_any_purpose else (purpose or "",)), org_key(principal), principal.agency_type))


def _ids(child_id: str, former: tuple[str, ...],
         split_from: Mapping[str, datetime] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The identifiers whose every consent is the child's, and those only refusals may come from."""
    ids = (child_id, *former)
    return ids, tuple(i for i in (split_from or ()) if i not in ids)


def _speaks(row, ids: tuple[str, ...], split_from: Mapping[str, datetime] | None) -> bool:
    """Whether a consent row speaks for the child: recorded under it (or an id merged into it),
    or a refusal recorded under an id it was split from while its records were still there."""
    if row["child_id"] in ids:
        return True
    left = (split_from or {}).get(row["child_id"])
    if left is None or row["provision"] != "deny":
        return False
    return began_before(row["recorded_at"], left)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _status(given_on: date, expires_on: date | None, withdrawn_at: str | None, today: date,
            provision: str = "permit") -> str:
    """A refusal applies from the moment it is recorded (one dated tomorrow, as a clerk ahead of the
    server's clock would date it, is not left pending); a permission from the day it was given."""
    if withdrawn_at:
        return "withdrawn"
    if given_on > today and provision != "deny":
        return "pending"
    if expires_on and expires_on < today:
        return "expired"
    return "active"


def _seal_context(consent_id: str) -> str:
    return f"consent:{consent_id}:evidence_ref"
