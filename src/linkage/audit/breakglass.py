"""Break-glass uses and the DPO's review of each. Justifications and review notes are sealed at rest.

A use is reviewed once: who reviewed it (the signed-in person, or the API client), when,
the outcome, and a note. A second review of the same use is refused, so an outcome
cannot be quietly rewritten; the audit log holds both attempts.
"""

from __future__ import annotations

from datetime import datetime, timezone

from linkage.errors import Conflict, NotFound
from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState

__all__ = ["OUTCOMES", "BreakGlassReviews"]

# The review's outcome, and what a person reads.
OUTCOMES = {"justified": "Justified", "not_justified": "Not justified",
            "referred": "Referred for investigation"}


def _note_context(review_id: str) -> str:
    return f"{review_id}:review"


class BreakGlassReviews:
    def __init__(self, state: ServiceState, sealer: Sealer) -> None:
        self.state, self.sealer = state, sealer

    def record(self, *, review_id: str, request_id: str, client_id: str, child_id: str, justification: str) -> None:
        self.state.execute("INSERT INTO break_glass (review_id, request_id, client_id, child_id, justification, at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (review_id, request_id, client_id, child_id, self.sealer.seal(justification, review_id),
                            datetime.now(timezone.utc).isoformat()))

    def _open(self, row) -> dict:
        r = dict(row)
        r["justification"] = self.sealer.open(r["justification"], r["review_id"])
        if r.get("review_note") is not None:
            r["review_note"] = self.sealer.open(r["review_note"], _note_context(r["review_id"]))
        return r

    def all(self, pending: bool | None = None) -> list[dict]:
        """Every use, oldest first; ``pending`` True: only those awaiting review, False: only reviewed."""
        where = {None: "", True: " WHERE reviewed_at IS NULL", False: " WHERE reviewed_at IS NOT NULL"}[pending]
        return [self._open(r) for r in self.state.execute(f"SELECT * FROM break_glass{where} ORDER BY at")]

    def get(self, review_id: str) -> dict | None:
        row = self.state.execute("SELECT * FROM break_glass WHERE review_id = ?", (review_id,)).fetchone()
        return self._open(row) if row else None

    def review(self, review_id: str, *, reviewer: str, outcome: str, note: str) -> dict:
        """Record the review once; NotFound for an unknown use, Conflict for one already reviewed."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        at = datetime.now(timezone.utc).isoformat()
        changed = self.state.execute(
            "UPDATE break_glass SET reviewed_by = ?, reviewed_at = ?, outcome = ?, review_note = ? "
            "WHERE review_id = ? AND reviewed_at IS NULL",
            (reviewer, at, outcome, self.sealer.seal(note, _note_context(review_id)), review_id)).rowcount
        if not changed:
            if self.get(review_id) is None:
                raise NotFound("no such break-glass use")
            raise Conflict("this break-glass use has already been reviewed")
        return self.get(review_id)
