"""The tamper-evident audit log: hash-chained, MAC'd canonical JSON whose tail is sealed by
Ed25519-signed checkpoints, an index for the DPO's queries, and a witness that keeps
checkpoints outside the service."""

from linkage.audit.log import AuditLog, Finding, canonical_json

__all__ = ["AuditLog", "Finding", "canonical_json"]
