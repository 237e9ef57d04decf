"""Whom an identity provider's token stands for: its issuer and subject, which OpenID Connect
(Core 5.7) makes the one stable name of a person or client there, never given to anyone else.
An email, a username or any claim the person may change is not one. The register records the pair
on each person (``access.users``) and machine client (``access.clients``) it trusts."""

from __future__ import annotations

from linkage.errors import LinkageError
from linkage.store.state import ServiceState

__all__ = ["check_subject", "issuer_name", "subject_holder"]


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
    """An issuer and subject fit to record (OIDC Core 2: ``sub`` is at most 255 ASCII characters)."""
    issuer, subject = issuer_name(issuer), subject.strip()
    if not issuer or not subject or len(subject) > 255 or len(issuer) > 500 or not subject.isprintable() \
            or not issuer.isprintable():
        raise LinkageError("an identity provider's issuer and subject must be printable, the subject at most 255 "
                           "characters")
    return issuer, subject

