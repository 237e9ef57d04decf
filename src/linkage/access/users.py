"""Staff who sign in to the web pages: each a person in one registered organisation, in one of its roles.

Only an argon2id hash of each password is kept. Every page request re-reads the user
and the organisation (``UserRegistry.get``), so disabling either signs the person out at
once in every worker. Wrong passwords are counted here, in the shared register, so a
lock-out holds across workers too.

Web sessions live here as well (``SessionStore``): a random id in the cookie, and only
its SHA-256 in the table, so a copy of the database cannot be replayed as a session.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from math import ceil

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from linkage.access.lockout import Lockouts
from linkage.access.orgs import Organisation, OrgRegistry, display_name
from linkage.access.subjects import check_subject, issuer_name, recording, subject_holder
from linkage.errors import Conflict, LinkageError, NotFound
from linkage.policy import Principal
from linkage.store.state import ServiceState

__all__ = ["EmailUnverified", "SessionRecord", "SessionStore", "SignIn", "User", "UserRegistry", "new_password"]

# The users table is the service state's (``store.state.schema``): its upgrades are stamped there.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sessions (
  id_hash TEXT PRIMARY KEY, user_id TEXT, generation INTEGER NOT NULL DEFAULT 0, csrf TEXT NOT NULL,
  data TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, seen_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user_id);
CREATE TABLE IF NOT EXISTS email_match_closed (
  user_id TEXT NOT NULL REFERENCES users (user_id), idp_issuer TEXT NOT NULL, closed_at TEXT NOT NULL,
  PRIMARY KEY (user_id, idp_issuer));
"""

_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}")
_hasher = PasswordHasher()            # argon2id, the library's current recommended parameters
# What an unknown email's password is checked against, for the same work either way: the hash of a
# random password nobody kept, written here (hashing one on import cost every process that imports
# this, each server worker and CLI command, 0.2 to 0.8 CPU s); made afresh when the library's
# parameters are no longer these, so the work stays a real password's.
_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$ib3jlsEq42a/aW5j6/Oxgw$Au2dMlnOGkveBmqgvyfYTRXy3E8z+CHBKcwjmKWyx7U"
if _hasher.check_needs_rehash(_DUMMY):
    _DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class EmailUnverified(LinkageError):
    """The provider has not verified the email that would name the person (``email_verified``): it
    names no one, and a new person is not recorded by it."""


