"""Holds on an organisation recording consent for a child, and the DPO's lifting of them.

A caller that may not see a child's date of birth and sends a consent dated before it is refused
without a word of why and held (``service.consents.record_consent``): every later consent it sends
for that child is refused alike, so a run of dates tells it nothing. A hold was forever; the DPO
now lifts one (the organisation's mistake explained: the wrong child, a mistyped year), with who,
when and why kept beside it (the note sealed at rest, as a break-glass review's is) and in the
audit log. Who may list and lift is the policy's question (``read_consent_holds``,
``lift_consent_hold``); this module only keeps the tables.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timezone

from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState

__all__ = ["ConsentHolds", "began_before", "create_holds"]

# Tables of the register's own beside the schema's, as the users' ``email_match_closed``
# (``state migrate`` copies them): the holds in force, and each one lifted.
_HOLDS = """
CREATE TABLE IF NOT EXISTS consent_holds (
  org_id TEXT NOT NULL, child_id TEXT NOT NULL, reason TEXT NOT NULL, held_at TEXT NOT NULL,
  PRIMARY KEY (org_id, child_id));
CREATE TABLE IF NOT EXISTS consent_hold_lifts (
  lift_id TEXT PRIMARY KEY, org_id TEXT NOT NULL, child_id TEXT NOT NULL, reason TEXT NOT NULL,
  held_at TEXT NOT NULL, lifted_at TEXT NOT NULL, lifted_by TEXT NOT NULL, note TEXT NOT NULL);
"""


def create_holds(state: ServiceState) -> None:
    state.create(_HOLDS)


def _note_context(lift_id: str) -> str:
    return f"hold-lift:{lift_id}"


class ConsentHolds:
    def __init__(self, state: ServiceState, sealer: Sealer) -> None:
        self.state, self._sealer = state, sealer
        create_holds(state)

    def speaking(self, org_id: str, ids: list[str] | tuple[str, ...],
                 split_from: Mapping[str, datetime] | None = None) -> list[dict]:
        """The organisation's holds in force that speak for a child, oldest first: recorded under one of
        ``ids`` (the child and the identifiers a run merged into it), or under an identifier some of its
        records were split from, before they left (``split_from``): whose date of birth refused the
        organisation cannot be told, as with a refusal of consent (``ConsentRegister.evaluate``)."""
        parted = [i for i in (split_from or {}) if i not in ids]
        every = [*ids, *parted]
        rows = self.state.execute(
            f"SELECT org_id, child_id, reason, held_at FROM consent_holds WHERE org_id = ? AND child_id IN "
            f"({', '.join('?' * len(every))}) ORDER BY held_at", (org_id, *every))
        return [dict(r) for r in rows if r["child_id"] in ids or began_before(r["held_at"], split_from[r["child_id"]])]

    def held(self, org_id: str, ids: list[str] | tuple[str, ...],
             split_from: Mapping[str, datetime] | None = None) -> bool:
        """Whether the organisation is held from recording consent for the child (``speaking``)."""
        return bool(self.speaking(org_id, ids, split_from))

    def hold(self, org_id: str, child_id: str, reason: str) -> None:
        self.state.execute("INSERT INTO consent_holds (org_id, child_id, reason, held_at) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (org_id, child_id) DO NOTHING",
                           (org_id, child_id, reason, datetime.now(timezone.utc).isoformat()))

    def current(self, org_id: str | None = None) -> list[dict]:
        """The holds in force, oldest first; ``org_id``: one organisation's."""
        where, params = (" WHERE org_id = ?", (org_id,)) if org_id else ("", ())
        return [dict(r) for r in self.state.execute(
            f"SELECT org_id, child_id, reason, held_at FROM consent_holds{where} ORDER BY held_at", params)]

    def lifted(self, limit: int = 1000) -> list[dict]:
        """The holds lifted, newest first, each with who lifted it, when and why (opened)."""
        out = []
        for r in self.state.execute("SELECT * FROM consent_hold_lifts ORDER BY lifted_at DESC LIMIT ?", (limit,)):
            d = dict(r)
            d["note"] = self._sealer.open(d["note"], _note_context(d["lift_id"]))
            out.append(d)
        return out

    def lift(self, org_id: str, child_ids: list[str] | tuple[str, ...], *, by: str, note: str) -> list[dict]:
        """End the organisation's holds recorded under ``child_ids`` (those that speak for one child:
        ``speaking``), keeping who, when and why for each, oldest first; empty when there was none
        (nothing changed). One transaction: a hold is never gone without its record."""
        done = []
        with self.state.transaction():
            at = datetime.now(timezone.utc).isoformat()
            for child_id in dict.fromkeys(child_ids):
                row = self.state.execute("SELECT reason, held_at FROM consent_holds WHERE org_id = ? AND child_id = ?",
                                         (org_id, child_id)).fetchone()
                if row is None:
                    continue
                lift_id = "HL-" + secrets.token_hex(6)
                self.state.execute("DELETE FROM consent_holds WHERE org_id = ? AND child_id = ?", (org_id, child_id))
                self.state.execute(
                    "INSERT INTO consent_hold_lifts (lift_id, org_id, child_id, reason, held_at, lifted_at, lifted_by, "
                    "note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (lift_id, org_id, child_id, row["reason"], row["held_at"], at, by,
                     self._sealer.seal(note, _note_context(lift_id))))
                done.append({"lift_id": lift_id, "org_id": org_id, "child_id": child_id, "reason": row["reason"],
                             "held_at": row["held_at"], "lifted_at": at, "lifted_by": by, "note": note})
        return sorted(done, key=lambda d: d["held_at"])


def began_before(recorded_at: str, left: datetime) -> bool:
    """Whether a hold or a refusal (recorded at ``recorded_at``, ISO text) began before the records
    left the identifier it was recorded under (a naive time is UTC)."""
    at = datetime.fromisoformat(recorded_at)
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)) < (
        left if left.tzinfo else left.replace(tzinfo=timezone.utc))
