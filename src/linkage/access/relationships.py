"""Which organisation has a reason to open which child's full record, and until when.

An organisation earns one when the service itself named the child to it: its own
confident lookup, or its CME worklist. Each lasts a fixed time (``relationship_days``)
and is renewed by the next. Kept by organisation, never by client, so every client of
a school shares its school's relationships.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from linkage.store.state import ServiceState

__all__ = ["Relationships"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS relationships (
  org TEXT NOT NULL, child_id TEXT NOT NULL, reason TEXT NOT NULL, expires_at TEXT NOT NULL,
  PRIMARY KEY (org, child_id));
"""


class Relationships:
    def __init__(self, state: ServiceState, days: int) -> None:
        self.state, self.days = state, days
        state.create(_SCHEMA)

    def grant(self, org: str, child_ids: list[str], reason: str, now: datetime | None = None) -> None:
        """Give ``org`` a reason to open these children until ``days`` from now (renewing any)."""
        if not org:
            raise ValueError("a relationship needs an organisation")
        expires = ((now or datetime.now(timezone.utc)) + timedelta(days=self.days)).isoformat()
        with self.state.transaction():
            self.state.executemany("INSERT INTO relationships VALUES (?, ?, ?, ?) ON CONFLICT (org, child_id) "
                                   "DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at",
                                   [(org, c, reason, expires) for c in child_ids])

    def current(self, org: str, child_id: str, now: datetime | None = None,
                former: tuple[str, ...] = ()) -> str | None:
        """The reason ``org`` may open this child, or None when it has none that has not expired.
        ``former``: identifiers merged into the child, whose relationships carry over."""
        ids = (child_id, *former)
        row = self.state.execute(
            f"SELECT reason FROM relationships WHERE org = ? AND child_id IN ({', '.join('?' * len(ids))}) "
            "AND expires_at > ? ORDER BY expires_at DESC LIMIT 1",
            (org, *ids, (now or datetime.now(timezone.utc)).isoformat())).fetchone()
        return row["reason"] if row else None
