"""Per-agency pseudonyms: a keyed HMAC of the child identifier.

Two agencies hold different forms for one child, so they cannot join their
copies outside the service; the service records each form it issues and maps
it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from linkage.store.keys import load_or_create_key
from linkage.store.state import ServiceState

__all__ = ["Pseudonyms"]


class Pseudonyms:
    _REMEMBER = 200_000     # recorded forms kept in memory: repeats skip SQLite

    def __init__(self, home: Path, state: ServiceState) -> None:
        self._key = load_or_create_key(Path(home), "pseudonym.key").encode()
        self.state = state
        self._known: dict[tuple[str, str], str] = {}    # (agency, form) -> child, all recorded

    def _remember(self, agency: str, value: str, child_id: str) -> None:
        if len(self._known) >= self._REMEMBER:
            self._known.clear()
        self._known[(agency, value)] = child_id

    def _value(self, agency: str, child_id: str) -> str:
        mac = hmac.new(self._key, f"{agency}\x1f{child_id}".encode(), hashlib.sha256).digest()
        return "P-" + base64.b32encode(mac[:10]).decode().rstrip("=")

    def form(self, agency: str, child_id: str) -> str:
        value = self._value(agency, child_id)
        if (agency, value) not in self._known:
            self.state.execute("INSERT OR IGNORE INTO pseudonyms VALUES (?, ?, ?)", (agency, value, child_id))
            self._remember(agency, value, child_id)
        return value

    def resolve(self, agency: str, pseudonym: str) -> str | None:
        if (child := self._known.get((agency, pseudonym))) is not None:
            return child
        row = self.state.execute("SELECT child_id FROM pseudonyms WHERE agency = ? AND pseudonym = ?",
                                 (agency, pseudonym)).fetchone()
        if row is None:
            return None
        self._remember(agency, pseudonym, row["child_id"])
        return row["child_id"]

    def was_issued(self, agency: str, child_id: str) -> bool:
        """Whether ``agency`` was ever given a pseudonym for ``child_id``; issues none."""
        return self.resolve(agency, self._value(agency, child_id)) == child_id
