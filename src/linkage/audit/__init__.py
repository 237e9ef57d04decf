"""The tamper-evident audit log: hash-chained, MAC'd canonical JSON whose tail is sealed by
Ed25519-signed checkpoints, an index for the DPO's queries, and a witness that keeps
checkpoints outside the service. Kept in a file, or in PostgreSQL for several servers."""

from __future__ import annotations

from pathlib import Path

from linkage.audit.log import AuditLog, ChainedLog, Finding, canonical_json

__all__ = ["AuditLog", "ChainedLog", "Finding", "canonical_json", "open_audit_log"]


def open_audit_log(home: Path, checkpoint_every: int = 10, signer=None,
                   checkpoint_seconds: float | None = None) -> ChainedLog:
    """The audit log the settings name: in PostgreSQL (``LINKAGE_AUDIT_URL``, or the state's
    PostgreSQL URL), shared by every server; else the file in the data directory."""
    from linkage.config import get_settings

    url = get_settings().audit_database()
    if url:
        from linkage.audit.pg import PostgresAuditLog

        return PostgresAuditLog(home, checkpoint_every, signer, checkpoint_seconds, url=url)
    return AuditLog(home, checkpoint_every, signer, checkpoint_seconds)
