"""Per-organisation pseudonyms: a keyed HMAC of the organisation's register id and the child identifier.

Two organisations hold different forms for one child, so they cannot join their
copies outside the service; the service records each form it issues and maps
it back. The key is the opaque ``org_id``, never a display name, so an
organisation registered under another's name shares none of its forms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from linkage.errors import StoreError
from linkage.store.keys import load_or_create_key, secret_path
from linkage.store.state import ServiceState

__all__ = ["Pseudonyms"]


class Pseudonyms:
    _REMEMBER = 200_000     # recorded forms kept in memory: repeats skip SQLite
    _CHUNK = 500            # forms looked up per statement (SQLite allows 32,766 parameters)

    def __init__(self, home: Path, state: ServiceState) -> None:
        # Forms already issued were keyed by it: a new key would give each child a second form.
        self._key = load_or_create_key(Path(home), "pseudonym.key", made=lambda: (
            f"the {n:,} pseudonyms issued to organisations were keyed by it" if (n := state.scalar(
                "SELECT count(*) FROM pseudonyms")) else None)).encode()
        self.state = state
        self._known: dict[tuple[str, str], str] = {}    # (org_id, form) -> child, all recorded
        self._values: dict[tuple[str, str], str] = {}   # (org_id, child) -> form, recorded or not
        self._same_key_as_issued(Path(home))

    def _same_key_as_issued(self, home: Path) -> None:
        """A key file swapped for another (a second server given its own keys, a wrong backup)
        would quietly give every organisation a second form for each child: one issued form,
        worked out again, tells."""
        row = self.state.execute("SELECT org_id, pseudonym, child_id FROM pseudonyms LIMIT 1").fetchone()
        if row is not None and self._value(row["org_id"], row["child_id"]) != row["pseudonym"]:
            n = self.state.scalar("SELECT count(*) FROM pseudonyms")
            raise StoreError(f"{secret_path(home, 'pseudonym.key')} is not the key the {n:,} pseudonyms issued to "
                             "organisations were made with: restore the key file from your backup (or copy it from "
                             "the first server: every server needs the same keys)")

    def _remember(self, org_id: str, value: str, child_id: str) -> None:
        if len(self._known) >= self._REMEMBER:
            self._known.clear()
        self._known[(org_id, value)] = child_id

    def _value(self, org_id: str, child_id: str) -> str:
        value = self._values.get((org_id, child_id))
        if value is None:       # a list or an export forms thousands: each is worked out once
            mac = hmac.new(self._key, f"{org_id}\x1f{child_id}".encode(), hashlib.sha256).digest()
            value = "P-" + base64.b32encode(mac[:10]).decode().rstrip("=")
            if len(self._values) >= self._REMEMBER:
                self._values.clear()
            self._values[(org_id, child_id)] = value
        return value

    def form(self, org_id: str, child_id: str) -> str:
        if not org_id:
            raise ValueError("a pseudonym needs the organisation's register id")
        value = self._value(org_id, child_id)
        if (org_id, value) in self._known:
            return value
        # A form issued before (by this process before a restart, or by another) is only read:
        # a write, with its fsync and the database's write lock, is for a form issued first now.
        if self.resolve(org_id, value) is None:
            with self.state.transaction():
                self.state.execute("INSERT INTO pseudonyms (org_id, pseudonym, child_id) VALUES (?, ?, ?) "
                                   "ON CONFLICT DO NOTHING", (org_id, value, child_id))
            self._remember(org_id, value, child_id)
        return value

    def forms(self, org_id: str, child_ids: list[str]) -> dict[str, str]:
        """Many children's forms at once: a list or an export of thousands reads what was issued
        in a few statements and records the rest in one transaction, not one fsync each."""
        if not org_id:
            raise ValueError("a pseudonym needs the organisation's register id")
        out = {c: self._value(org_id, c) for c in child_ids}
        unknown = {v: c for c, v in out.items() if (org_id, v) not in self._known}
        values = list(unknown)
        for i in range(0, len(values), self._CHUNK):
            chunk = values[i:i + self._CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for row in self.state.execute(f"SELECT pseudonym, child_id FROM pseudonyms WHERE org_id = ? "
                                          f"AND pseudonym IN ({marks})", (org_id, *chunk)).fetchall():
                self._remember(org_id, row["pseudonym"], row["child_id"])
                unknown.pop(row["pseudonym"], None)
        if unknown:
            with self.state.transaction():
                self.state.executemany("INSERT INTO pseudonyms (org_id, pseudonym, child_id) VALUES (?, ?, ?) "
                                       "ON CONFLICT DO NOTHING", [(org_id, v, c) for v, c in unknown.items()])
            for v, c in unknown.items():
                self._remember(org_id, v, c)
        return out

    def resolve(self, org_id: str, pseudonym: str) -> str | None:
        if (child := self._known.get((org_id, pseudonym))) is not None:
            return child
        row = self.state.execute("SELECT child_id FROM pseudonyms WHERE org_id = ? AND pseudonym = ?",
                                 (org_id, pseudonym)).fetchone()
        if row is None:
            return None
        self._remember(org_id, pseudonym, row["child_id"])
        return row["child_id"]

    def was_issued(self, agency: str, child_id: str) -> bool:
        """Whether ``agency`` was ever given a pseudonym for ``child_id``; issues none."""
        return self.resolve(agency, self._value(agency, child_id)) == child_id