def new_password() -> str:
    """A one-time password to hand over in person; about 120 bits."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    name: str
    role: str
    org: Organisation
    disabled: bool = False
    generation: int = 0           # sessions carry it; disabling or a new password moves it on
    locked_until: float = 0.0
    revoked_at: float = 0.0       # the provider's tokens issued before (epoch s) are refused (``access.clients``)

    @property
    def active(self) -> bool:
        return not self.disabled and self.org.active

    def principal(self) -> Principal:
        return Principal(f"user:{self.user_id}", self.org.name, self.org.org_type, self.role, self.org.org_id,
                         self.org.code)


@dataclass(frozen=True)
class SignIn:
    """One attempt to sign in. ``user`` is set only when it succeeded."""

    user: User | None
    outcome: str                  # ok | unknown | wrong_password | inactive | locked
    locked_now: bool = False      # a lock-out this attempt started now refuses this caller
    retry_after: int = 0
    user_id: str | None = None    # who was tried, when the email is registered
    locks: tuple[str, ...] = ()   # the lock-outs it started: "network" (or "device") and/or "everywhere"
    lock_seconds: tuple[int, ...] = ()   # each one's length (they grow: ``access.lockout``)
    device: str = ""              # on success: the browser's new device token (``access.lockout``)


_SELECT = ("SELECT u.*, o.name AS org_name, o.org_type, o.code, o.active, o.created_at AS org_created_at, "
           "o.revoked_at AS org_revoked_at "
           "FROM users u JOIN organisations o ON o.org_id = u.org_id")


def _user(row) -> User:
    org = Organisation(row["org_id"], row["org_name"], row["org_type"], row["code"], bool(row["active"]),
                       row["org_created_at"])
    return User(row["user_id"], row["email"], row["name"], row["role"], org, bool(row["disabled"]),
                row["generation"], row["locked_until"], max(row["revoked_at"], row["org_revoked_at"]))


def _email(text: str) -> str:
    email = text.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise LinkageError(f"{text!r} is not an email address")
    return email


class UserRegistry:
    def __init__(self, state: ServiceState, orgs: OrgRegistry | None = None, *,
                 lockout_after: int = 5, lockout_seconds: int = 900) -> None:
        self.state = state
        self.orgs = orgs or OrgRegistry(state)
        self.lockout_after, self.lockout_seconds = lockout_after, lockout_seconds
        state.create(_SCHEMA)
        self.lockouts = Lockouts(state, "users", "user_id", lockout_after, lockout_seconds)

    def add(self, email: str, name: str, org: str, role: str, password: str | None = None) -> tuple[User, str]:
        """Register a person; returns the user and their password (``password`` or a new one-time one)."""
        email, name, role = _email(email), display_name(name, "a person's name"), role.strip()
        organisation = self.orgs.find(org)
        if not organisation.active:
            raise LinkageError(f"organisation {organisation.name} is disabled")
        self.orgs.check_role(organisation.org_type, role)
        password = password if password is not None else new_password()
        _check_password(password)
        if self.by_email(email):
            raise Conflict(f"a user with email {email} is already registered")
        user = User("u_" + secrets.token_hex(8), email, name, role, organisation)
        self.state.execute(
            "INSERT INTO users (user_id, email, name, org_id, role, password_hash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (user.user_id, email, name, organisation.org_id, role,
                                              _hasher.hash(password), datetime.now(timezone.utc).isoformat()))
        return user, password

    def provision(self, email: str, name: str, org: str, role: str, *, issuer: str, subject: str,
                  email_verified: bool) -> User:
        """The person an identity provider vouches for, in the organisation and role its claims name.

        Recorded (without a password) on first sign-in and brought up to date after; a change of
        organisation or role ends their other sessions. A disabled person stays disabled. Found by
        the provider's subject, else by a verified email (``provider_sign_in``); a new verified email
        is taken over, an unverified one kept out (the recorded one stays). A person found by email
        but not usable is returned unchanged: a refused sign-in changes nothing.
        """
        role = role.strip()
        issuer, subject = check_subject(issuer, subject)
        organisation = self.orgs.find(org)
        if not organisation.active:
            raise LinkageError(f"organisation {organisation.name} is disabled")
        self.orgs.check_role(organisation.org_type, role)
        user = self.by_subject(issuer, subject)
        if user is not None:
            email = _email(email) if email and email_verified else user.email
        else:
            email = _email(email) if email_verified else email
            user = self._provider_user(issuer, subject, email, email_verified)
            if user is not None and not self.usable(user):
                return user
        try:            # what the provider asserts, less anything a reader could not see
            name = display_name(name[:400], "a person's name", strip=True)[:200]
        except LinkageError:
            name = email
        if user is None:
            user_id = "u_" + secrets.token_hex(8)
            with recording(self.state):     # looked at again: another sign-in may have recorded them since
                if holder := subject_holder(self.state, issuer, subject):
                    raise Conflict("the provider's subject is a registered machine client's" if not
                                   holder.startswith("user:") else "signed in twice at once: sign in again")
                if self.by_email(email) is not None:
                    raise Conflict(f"{email} was recorded by another sign-in at the same moment: sign in again")
                self.state.execute("INSERT INTO users (user_id, email, name, org_id, role, created_at) "
                                   "VALUES (?, ?, ?, ?, ?, ?)", (user_id, email, name, organisation.org_id, role,
                                                                 datetime.now(timezone.utc).isoformat()))
                self._record(user_id, issuer, subject)
        else:
            user_id = user.user_id
            other = self.by_email(email)
            if other is not None and other.user_id != user_id:
                raise Conflict(f"the provider gives {email} to another registered person")
            moved = int(user.org.org_id != organisation.org_id or user.role != role)
            self.state.execute("UPDATE users SET email = ?, name = ?, org_id = ?, role = ?, "
                               "generation = generation + ?, revoked_at = CASE WHEN ? > 0 THEN ? ELSE revoked_at END "
                               "WHERE user_id = ?", (email, name, organisation.org_id, role, moved, moved, time.time(),
                                                     user_id))
        return self.get(user_id)

    def by_subject(self, issuer: str, subject: str) -> User | None:
        """The person the identity provider ``issuer`` names ``subject`` (its ``sub``), if recorded."""
        row = self.state.execute(_SELECT + " JOIN user_subjects s ON s.user_id = u.user_id "
                                 "WHERE s.idp_issuer = ? AND s.idp_subject = ?",
                                 (issuer_name(issuer), subject)).fetchone()
        return _user(row) if row else None

    def subjects(self, user_id: str) -> dict[str, str]:
        """Whom each identity provider (its issuer) knows the person as."""
        return {r[0]: r[1] for r in self.state.execute(
            "SELECT idp_issuer, idp_subject FROM user_subjects WHERE user_id = ? ORDER BY idp_issuer", (user_id,))}

    def provider_sign_in(self, issuer: str, subject: str, email: str, *, email_verified: bool) -> User | None:
        """The registered person a provider's sign-in is, or None: found by the provider's subject,
        which it never gives anyone else, whatever the email claim holds or whether it is verified;
        else by a verified email, once, recording the subject then. An email names nobody the same
        provider knows by another subject (a provider may let a person set their own email, so it
        names whoever claims it), nor anyone whose subject there an operator cleared (``set_subject``)."""
        issuer, subject = check_subject(issuer, subject)
        user = self.by_subject(issuer, subject)         # whatever the email claim holds, even nothing usable
        if user is not None:
            return user
        return self._provider_user(issuer, subject, _email(email) if email and email_verified else email,
                                   email_verified)

    def _provider_user(self, issuer: str, subject: str, email: str, email_verified: bool) -> User | None:
        """A subject the register does not hold: the person its email names, the subject recorded as
        theirs in the same transaction (the one-time email match). Only a verified email, only a usable
        person, only while the person has no subject at ``issuer`` and the match was not closed."""
        if not email_verified:
            raise EmailUnverified(f"the provider has not verified {email or 'the email'}: it names no one")
        user = self.by_email(email) if email else None
        if user is None or not self.usable(user):   # refused: a refused sign-in records nothing (a leaver's
            return user                             # address given to a new starter made the leaver them)
        taken = Conflict(f"{email} is registered to another of the provider's subjects")
        closed = Conflict(f"{email}'s subject at this provider was cleared (`linkage users subject --clear`): "
                          "the email names no one until it is recorded again (`--idp-subject`, or `--clear "
                          "--allow-email-match`)")
        # Looked at and recorded in one transaction, never replacing (as ``set_subject`` does): two
        # first sign-ins at once with the person's address were both the person, and the later
        # subject stayed theirs. The database's one subject per issuer stops any that slip past.
        try:
            with recording(self.state):
                if issuer in self.subjects(user.user_id):
                    raise taken
                if self.email_match_closed(user.user_id, issuer):
                    raise closed
                if holder := subject_holder(self.state, issuer, subject):
                    raise Conflict(f"the provider's subject {subject!r} is already registered ({holder})")
                self._record(user.user_id, issuer, subject)
        except LinkageError:
            raise
        except Exception:
            if issuer in self.subjects(user.user_id):
                raise taken from None
            raise
        return user

    def set_subject(self, ref: str, issuer: str, subject: str | None, *, allow_email_match: bool = False) -> User:
        """Record whom the identity provider ``issuer`` knows a person as (replacing what it was): its
        tokens for them are then known as theirs, whatever else they claim. With ``subject`` None,
        forget it, and close the one-time email match for them there: the next sign-in with their
        address (anyone's who set it as theirs, at a provider that lets them) would otherwise become
        them. ``allow_email_match`` opens it instead: their next sign-in records its subject. Forgetting
        or replacing the subject ends the person's sessions (a token of the old one is refused anyway:
        it names no one now)."""
        user = self.find(ref)
        if subject is None:
            issuer = issuer_name(issuer)
            with recording(self.state):
                if self.state.execute("DELETE FROM user_subjects WHERE user_id = ? AND idp_issuer = ?",
                                      (user.user_id, issuer)).rowcount:
                    self._end_sessions(user.user_id)
                self.state.execute("DELETE FROM email_match_closed WHERE user_id = ? AND idp_issuer = ?",
                                   (user.user_id, issuer))
                if not allow_email_match:
                    self.state.execute("INSERT INTO email_match_closed (user_id, idp_issuer, closed_at) "
                                       "VALUES (?, ?, ?)", (user.user_id, issuer,
                                                            datetime.now(timezone.utc).isoformat()))
            return self.get(user.user_id)
        issuer, subject = check_subject(issuer, subject)
        with recording(self.state):
            holder = subject_holder(self.state, issuer, subject)
            if holder is not None and holder != f"user:{user.user_id}":
                raise Conflict(f"the provider's subject {subject!r} is already registered ({holder})")
            if self.subjects(user.user_id).get(issuer, subject) != subject:
                self._end_sessions(user.user_id)
            self.state.execute("DELETE FROM user_subjects WHERE user_id = ? AND idp_issuer = ?",
                               (user.user_id, issuer))
            self.state.execute("DELETE FROM email_match_closed WHERE user_id = ? AND idp_issuer = ?",
                               (user.user_id, issuer))         # a subject recorded: the match is moot
            self._record(user.user_id, issuer, subject)
        return self.get(user.user_id)

    def _end_sessions(self, user_id: str) -> None:
        """Every session the person holds ends on its next request (``web.session.current_staff``
        compares generations): one begun by a sign-in with a subject no longer theirs (a wrong one
        recorded, an account re-made at the provider) must not outlive it."""
        self.state.execute("UPDATE users SET generation = generation + 1, revoked_at = ? WHERE user_id = ?",
                           (time.time(), user_id))

    def email_match_closed(self, user_id: str, issuer: str) -> bool:
        """Whether the one-time email match is closed for the person at ``issuer`` (``set_subject``)."""
        return self.state.execute("SELECT 1 FROM email_match_closed WHERE user_id = ? AND idp_issuer = ?",
                                  (user_id, issuer_name(issuer))).fetchone() is not None

    def closed_matches(self, user_id: str) -> list[str]:
        """The issuers at which the person's email match is closed."""
        return [r[0] for r in self.state.execute(
            "SELECT idp_issuer FROM email_match_closed WHERE user_id = ? ORDER BY idp_issuer", (user_id,))]

    def _record(self, user_id: str, issuer: str, subject: str) -> None:
        self.state.execute("INSERT INTO user_subjects (idp_issuer, idp_subject, user_id, recorded_at) "
                           "VALUES (?, ?, ?, ?)", (issuer, subject, user_id, datetime.now(timezone.utc).isoformat()))

    def get(self, user_id: str) -> User | None:
        row = self.state.execute(_SELECT + " WHERE u.user_id = ?", (user_id,)).fetchone()
        return _user(row) if row else None

    def by_email(self, email: str) -> User | None:
        row = self.state.execute(_SELECT + " WHERE u.email = ?", (email.strip().lower(),)).fetchone()
        return _user(row) if row else None

    def device_source(self, email: str, device: str) -> str:
        """The source a browser's device token stands for (``access.lockout``), if it is one the
        person with this email was given at a sign-in; else "" (the browser is its network's)."""
        user = self.by_email(email) if device else None
        if user is None:
            return ""
        source = self.lockouts.source(user.user_id, "", device)
        return source if source.startswith("device:") else ""

    def find(self, ref: str) -> User:
        """By user id or email."""
        user = self.get(ref.strip()) or self.by_email(ref)
        if user is None:
            raise NotFound(f"no user with id or email {ref!r}")
        return user

    def list(self) -> list[User]:
        return [_user(r) for r in self.state.execute(_SELECT + " ORDER BY u.created_at")]

    def set_active(self, ref: str, active: bool) -> User:
        """Disabling ends every session of the person at once; enabling does not revive them."""
        user = self.find(ref)
        self.state.execute("UPDATE users SET disabled = ?, generation = generation + ?, failed_logins = 0, "
                           "locked_until = 0, revoked_at = ? WHERE user_id = ?",
                           (int(not active), int(not active), time.time(), user.user_id))
        self.lockouts.forget(user.user_id)
        return self.get(user.user_id)

    def set_password(self, ref: str, password: str | None = None) -> str:
        """A new password (returned); every session under the old one ends."""
        user = self.find(ref)
        password = password if password is not None else new_password()
        _check_password(password)
        self.state.execute("UPDATE users SET password_hash = ?, generation = generation + 1, failed_logins = 0, "
                           "locked_until = 0 WHERE user_id = ?", (_hasher.hash(password), user.user_id))
        self.lockouts.forget(user.user_id)
        return password

    def usable(self, user: User | None) -> bool:
        """Still allowed in: active, and the role still one of the organisation type's roles."""
        return user is not None and user.active and user.role in self.orgs.roles.get(user.org.org_type, ())

    def authenticate(self, email: str, password: str, now: float | None = None, *, network: str = "",
                     device: str = "") -> SignIn:
        """``network``: the caller's network, which lock-outs are kept by (``access.lockout``), unless
        ``device``, the token the browser was given at an earlier sign-in, is the person's: then the
        device's own. A person's password is not 256 random bits, so unlike a client's secret it
        passes no lock-out but its device's."""
        now = time.time() if now is None else now
        row = self.state.execute(_SELECT + " WHERE u.email = ?", (email.strip().lower(),)).fetchone()
        if row is None or not row["password_hash"]:
            _verify(_DUMMY, password)          # the same work either way: no timing oracle for emails
            return self._unknown(email.strip().lower(), row["user_id"] if row else None, network, now)
        user = _user(row)
        source = self.lockouts.source(user.user_id, network, device)
        until, trusted = self.lockouts.until(user.user_id, source, user.locked_until)
        if until > now:
            return SignIn(None, "locked", retry_after=ceil(until - now), user_id=user.user_id)
        if not _verify(row["password_hash"], password):
            failure = self.lockouts.failed(user.user_id, source, trusted, now)
            return SignIn(None, "wrong_password", locked_now=failure.refused, locks=failure.locks,
                          lock_seconds=failure.seconds, retry_after=failure.retry_after, user_id=user.user_id)
        if not self.usable(user):
            return SignIn(None, "inactive", user_id=user.user_id)
        self.lockouts.succeeded(user.user_id, network)
        return SignIn(user, "ok", user_id=user.user_id, device=self.lockouts.trust_device(user.user_id, device, now))


    def _unknown(self, email: str, user_id: str | None, network: str, now: float) -> SignIn:
        """An email with no password here: refused, and counted and locked out as a registered
        person's wrong passwords from a new network are (``Lockouts.unregistered``). Otherwise the
        fifth guess at a registered email said "too many failed attempts" (429) and at any other
        "enter a correct email address and password": a list of the service's staff, five guesses
        an address, for anyone on the internet."""
        subject, wide = self.lockouts.unregistered(email, now)
        until, _ = self.lockouts.until(subject, network, wide)
        if until > now:
            return SignIn(None, "locked", retry_after=ceil(until - now), user_id=user_id)
        failure = self.lockouts.failed(subject, network, False, now)
        return SignIn(None, "unknown", locked_now=failure.refused, locks=failure.locks,
                      lock_seconds=failure.seconds, retry_after=failure.retry_after, user_id=user_id)


