"""One exception base, so callers can catch everything linkage raises in one place."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LinkageError", "ValidationFailed", "Problem", "ConfigError", "StoreError"]


class LinkageError(Exception):
    """Base of every error linkage raises on purpose."""


class ConfigError(LinkageError):
    """Settings or a mapping file are wrong."""


class StoreError(LinkageError):
    """The data directory or database cannot be used."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field: gathered, never raised one at a time."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class ValidationFailed(LinkageError):
    """Several problems reported together, so the user fixes them in one pass."""

    def __init__(self, problems: list[Problem], context: str = "") -> None:
        self.problems = list(problems)
        self.context = context
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{context}: {lines}" if context else lines)
