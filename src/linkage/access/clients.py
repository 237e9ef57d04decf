"""Registered API clients. Only a scrypt hash of each secret is kept."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from linkage.errors import LinkageError
from linkage.store.state import ServiceState

__all__ = ["AGENCY_TYPES", "Client", "ClientRegistry"]

AGENCY_TYPES = ("ap_school", "school", "social_care", "health", "la_education", "dpo")


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    agency: str
    agency_type: str
    role: str


def _hash(secret: str, salt: bytes) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


class ClientRegistry:
    def __init__(self, state: ServiceState) -> None:
        self.state = state

    def add(self, name: str, agency: str, agency_type: str, role: str) -> tuple[Client, str]:
        if agency_type not in AGENCY_TYPES:
            raise LinkageError(f"agency type must be one of {AGENCY_TYPES}")
        if not role.strip() or not name.strip() or not agency.strip():
            raise LinkageError("name, agency and role are required")
        client_id = "lk_" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        self.state.execute(
            "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (client_id, name, agency, agency_type, role.strip(), _hash(secret, secrets.token_bytes(16)),
             datetime.now(timezone.utc).isoformat()))
        return Client(client_id, name, agency, agency_type, role.strip()), secret

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        row = self.state.execute("SELECT * FROM clients WHERE client_id = ? AND disabled = 0",
                                 (client_id,)).fetchone()
        if row is None:
            _hash(secret, b"0" * 16)  # same work either way: no timing oracle for ids
            return None
        _, salt64, _ = row["secret_hash"].split("$")
        if not hmac.compare_digest(_hash(secret, base64.b64decode(salt64)), row["secret_hash"]):
            return None
        return Client(row["client_id"], row["name"], row["agency"], row["agency_type"], row["role"])

    def list(self) -> list[Client]:
        return [Client(r["client_id"], r["name"], r["agency"], r["agency_type"], r["role"])
                for r in self.state.execute("SELECT * FROM clients WHERE disabled = 0 ORDER BY created_at")]

    def organisation_type(self, organisation: str) -> str | None:
        """The type of a registered organisation, so a consent may name it as recipient."""
        row = self.state.execute("SELECT agency_type FROM clients WHERE agency = ? LIMIT 1",
                                 (organisation,)).fetchone()
        return row["agency_type"] if row else None

    def disable(self, client_id: str) -> bool:
        return self.state.execute("UPDATE clients SET disabled = 1 WHERE client_id = ?", (client_id,)).rowcount == 1
