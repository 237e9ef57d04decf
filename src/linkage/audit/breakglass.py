"""Break-glass uses awaiting the DPO's review. Justifications are sealed at rest."""

from __future__ import annotations

from datetime import datetime, timezone

from linkage.store.sealed import Sealer
from linkage.store.state import ServiceState

__all__ = ["BreakGlassReviews"]


class BreakGlassReviews:
    def __init__(self, state: ServiceState, sealer: Sealer) -> None:
        self.state, self.sealer = state, sealer

    def record(self, *, review_id: str, request_id: str, client_id: str, child_id: str, justification: str) -> None:
        self.state.execute("INSERT INTO break_glass VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                           (review_id, request_id, client_id, child_id, self.sealer.seal(justification, review_id),
                            datetime.now(timezone.utc).isoformat()))

    def all(self) -> list[dict]:
        rows = [dict(r) for r in self.state.execute("SELECT * FROM break_glass ORDER BY at")]
        for r in rows:
            r["justification"] = self.sealer.open(r["justification"], r["review_id"])
        return rows
