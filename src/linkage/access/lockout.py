"""Lock-outs after wrong secrets or passwords, kept per subject *and caller's network*.

Locking a client or a person out after a few wrong guesses, whoever sent them, lets anyone
who knows a client id or an email address keep its holder out (a denial of service). So the
same run of wrong guesses, from one network (a /24 or /48) or spread over many, locks out that
network and every network the subject has never signed in from, but not those it has: the
holder's own keep working, with their own count. A stranger gets no more guesses than before
(the count is the same and, as before, a success starts it again). This is OWASP's "device
cookie" scheme with the network in place of the cookie.

A network is not a device, though: a stranger on the holder's own network (one NAT, one cloud
/24) shares its count, and a holder on a network it has never used (a new site) is bound by the
lock-out of every new one. So a browser that signed a person in is given a device token (a
random value; only its SHA-256 is kept, as a source ``device:<sha256>``): with it, the person's
attempts are that device's alone, bound by no network's lock-out and counted apart, as OWASP's
device cookies are. A stranger without it gains nothing, and one who steals it gets that
device's own few guesses. (API clients need none: their secrets are 256 random bits, which no
number of guesses finds, so a right secret passes their lock-outs: ``access.clients``.)

A lock-out grows with each run of wrong guesses in a row: the k-th run since the subject last
proved itself (from that network or device; subject-wide, from anywhere) locks for ``seconds``
times 2**(k-1), up to a day (``MAX_SECONDS``), as Microsoft Entra's smart lock-out and Keycloak's
wait increment do. Before, every run started the same 15 minutes again: 480 guesses a day at one
person's password. Now after the first day a guesser gets one run a day, and the holder loses
nothing the stranger could not already take: its own networks and devices keep their own counts
(and an API client's right secret passes any lock-out). So a count is not reset when it locks:
it runs on until a success (or a new secret or password) sets it to 0, and locks at every
multiple of ``after``.

The network counts live in ``sign_in_sources``; the subject-wide count in its own register's
``failed_logins`` and ``locked_until`` columns (``clients`` or ``users``). Each count is one
statement, so concurrent workers cannot lose one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from linkage.store.state import ServiceState

__all__ = ["DEVICE_DAYS", "MAX_SECONDS", "UNREGISTERED", "Failure", "Lockouts"]

DEVICE_DAYS = 180        # a device token is trusted this long after the sign-in that gave it
MAX_SECONDS = 86_400     # the longest a lock-out grows to
UNREGISTERED = "unregistered:"      # the subject of attempts naming no one (``Lockouts.unregistered``)
FORGET_UNREGISTERED = 8 * MAX_SECONDS


def _device(token: str) -> str:
    return "device:" + hashlib.sha256(token.encode()).hexdigest()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sign_in_sources (
  subject TEXT NOT NULL, network TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
  locked_until REAL NOT NULL DEFAULT 0, trusted INTEGER NOT NULL DEFAULT 0, seen_at REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (subject, network));
"""


@dataclass(frozen=True)
class Failure:
    locks: tuple[str, ...]       # the lock-outs this guess started: "network" (or "device") and/or
                                 # "everywhere" (every network the subject never signed in from)
    refused: bool                # whether one of them now refuses this caller
    seconds: tuple[int, ...] = ()   # each one's length, beside ``locks``
    retry_after: int = 0         # the longest of those that refuse this caller


