"""Registered API clients: each belongs to one registered organisation and holds one of its type's roles.

Only a scrypt hash of each secret is kept. Every request re-reads the client and its
organisation, so disabling either, or rotating the secret, takes effect at once in
every worker. Wrong secrets are counted here, in the shared register, so a lock-out
holds across workers too.

A lock-out is per client and caller's network (``access.lockout``), and it slows only wrong
secrets: the right one passes it. A secret is 256 random bits the service made, which no rate
of guessing finds (RFC 6819 5.1.4.2.2), so refusing the right secret protected nothing and let a
stranger who knows a client id, on the holder's network or a new one, keep the holder out.
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

from linkage.access.lockout import Lockouts
from linkage.access.orgs import Organisation, OrgRegistry, display_name
from linkage.access.tokens import AuthError, TokenClaims
from linkage.errors import LinkageError, NotFound
from linkage.policy import Principal
from linkage.store.state import ServiceState

__all__ = ["Client", "ClientRegistry", "Login"]


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
    locks: tuple[str, ...] = ()  # the lock-outs this failure started: "network" and/or "everywhere"
    lock_seconds: tuple[int, ...] = ()   # each one's length (they grow: ``access.lockout``)


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


class ClientRegistry:
    def __init__(self, state: ServiceState, orgs: OrgRegistry | None = None, *,
                 lockout_after: int = 5, lockout_seconds: int = 900) -> None:
        self.state = state
        self.orgs = orgs or OrgRegistry(state)
        self.lockout_after, self.lockout_seconds = lockout_after, lockout_seconds
        self.lockouts = Lockouts(state, "clients", "client_id", lockout_after, lockout_seconds)
        self._users = None        # the staff register, for external tokens naming a person (``_check_person``)

    def add(self, name: str, org: str, role: str) -> tuple[Client, str]:
        """Register a client of organisation ``org`` (its id or official code) in ``role``."""
        name, role = display_name(name, "a client's name"), role.strip()
        organisation = self.orgs.find(org)
        if not organisation.active:
            raise LinkageError(f"organisation {organisation.name} is disabled")
        self.orgs.check_role(organisation.org_type, role)
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

    def authenticate(self, client_id: str, secret: str, now: float | None = None, *, network: str = "") -> Login:
        """``network``: the caller's network (``service.oauth.network``), which lock-outs are kept by."""
        now = time.time() if now is None else now
        row = self.state.execute(_SELECT + " WHERE c.client_id = ?", (client_id,)).fetchone()
        if row is None:
            _hash(secret, b"0" * 16)  # same work either way: no timing oracle for ids
            return Login(None, "unknown")
        client = _client(row)
        until, trusted = self.lockouts.until(client_id, network, client.locked_until)
        _, salt64, _ = row["secret_hash"].split("$")
        if not hmac.compare_digest(_hash(secret, base64.b64decode(salt64)), row["secret_hash"]):
            # Counted while locked out too: each run of wrong secrets starts the lock-out again.
            failure = self.lockouts.failed(client_id, network, trusted, now)
            if until > now:
                wait = max(failure.retry_after, ceil(until - now))
                return Login(None, "locked", retry_after=wait, locks=failure.locks, lock_seconds=failure.seconds)
            return Login(None, "wrong_secret", locked_now=failure.refused, locks=failure.locks,
                         lock_seconds=failure.seconds, retry_after=failure.retry_after)
        if not client.active:
            return Login(None, "inactive")
        self.lockouts.succeeded(client_id, network)
        return Login(client, "ok")

    def locked_until(self, client_id: str, network: str = "") -> float:
        """Until when (epoch seconds) the client is locked out for callers from ``network``; 0 if not."""
        client = self.get(client_id)
        return self.lockouts.until(client_id, network, client.locked_until)[0] if client else 0.0

    def rotate(self, client_id: str) -> str:
        """A new secret, returned once; the old secret and every token issued under it stop now."""
        secret, hashed = _new_secret()
        if self.state.execute("UPDATE clients SET secret_hash = ?, generation = generation + 1, failed_logins = 0, "
                              "locked_until = 0 WHERE client_id = ?", (hashed, client_id)).rowcount != 1:
            raise NotFound(f"no client {client_id}")
        self.lockouts.forget(client_id)
        return secret

    def set_active(self, client_id: str, active: bool) -> Client:
        """Disabling also revokes every token issued so far: enabling again does not revive them."""
        bump = 0 if active else 1
        if self.state.execute("UPDATE clients SET disabled = ?, generation = generation + ? WHERE client_id = ?",
                              (int(not active), bump, client_id)).rowcount != 1:
            raise NotFound(f"no client {client_id}")
        return self.get(client_id)

    def _check_person(self, claims: TokenClaims, org) -> None:
        """A person's provider token (it names their email) whom the staff register knows: refused once
        the register disables them, or has them in another organisation, as their staff sessions
        are; the provider may take until the token expires to learn of it. A token naming no
        person (a machine client's), or one the register does not hold, is the provider's word."""
        if not claims.person:
            return
        from linkage.access.users import UserRegistry

        if self._users is None:
            self._users = UserRegistry(self.state, self.orgs)
        user = self._users.by_email(claims.person)
        if user is None:
            return
        if not self._users.usable(user):
            raise AuthError("the person is disabled in this service's register")
        if user.org.org_id != org.org_id:
            raise AuthError("the token's organisation is not the person's in this service's register")

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
                self.orgs.check_role(org.org_type, claims.role)
            except LinkageError as exc:
                raise AuthError(str(exc)) from None
            self._check_person(claims, org)
            return Principal(claims.client_id, org.name, org.org_type, claims.role, org.org_id, org.code)
        client = self.get(claims.client_id)
        if client is None or client.org.org_id != claims.org or client.generation != claims.generation:
            raise AuthError("the token has been revoked")
        if not client.active:
            raise AuthError("the client or its organisation is disabled")
        if client.role not in self.orgs.roles.get(client.agency_type, ()):
            raise AuthError("the client's role is no longer one of its organisation type's roles")
        return client.principal()
