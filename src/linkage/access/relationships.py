"""Which organisation has a reason to open which child's full record, and until when.

An organisation earns one when the service itself named the child to it: its own
confident lookup, or its CME worklist. Each lasts at least ``relationship_days``, to the
end of that UTC day, and is renewed by the next. Kept by organisation, never by client,
so every client of a school shares its school's relationships.

Why to the end of the day: every grant on one day gives the same expiry, so renewing a
relationship already renewed today changes nothing and is not written again. The
service remembers what it last stored for each (organisation, child), and reads what is
stored before writing, so a repeated lookup costs no write (and no fsync) until the next
day, in any worker; the first one each day is written before the response, as before. A stored expiry is never shortened, so another
process's write cannot make this one's memory wrong.
"""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta, timezone

from linkage.store.state import ServiceState

__all__ = ["Relationships"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS relationships (
  org TEXT NOT NULL, child_id TEXT NOT NULL, reason TEXT NOT NULL, expires_at TEXT NOT NULL,
  PRIMARY KEY (org, child_id));
"""


def _stamp(moment: datetime) -> str:
    """One fixed text form, so expiries compare as text in SQL."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class Relationships:
    _REMEMBER = 200_000     # (org, child) -> (reason, expiry) as stored; repeats skip the write

    def __init__(self, state: ServiceState, days: int) -> None:
        self.state, self.days = state, days
        self._stored: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()
        state.create(_SCHEMA)

    def expiry(self, now: datetime | None = None) -> str:
        """When a relationship granted at ``now`` ends: ``days`` on, to the end of that UTC day."""
        last_day = ((now or datetime.now(timezone.utc)).astimezone(timezone.utc) + timedelta(days=self.days)).date()
        return _stamp(datetime.combine(last_day, time.max, timezone.utc))

    def grant(self, org: str, child_ids: list[str], reason: str, now: datetime | None = None) -> None:
        """Give ``org`` a reason to open these children until ``expiry(now)`` (renewing any)."""
        if not org:
            raise ValueError("a relationship needs an organisation")
        expires = self.expiry(now)
        with self._lock:
            todo = [c for c in dict.fromkeys(child_ids) if not self._holds(self._stored.get((org, c)), reason, expires)]
        if todo:        # not remembered (a restart, another worker): what is stored may already do
            stored = self._read(org, todo)
            with self._lock:
                self._remember(org, stored)
            todo = [c for c in todo if not self._holds(stored.get(c), reason, expires)]
        if not todo:
            return
        with self.state.transaction():
            self.state.executemany(
                "INSERT INTO relationships VALUES (?, ?, ?, ?) ON CONFLICT (org, child_id) DO UPDATE SET "
                "reason = excluded.reason, expires_at = CASE WHEN excluded.expires_at > relationships.expires_at "
                "THEN excluded.expires_at ELSE relationships.expires_at END",
                [(org, c, reason, expires) for c in todo])
        with self._lock:        # remembered only once committed
            self._remember(org, {c: (reason, expires) for c in todo})

    @staticmethod
    def _holds(held: tuple[str, str] | None, reason: str, expires: str) -> bool:
        return held is not None and held[0] == reason and held[1] >= expires

    def _remember(self, org: str, stored: dict[str, tuple[str, str]]) -> None:
        if len(self._stored) + len(stored) > self._REMEMBER:
            self._stored.clear()
        self._stored.update(((org, c), held) for c, held in stored.items())

    def _read(self, org: str, child_ids: list[str]) -> dict[str, tuple[str, str]]:
        rows = self.state.execute(
            f"SELECT child_id, reason, expires_at FROM relationships WHERE org = ? "
            f"AND child_id IN ({', '.join('?' * len(child_ids))})", (org, *child_ids)).fetchall()
        return {r["child_id"]: (r["reason"], r["expires_at"]) for r in rows}

    def current(self, org: str, child_id: str, now: datetime | None = None,
                former: tuple[str, ...] = ()) -> str | None:
        """The reason ``org`` may open this child, or None when it has none that has not expired.
        ``former``: identifiers merged into the child, whose relationships carry over."""
        ids = (child_id, *former)
        row = self.state.execute(
            f"SELECT reason FROM relationships WHERE org = ? AND child_id IN ({', '.join('?' * len(ids))}) "
            "AND expires_at > ? ORDER BY expires_at DESC LIMIT 1",
            (org, *ids, _stamp(now or datetime.now(timezone.utc)))).fetchone()
        return row["reason"] if row else None
