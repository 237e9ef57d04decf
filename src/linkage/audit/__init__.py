"""The tamper-evident audit log: hash-chained canonical JSON, Ed25519-signed checkpoints."""

from linkage.audit.log import AuditLog, Finding, canonical_json

__all__ = ["AuditLog", "Finding", "canonical_json"]