def _check_password(password: str) -> None:
    if len(password) < 12 or len(password) > 256:
        raise LinkageError("a password needs 12 to 256 characters")


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SessionRecord:
    id_hash: str
    user_id: str | None           # None: signed out, holding only a CSRF token (and OIDC state)
    generation: int
    csrf: str
    data: dict
    created_at: float
    seen_at: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Server-side web sessions. The cookie holds a random id; the table holds its hash."""

    def __init__(self, state: ServiceState, *, idle_seconds: int, absolute_seconds: int) -> None:
        self.state, self.idle, self.absolute = state, idle_seconds, absolute_seconds
        state.create(_SCHEMA)

    def create(self, user: User | None = None, data: dict | None = None, now: float | None = None
               ) -> tuple[str, SessionRecord]:
        """A new session; returns the cookie value (shown once) and the record."""
        now = time.time() if now is None else now
        session_id = secrets.token_urlsafe(32)
        rec = SessionRecord(_digest(session_id), user.user_id if user else None, user.generation if user else 0,
                            secrets.token_urlsafe(32), data or {}, now, now)
        self.state.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (rec.id_hash, rec.user_id, rec.generation, rec.csrf, json.dumps(rec.data),
                            rec.created_at, rec.seen_at))
        if secrets.randbelow(50) == 0:
            self.purge(now)
        return session_id, rec

    def load(self, session_id: str | None, now: float | None = None) -> SessionRecord | None:
        """The live session behind a cookie, touched; None (and deleted) past the idle or absolute limit."""
        return self.check(session_id, now)[0]

    def check(self, session_id: str | None, now: float | None = None
              ) -> tuple[SessionRecord | None, str | None, str | None]:
        """``(record, None, None)`` for a live session (touched); else ``(None, why, user id)``: why a
        cookie was refused (``idle``, ``too_old``: its session ended now, deleted; ``no_such_session``:
        signed out, ended earlier, or never issued), and the person a session that ended now was for.
        No cookie is ``(None, None, None)``: nothing was refused."""
        if not session_id:
            return None, None, None
        if len(session_id) > 100:
            return None, "no_such_session", None
        now = time.time() if now is None else now
        row = self.state.execute("SELECT * FROM web_sessions WHERE id_hash = ?", (_digest(session_id),)).fetchone()
        if row is None:
            return None, "no_such_session", None
        if now - row["seen_at"] > self.idle or now - row["created_at"] > self.absolute:
            self.state.execute("DELETE FROM web_sessions WHERE id_hash = ?", (row["id_hash"],))
            return None, "too_old" if now - row["created_at"] > self.absolute else "idle", row["user_id"]
        self.state.execute("UPDATE web_sessions SET seen_at = ? WHERE id_hash = ?", (now, row["id_hash"]))
        return SessionRecord(row["id_hash"], row["user_id"], row["generation"], row["csrf"], json.loads(row["data"]),
                             row["created_at"], now), None, None

    def save_data(self, rec: SessionRecord, data: dict) -> None:
        self.state.execute("UPDATE web_sessions SET data = ? WHERE id_hash = ?", (json.dumps(data), rec.id_hash))

    def destroy(self, rec: SessionRecord) -> None:
        self.state.execute("DELETE FROM web_sessions WHERE id_hash = ?", (rec.id_hash,))

    def purge(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.state.execute("DELETE FROM web_sessions WHERE seen_at < ? OR created_at < ?",
                           (now - self.idle, now - self.absolute))
