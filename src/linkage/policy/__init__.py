"""Sharing policies as code: Cedar policies in ``policies/``, parsed once."""

from linkage.policy.engine import Decision, PolicyEngine, Principal, default_policy_dir
from linkage.policy.roles import roles

__all__ = ["Decision", "PolicyEngine", "Principal", "default_policy_dir", "roles"]
