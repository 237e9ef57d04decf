"""Registered API clients: each belongs to one registered organisation and holds one of its type's roles.

Only a scrypt hash of each secret is kept. Every request re-reads the client and its
organisation, so disabling either, or rotating the secret, takes effect at once in
every worker. Wrong secrets are counted here, in the shared register, so a lock-out
holds across workers too.

A lock-out is per client *and caller's network*: anyone who knows a client id could
otherwise lock the real organisation out with a few wrong secrets (a denial of service).
Guesses spread over many networks still lock the client, but only from networks it has
never proved its secret from, so the holder's own systems keep working (the OWASP
"device cookie" scheme, with the network in place of the cookie).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from math import ceil

from linkage.access.orgs import Organisation, OrgRegistry, display_name
from linkage.access.tokens import AuthError, TokenClaims
from linkage.errors import LinkageError, NotFound
from linkage.policy import Principal
from linkage.store.state import ServiceState

__all__ = ["Client", "ClientRegistry", "Login", "WIDE_FACTOR"]

# Wrong secrets in a row, from any networks, that lock a client out of every network it has not
# proved its secret from: this many times the per-network count.
WIDE_FACTOR = 4


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    role: str
    org: Organisation
    disabled: bool = False
    generation: int = 0          # tokens carry it; rotating or disabling moves it on, revoking them
    locked_until: float = 0.0    # epoch seconds

    @property
    def agency(self) -> str:
        return self.org.name

    @property
    def agency_type(self) -> str:
        return self.org.org_type

    @property
    def active(self) -> bool:
        return not self.disabled and self.org.active

    def principal(self) -> Principal:
        return Principal(self.client_id, self.org.name, self.org.org_type, self.role, self.org.org_id,
                         self.org.code)


@dataclass(frozen=True)
class Login:
    """One attempt at the token endpoint. ``client`` is set only when a token may be issued."""

    client: Client | None
    outcome: str                 # ok | unknown | wrong_secret | inactive | locked
    locked_now: bool = False     # this failure started a lock-out that now refuses this caller
    retry_after: int = 0
    locks: tuple[str, ...] = ()  # the lock-outs this failure started: "network" and/or "client"


def _hash(secret: str, salt: bytes) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return secret, _hash(secret, secrets.token_bytes(16))


_SELECT = ("SELECT c.*, o.name AS org_name, o.org_type, o.code, o.active, o.created_at AS org_created_at "
           "FROM clients c JOIN organisations o ON o.org_id = c.org_id")


def _client(row) -> Client:
    org = Organisation(row["org_id"], row["org_name"], row["org_type"], row["code"], bool(row["active"]),
                       row["org_created_at"])
    return Client(row["client_id"], row["name"], row["role"], org, bool(row["disabled"]), row["generation"],
                  row["locked_until"])


def _until(client: Client, source) -> float:
    """The network's own lock-out; the client-wide one binds only networks that never proved the secret."""
    trusted = bool(source and source["trusted"])
    return max(source["locked_until"] if source else 0.0, 0.0 if trusted else client.locked_until)


