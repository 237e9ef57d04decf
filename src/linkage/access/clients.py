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
from linkage.access.subjects import check_subject, issuer_name, recording, subject_holder
from linkage.errors import Conflict, LinkageError, NotFound
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
    idp_issuer: str | None = None    # a machine client of the identity provider: its tokens, not ours
    idp_subject: str | None = None
    revoked_at: float = 0.0      # the provider's tokens issued before (epoch s) are refused: no generation

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


_SELECT = ("SELECT c.*, o.name AS org_name, o.org_type, o.code, o.active, o.created_at AS org_created_at, "
           "o.revoked_at AS org_revoked_at "
           "FROM clients c JOIN organisations o ON o.org_id = c.org_id")


def _client(row) -> Client:
    org = Organisation(row["org_id"], row["org_name"], row["org_type"], row["code"], bool(row["active"]),
                       row["org_created_at"])
    return Client(row["client_id"], row["name"], row["role"], org, bool(row["disabled"]), row["generation"],
                  row["locked_until"], row["idp_issuer"], row["idp_subject"],
                  max(row["revoked_at"], row["org_revoked_at"]))


class ClientRegistry:
    def __init__(self, state: ServiceState, orgs: OrgRegistry | None = None, *,
                 lockout_after: int = 5, lockout_seconds: int = 900) -> None:
        self.state = state
        self.orgs = orgs or OrgRegistry(state)
        self.lockout_after, self.lockout_seconds = lockout_after, lockout_seconds
        self.lockouts = Lockouts(state, "clients", "client_id", lockout_after, lockout_seconds)
        self._users = None        # the staff register, for the provider's tokens for a person (``_provider_caller``)

    def add(self, name: str, org: str, role: str, *, idp_issuer: str | None = None,
            idp_subject: str | None = None) -> tuple[Client, str]:
        """Register a client of organisation ``org`` (its id or official code) in ``role``. With
        ``idp_issuer`` and ``idp_subject``, a machine client of the identity provider (its client
        credentials tokens name that subject): no secret here, and "" is returned for one."""
        name, role = display_name(name, "a client's name"), role.strip()
        organisation = self.orgs.find(org)
        if not organisation.active:
            raise LinkageError(f"organisation {organisation.name} is disabled")
        self.orgs.check_role(organisation.org_type, role)
        client_id = "lk_" + secrets.token_hex(8)
        if idp_issuer is None:
            secret, hashed = _new_secret()
        else:
            idp_issuer, idp_subject = check_subject(idp_issuer, idp_subject or "")
            secret, hashed = "", ""          # no secret: /oauth/token never issues it a token
        with recording(self.state):         # looked for and recorded at once: not a person's meanwhile
            if idp_issuer is not None and (holder := subject_holder(self.state, idp_issuer, idp_subject)):
                raise Conflict(f"the provider's subject {idp_subject!r} is already registered ({holder})")
            self.state.execute(
                "INSERT INTO clients (client_id, name, org_id, role, secret_hash, created_at, idp_issuer, "
                "idp_subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (client_id, name, organisation.org_id, role, hashed, datetime.now(timezone.utc).isoformat(),
                 idp_issuer, idp_subject))
        return Client(client_id, name, role, organisation, idp_issuer=idp_issuer, idp_subject=idp_subject), secret

    def get(self, client_id: str) -> Client | None:
        row = self.state.execute(_SELECT + " WHERE c.client_id = ?", (client_id,)).fetchone()
        return _client(row) if row else None

    def list(self) -> list[Client]:
        return [_client(r) for r in self.state.execute(_SELECT + " ORDER BY c.created_at")]

    def authenticate(self, client_id: str, secret: str, now: float | None = None, *, network: str = "") -> Login:
        """``network``: the caller's network (``service.oauth.network``), which lock-outs are kept by."""
        now = time.time() if now is None else now
        row = self.state.execute(_SELECT + " WHERE c.client_id = ?", (client_id,)).fetchone()
        if row is None or not row["secret_hash"]:       # none, or the identity provider's (no secret here)
            _hash(secret, b"0" * 16)  # same work either way: no timing oracle for ids
            return self._unknown(client_id, network, now)
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

    def _unknown(self, client_id: str, network: str, now: float) -> Login:
        """A client id with no secret here (none registered, or the identity provider's): refused,
        and counted and locked out as a registered client's wrong secrets from a network that never
        obtained a token for it (``Lockouts.unregistered``). Otherwise the fifth guess at a registered
        id said 429 "locked out" and at any other 401: five requests told a real client id from
        a made-up one. (Its count is kept apart from staff emails' by the ``client`` prefix.)"""
        subject, wide = self.lockouts.unregistered(f"client {client_id}", now)
        until, _ = self.lockouts.until(subject, network, wide)
        failure = self.lockouts.failed(subject, network, False, now)    # counted while locked, as above
        if until > now:
            return Login(None, "locked", retry_after=max(failure.retry_after, ceil(until - now)),
                         locks=failure.locks, lock_seconds=failure.seconds)
        return Login(None, "unknown", locked_now=failure.refused, locks=failure.locks,
                     lock_seconds=failure.seconds, retry_after=failure.retry_after)

    def locked_until(self, client_id: str, network: str = "") -> float:
        """Until when (epoch seconds) the client is locked out for callers from ``network``; 0 if not."""
        client = self.get(client_id)
        return self.lockouts.until(client_id, network, client.locked_until)[0] if client else 0.0

    def rotate(self, client_id: str) -> str:
        """A new secret, returned once; the old secret and every token issued under it stop now."""
        secret, hashed = _new_secret()
        if self.state.execute("UPDATE clients SET secret_hash = ?, generation = generation + 1, failed_logins = 0, "
                              "locked_until = 0 WHERE client_id = ? AND idp_subject IS NULL",
                              (hashed, client_id)).rowcount != 1:
            if self.get(client_id) is not None:
                raise LinkageError(f"{client_id} is the identity provider's client: it has no secret here")
            raise NotFound(f"no client {client_id}")
        self.lockouts.forget(client_id)
        return secret

    def set_active(self, client_id: str, active: bool) -> Client:
        """Disabling also revokes every token issued so far: enabling again does not revive them (nor
        an identity provider's token issued before either: ``revoked_at``)."""
        bump = 0 if active else 1
        if self.state.execute("UPDATE clients SET disabled = ?, generation = generation + ?, revoked_at = ? "
                              "WHERE client_id = ?", (int(not active), bump, time.time(), client_id)).rowcount != 1:
            raise NotFound(f"no client {client_id}")
        return self.get(client_id)

    def _provider_caller(self, claims: TokenClaims) -> Principal:
        """An identity provider's token stands for whom the register holds its subject as: a person
        (``linkage users``, or their first sign-in with the provider) or a machine client (``linkage
        clients add --idp-subject``), each usable and in the token's organisation and role. Any
        other subject is refused. A person's token and a machine's cannot be told apart by what
        they carry (a person can leave out the email scope, or change the address), and OpenID
        Connect never gives a subject to anyone else (Core 5.7), so the register decides."""
        from linkage.access.users import UserRegistry

        if self._users is None:
            self._users = UserRegistry(self.state, self.orgs)
        user = self._users.by_subject(claims.issuer, claims.subject)
        if user is not None:
            if not self._users.usable(user):
                raise AuthError("the person is disabled in this service's register", reason="person_disabled",
                                person=user.email)
            _issued_after(claims, user.revoked_at, user.email)
            if not self._names(claims.org, user.org) or user.role != claims.role:
                raise AuthError("the token's organisation or role is not the person's in this service's register",
                                reason="person_other_organisation_or_role", person=user.email)
            return user.principal()
        row = self.state.execute(_SELECT + " WHERE c.idp_issuer = ? AND c.idp_subject = ?",
                                 (issuer_name(claims.issuer), claims.subject)).fetchone()
        if row is None:
            raise AuthError("the token's subject is neither a person nor a client registered in this service",
                            reason="subject_not_registered")
        client = _client(row)
        if not client.active:
            raise AuthError("the client or its organisation is disabled", reason="client_disabled")
        _issued_after(claims, client.revoked_at)
        if not self._names(claims.org, client.org) or client.role != claims.role:
            raise AuthError("the token's organisation or role is not the client's in this service's register",
                            reason="client_other_organisation_or_role")
        if client.role not in self.orgs.roles.get(client.agency_type, ()):
            raise AuthError("the client's role is no longer one of its organisation type's roles",
                            reason="client_role_withdrawn")
        return client.principal()

    def _names(self, ref: str, org: Organisation) -> bool:
        """Whether a token's ``linkage_org`` (an org id or official code) is ``org``."""
        try:
            return self.orgs.find(ref).org_id == org.org_id
        except LinkageError:
            return False

    def caller(self, claims: TokenClaims) -> Principal:
        """The principal a verified token stands for, read from the register now, never from the token."""
        if claims.external:
            return self._provider_caller(claims)
        client = self.get(claims.client_id)
        if client is None or client.idp_subject is not None or client.org.org_id != claims.org \
                or client.generation != claims.generation:
            raise AuthError("the token has been revoked")
        if not client.active:
            raise AuthError("the client or its organisation is disabled")
        if client.role not in self.orgs.roles.get(client.agency_type, ()):
            raise AuthError("the client's role is no longer one of its organisation type's roles")
        return client.principal()


def _issued_after(claims: TokenClaims, revoked_at: float, person: str | None = None) -> None:
    """Refuse a provider's token issued (``iat``) before the holder, or its organisation, was last
    disabled, enabled or moved (its subject, organisation or role): a token taken before an
    organisation was disabled for a break-in would otherwise work again once it was enabled, until it
    expired. A token ``iat`` in the same second as the change is refused too: the provider gives
    whole seconds, and the holder asks for a new one."""
    if claims.issued_at < revoked_at:
        raise AuthError("the token was issued before the client, person or organisation was last disabled, "
                        "enabled or changed: ask the identity provider for a new one", reason="token_before_revocation",
                        person=person)
