"""Lock-outs after wrong secrets or passwords, kept per subject *and caller's network*.

Locking a client or a person out after a few wrong guesses, whoever sent them, lets anyone
who knows a client id or an email address keep its holder out (a denial of service). So the
same run of wrong guesses, from one network (a /24 or /48) or spread over many, locks out that
network and every network the subject has never signed in from, but not those it has: the
holder's own keep working, with their own count. A stranger gets no more guesses than before
(the count is the same and, as before, a success starts it again). This is OWASP's "device
cookie" scheme with the network in place of the cookie.

The network counts live in ``sign_in_sources``; the subject-wide count in its own register's
``failed_logins`` and ``locked_until`` columns (``clients`` or ``users``). Each count is one
statement, so concurrent workers cannot lose one.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.store.state import ServiceState

__all__ = ["Failure", "Lockouts"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sign_in_sources (
  subject TEXT NOT NULL, network TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
  locked_until REAL NOT NULL DEFAULT 0, trusted INTEGER NOT NULL DEFAULT 0, seen_at REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (subject, network));
"""


@dataclass(frozen=True)
class Failure:
    locks: tuple[str, ...]       # the lock-outs this guess started: "network" and/or "everywhere" (every
                                 # network the subject never signed in from)
    refused: bool                # whether one of them now refuses this caller


class Lockouts:
    """``table``/``key``: the register holding the subject-wide count (``clients``/``client_id``)."""

    def __init__(self, state: ServiceState, table: str, key: str, after: int, seconds: int) -> None:
        self.state, self.table, self.key, self.after, self.seconds = state, table, key, after, seconds
        state.create(_SCHEMA)

    def _source(self, subject: str, network: str):
        return self.state.execute("SELECT failures, locked_until, trusted FROM sign_in_sources "
                                  "WHERE subject = ? AND network = ?", (subject, network)).fetchone()

    def until(self, subject: str, network: str, wide_until: float) -> tuple[float, bool]:
        """Until when callers from ``network`` are locked out (0 if not), and whether the subject
        has signed in from it before (then the subject-wide lock-out does not bind it)."""
        source = self._source(subject, network)
        trusted = bool(source and source["trusted"])
        return max(source["locked_until"] if source else 0.0, 0.0 if trusted else wide_until), trusted

    def failed(self, subject: str, network: str, trusted: bool, now: float) -> Failure:
        n, until = self.after, now + self.seconds
        first = n <= 1
        # Networks that never signed in and have been quiet for a lock-out's length are forgotten, so
        # guesses from ever more networks cannot grow the table without bound.
        self.state.execute("DELETE FROM sign_in_sources WHERE subject = ? AND trusted = 0 AND locked_until < ? "
                           "AND seen_at < ? AND network <> ?", (subject, now, now - self.seconds, network))
        failures, = self.state.execute(
            "INSERT INTO sign_in_sources (subject, network, failures, locked_until, trusted, seen_at) "
            "VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (subject, network) DO UPDATE SET "
            "failures = CASE WHEN sign_in_sources.failures + 1 >= ? THEN 0 ELSE sign_in_sources.failures + 1 END, "
            "locked_until = CASE WHEN sign_in_sources.failures + 1 >= ? THEN ? "
            "ELSE sign_in_sources.locked_until END, seen_at = ? RETURNING failures",
            (subject, network, 0 if first else 1, until if first else 0.0, now, n, n, until, now)).fetchone()
        everywhere, = self.state.execute(
            f"UPDATE {self.table} SET failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 "
            "ELSE failed_logins + 1 END, locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END "
            f"WHERE {self.key} = ? RETURNING failed_logins", (n, n, until, subject)).fetchone()
        locks = ("network",) * (failures == 0) + ("everywhere",) * (everywhere == 0)
        return Failure(locks, "network" in locks or ("everywhere" in locks and not trusted))

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
