"""Sharing policies as code: Cedar policies in ``policies/``, parsed once."""

from linkage.policy.engine import Decision, PolicyEngine, Principal, default_policy_dir

__all__ = ["Decision", "PolicyEngine", "Principal", "default_policy_dir"]