class Lockouts:
    """``table``/``key``: the register holding the subject-wide count (``clients``/``client_id``)."""

    def __init__(self, state: ServiceState, table: str, key: str, after: int, seconds: int) -> None:
        self.state, self.table, self.key, self.after, self.seconds = state, table, key, after, seconds
        self.lengths = [seconds]            # the k-th run's lock-out, k = 1, 2, ... (the last one after)
        while self.lengths[-1] < MAX_SECONDS:
            self.lengths.append(min(self.lengths[-1] * 2, MAX_SECONDS))
        state.create(_SCHEMA)

    def length(self, count: int) -> int:
        """The lock-out a count of wrong guesses in a row starts (a multiple of ``after``)."""
        return self.lengths[min(count // self.after, len(self.lengths)) - 1]

    def _locks_at(self, count: str, now: float) -> tuple[str, list]:
        """SQL for when a lock-out started as ``count`` reaches a multiple of ``after`` ends."""
        steps = " ".join("WHEN ? THEN ?" for _ in self.lengths[:-1])
        params = [v for k, length in enumerate(self.lengths[:-1], 1) for v in (k, now + length)]
        return f"CASE {count} / ? {steps} ELSE ? END", [self.after, *params, now + self.lengths[-1]]

    def _source(self, subject: str, network: str):
        return self.state.execute("SELECT failures, locked_until, trusted FROM sign_in_sources "
                                  "WHERE subject = ? AND network = ?", (subject, network)).fetchone()

    def source(self, subject: str, network: str, device: str = "") -> str:
        """Whom an attempt's count and lock-out are kept by: the device token the subject was given
        (``trust_device``) when it presents one, else its network."""
        if device and len(device) <= 100:
            key = _device(device)
            found = self._source(subject, key)
            if found and found["trusted"]:
                return key
        return network

    def trust_device(self, subject: str, presented: str, now: float) -> str:
        """A new device token for a browser that just proved the subject's password (the one it
        presented, if any, ends: a token planted in a browser is never trusted); returned once."""
        token = secrets.token_urlsafe(32)
        with self.state.transaction():
            self.state.execute("DELETE FROM sign_in_sources WHERE subject = ? AND network LIKE 'device:%' "
                               "AND (network = ? OR seen_at < ?)",
                               (subject, _device(presented) if presented else "", now - DEVICE_DAYS * 86_400))
            self.state.execute("INSERT INTO sign_in_sources (subject, network, failures, locked_until, trusted, "
                               "seen_at) VALUES (?, ?, 0, 0, 1, ?)", (subject, _device(token), now))
        return token

    def until(self, subject: str, network: str, wide_until: float) -> tuple[float, bool]:
        """Until when callers from ``network`` are locked out (0 if not), and whether the subject
        has signed in from it before (then the subject-wide lock-out does not bind it)."""
        source = self._source(subject, network)
        trusted = bool(source and source["trusted"])
        return max(source["locked_until"] if source else 0.0, 0.0 if trusted else wide_until), trusted

    def failed(self, subject: str, network: str, trusted: bool, now: float) -> Failure:
        n = self.after
        # Networks that never signed in and have been quiet for a lock-out's length are forgotten, so
        # guesses from ever more networks cannot grow the table without bound (the subject-wide
        # count, which binds them all, goes on growing).
        self.state.execute("DELETE FROM sign_in_sources WHERE subject = ? AND trusted = 0 AND locked_until < ? "
                           "AND seen_at < ? AND network <> ? AND network <> '*'",
                           (subject, now, now - self.seconds, network))
        failures = self._count(subject, network, now)
        if subject.startswith(UNREGISTERED):
            # No register row: the subject-wide count is kept as the network ``*`` (``unregistered``).
            everywhere = self._count(subject, "*", now)
        else:
            wide, wide_params = self._locks_at("(failed_logins + 1)", now)
            everywhere, = self.state.execute(
                f"UPDATE {self.table} SET failed_logins = failed_logins + 1, locked_until = CASE WHEN "
                f"(failed_logins + 1) % ? = 0 THEN {wide} ELSE locked_until END "
                f"WHERE {self.key} = ? RETURNING failed_logins", (n, *wide_params, subject)).fetchone()
        own = "device" if network.startswith("device:") else "network"
        started = [(own, failures)] * (failures % n == 0) + [("everywhere", everywhere)] * (everywhere % n == 0)
        refusing = [self.length(c) for scope, c in started if scope == own or not trusted]
        return Failure(tuple(scope for scope, _ in started), bool(refusing),
                       tuple(self.length(c) for _, c in started), max(refusing, default=0))

    def _count(self, subject: str, network: str, now: float) -> int:
        """One more failure of ``subject`` from ``network`` (a row of ``sign_in_sources``), locked out
        at every ``after``-th: the count after it."""
        n = self.after
        mine, mine_params = self._locks_at("(sign_in_sources.failures + 1)", now)
        failures, = self.state.execute(
            "INSERT INTO sign_in_sources (subject, network, failures, locked_until, trusted, seen_at) "
            "VALUES (?, ?, 1, ?, 0, ?) ON CONFLICT (subject, network) DO UPDATE SET "
            "failures = sign_in_sources.failures + 1, "
            f"locked_until = CASE WHEN (sign_in_sources.failures + 1) % ? = 0 THEN {mine} "
            "ELSE sign_in_sources.locked_until END, seen_at = ? RETURNING failures",
            (subject, network, now + self.lengths[0] if n <= 1 else 0.0, now, n, *mine_params, now)).fetchone()
        return failures

    def unregistered(self, name: str, now: float) -> tuple[str, float]:
        """An attempt naming no registered subject (an email no one holds): the subject its count is
        kept by, and its subject-wide lock-out's end. Counted and locked out exactly as a registered
        subject's attempts from a network it never signed in from (``until``, ``failed``), so the
        answers (429 and "too many failed attempts" at the fifth) cannot tell a registered email from
        any other (OWASP: no account enumeration). Such counts quiet for ``FORGET_UNREGISTERED``
        seconds are forgotten, so guessing ever more emails cannot grow the table without bound."""
        subject = UNREGISTERED + hashlib.sha256(name.encode()).hexdigest()
        # A range of the key (every subject starting ``unregistered:``), which its index serves.
        self.state.execute("DELETE FROM sign_in_sources WHERE subject >= ? AND subject < ? AND locked_until < ? "
                           "AND seen_at < ?", (UNREGISTERED, UNREGISTERED[:-1] + ";", now, now - FORGET_UNREGISTERED))
        wide = self._source(subject, "*")
        return subject, (wide["locked_until"] if wide else 0.0)

    def succeeded(self, subject: str, network: str) -> None:
        """The subject proved itself from ``network``: its counts start again, and that network is trusted."""
        self.state.execute(f"UPDATE {self.table} SET failed_logins = 0 WHERE {self.key} = ? AND failed_logins > 0",
                           (subject,))
        source = self._source(subject, network)
        if not (source and source["trusted"]) or source["failures"]:
            self.state.execute(
                "INSERT INTO sign_in_sources (subject, network, failures, locked_until, trusted) "
                "VALUES (?, ?, 0, 0, 1) ON CONFLICT (subject, network) DO UPDATE SET failures = 0, trusted = 1",
                (subject, network))

    def networks(self, subject: str) -> int:
        """How many networks are remembered for the subject (signed in from, or guessing lately)."""
        return int(self.state.scalar("SELECT count(*) FROM sign_in_sources WHERE subject = ?", (subject,)))

    def forget(self, subject: str) -> None:
        """A new secret or password: every lock-out ends, and no network has proved the new one yet."""
        self.state.execute("DELETE FROM sign_in_sources WHERE subject = ?", (subject,))