class ClientRegistry:
    def __init__(self, state: ServiceState, orgs: OrgRegistry | None = None, *,
                 lockout_after: int = 5, lockout_seconds: int = 900) -> None:
        self.state = state
        self.orgs = orgs or OrgRegistry(state)
        self.lockout_after, self.lockout_seconds = lockout_after, lockout_seconds

    def _check_role(self, org_type: str, role: str) -> None:
        allowed = self.orgs.roles.get(org_type, ())
        if role not in allowed:
            raise LinkageError(f"role {role!r} is not a role of {org_type} organisations; "
                               f"valid roles: {', '.join(allowed)}")

    def add(self, name: str, org: str, role: str) -> tuple[Client, str]:
        """Register a client of organisation ``org`` (its id or official code) in ``role``."""
        name, role = display_name(name, "a client's name"), role.strip()
        organisation = self.orgs.find(org)
        if not organisation.active:
            raise LinkageError(f"organisation {organisation.name} is disabled")
        self._check_role(organisation.org_type, role)
        client_id = "lk_" + secrets.token_hex(8)
        secret, hashed = _new_secret()
        self.state.execute(
            "INSERT INTO clients (client_id, name, org_id, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (client_id, name, organisation.org_id, role, hashed, datetime.now(timezone.utc).isoformat()))
        return Client(client_id, name, role, organisation), secret

    def get(self, client_id: str) -> Client | None:
        row = self.state.execute(_SELECT + " WHERE c.client_id = ?", (client_id,)).fetchone()
        return _client(row) if row else None

    def list(self) -> list[Client]:
        return [_client(r) for r in self.state.execute(_SELECT + " ORDER BY c.created_at")]

    def authenticate(self, client_id: str, secret: str, network: str = "", now: float | None = None) -> Login:
        """``network``: the caller's network (``service.oauth.network``), which lock-outs are kept by."""
        now = time.time() if now is None else now
        row = self.state.execute(_SELECT + " WHERE c.client_id = ?", (client_id,)).fetchone()
        if row is None:
            _hash(secret, b"0" * 16)  # same work either way: no timing oracle for ids
            return Login(None, "unknown")
        client = _client(row)
        source = self._source(client_id, network)
        trusted = bool(source and source["trusted"])
        until = _until(client, source)
        if until > now:
            return Login(None, "locked", retry_after=ceil(until - now))
        _, salt64, _ = row["secret_hash"].split("$")
        if not hmac.compare_digest(_hash(secret, base64.b64decode(salt64)), row["secret_hash"]):
            return self._failed(client_id, network, trusted, now)
        if not client.active:
            return Login(None, "inactive")
        self.state.execute("UPDATE clients SET failed_logins = 0 WHERE client_id = ? AND failed_logins > 0",
                           (client_id,))
        if not trusted or source["failures"]:
            self.state.execute(
                "INSERT INTO client_sources (client_id, network, failures, locked_until, trusted) "
                "VALUES (?, ?, 0, 0, 1) ON CONFLICT (client_id, network) DO UPDATE SET failures = 0, trusted = 1",
                (client_id, network))
        return Login(client, "ok")

    def _source(self, client_id: str, network: str):
        return self.state.execute("SELECT failures, locked_until, trusted FROM client_sources "
                                  "WHERE client_id = ? AND network = ?", (client_id, network)).fetchone()

    def locked_until(self, client_id: str, network: str = "") -> float:
        """Until when (epoch seconds) the client is locked out for callers from ``network``; 0 if never."""
        client = self.get(client_id)
        return _until(client, self._source(client_id, network)) if client else 0.0

    def _failed(self, client_id: str, network: str, trusted: bool, now: float) -> Login:
        """Count a wrong secret for the network and for the client, each in one statement so
        concurrent workers cannot lose a count."""
        n, until = self.lockout_after, now + self.lockout_seconds
        first = n <= 1
        failures, = self.state.execute(
            "INSERT INTO client_sources (client_id, network, failures, locked_until, trusted) VALUES (?, ?, ?, ?, 0) "
            "ON CONFLICT (client_id, network) DO UPDATE SET "
            "failures = CASE WHEN client_sources.failures + 1 >= ? THEN 0 ELSE client_sources.failures + 1 END, "
            "locked_until = CASE WHEN client_sources.failures + 1 >= ? THEN ? ELSE client_sources.locked_until END "
            "RETURNING failures", (client_id, network, 0 if first else 1, until if first else 0.0, n, n, until)
        ).fetchone()
        wide = n * WIDE_FACTOR
        everywhere, = self.state.execute(
            "UPDATE clients SET failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 END, "
            "locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END "
            "WHERE client_id = ? RETURNING failed_logins", (wide, wide, until, client_id)).fetchone()
        locks = ("network",) * (failures == 0) + ("client",) * (everywhere == 0)
        refused = "network" in locks or ("client" in locks and not trusted)
        return Login(None, "wrong_secret", locked_now=refused, retry_after=self.lockout_seconds if refused else 0,
                     locks=locks)

    def rotate(self, client_id: str) -> str:
        """A new secret, returned once; the old secret and every token issued under it stop now."""
        secret, hashed = _new_secret()
        if self.state.execute("UPDATE clients SET secret_hash = ?, generation = generation + 1, failed_logins = 0, "
                              "locked_until = 0 WHERE client_id = ?", (hashed, client_id)).rowcount != 1:
            raise NotFound(f"no client {client_id}")
        # Lock-outs end, and no network has proved the new secret yet.
        self.state.execute("DELETE FROM client_sources WHERE client_id = ?", (client_id,))
        return secret

    def set_active(self, client_id: str, active: bool) -> Client:
        """Disabling also revokes every token issued so far: enabling again does not revive them."""
        bump = 0 if active else 1
        if self.state.execute("UPDATE clients SET disabled = ?, generation = generation + ? WHERE client_id = ?",
                              (int(not active), bump, client_id)).rowcount != 1:
            raise NotFound(f"no client {client_id}")
        return self.get(client_id)

    def caller(self, claims: TokenClaims) -> Principal:
        """The principal a verified token stands for, read from the register now, never from the token."""
        if claims.external:
            try:
                org = self.orgs.find(claims.org)
            except LinkageError:
                raise AuthError("the token names no registered organisation") from None
            if not org.active:
                raise AuthError("the organisation is disabled")
            try:
                self._check_role(org.org_type, claims.role)
            except LinkageError as exc:
                raise AuthError(str(exc)) from None
            return Principal(claims.client_id, org.name, org.org_type, claims.role, org.org_id, org.code)
        client = self.get(claims.client_id)
        if client is None or client.org.org_id != claims.org or client.generation != claims.generation:
            raise AuthError("the token has been revoked")
        if not client.active:
            raise AuthError("the client or its organisation is disabled")
        if client.role not in self.orgs.roles.get(client.agency_type, ()):
            raise AuthError("the client's role is no longer one of its organisation type's roles")
        return client.principal()
