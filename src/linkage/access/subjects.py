"""Whom an identity provider's token stands for: its issuer and subject, which OpenID Connect
(Core 5.7) makes the one stable name of a person or client there, never given to anyone else.
An email, a username or any claim the person may change is not one. The register records the pair
on each person (``access.users``) and machine client (``access.clients``) it trusts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from linkage.errors import LinkageError
from linkage.store.state import ServiceState

__all__ = ["check_subject", "issuer_name", "recording", "subject_holder"]

_LOCK = 0x6C6B5342      # pg_advisory_xact_lock key: recording a provider's subject, one at a time


@contextmanager
def recording(state: ServiceState) -> Iterator[None]:
    """A transaction in which a subject is looked for (``subject_holder``) and recorded, one at a time
    across processes: a person's and a machine client's are in two tables, and the keys of each cannot
    stop one subject being both (a person's ``linkage users subject`` and a client's ``clients add``
    at once did, 25 rounds in 100). SQLite's writing transaction is one at a time already."""
    with state.transaction():
        if state.dialect.name == "postgresql":
            state.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK,))
        yield


def issuer_name(issuer: str) -> str:
    """An issuer as kept and compared: without a trailing slash (providers and settings differ)."""
    return issuer.strip().rstrip("/")


def subject_holder(state: ServiceState, issuer: str, subject: str) -> str | None:
    """The registered person (``user:ID``) or machine client (its id) the provider's subject is, if any."""
    issuer = issuer_name(issuer)
    row = state.execute("SELECT user_id FROM user_subjects WHERE idp_issuer = ? AND idp_subject = ?",
                        (issuer, subject)).fetchone()
    if row:
        return f"user:{row[0]}"
    row = state.execute("SELECT client_id FROM clients WHERE idp_issuer = ? AND idp_subject = ?",
                        (issuer, subject)).fetchone()
    return row[0] if row else None


def check_subject(issuer: str, subject: str) -> tuple[str, str]:
    """An issuer and subject fit to record (OIDC Core 2: ``sub`` is at most 255 ASCII characters).
    The subject is compared exactly, never stripped: a token's ``"sw-42 "`` or ``"sw-42\\u00a0"`` was
    taken for the client registered as ``sw-42`` (the commands strip what an operator pastes)."""
    issuer = issuer_name(issuer)
    if not issuer or not subject or len(subject) > 255 or len(issuer) > 500 or not subject.isprintable() \
            or not issuer.isprintable() or subject != subject.strip():
        raise LinkageError("an identity provider's issuer and subject must be printable, the subject at most 255 "
                           "characters, not beginning or ending with a space")
    return issuer, subject

