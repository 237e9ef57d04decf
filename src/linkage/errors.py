"""One exception base, so callers can catch everything linkage raises in one place."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LinkageError", "ValidationFailed", "Problem", "ConfigError", "StoreError",
           "NotFound", "Forbidden", "TooManyRequests", "Conflict"]


class LinkageError(Exception):
    """Base of every error linkage raises on purpose."""


class ConfigError(LinkageError):
    """Settings or a mapping file are wrong."""


class StoreError(LinkageError):
    """The data directory or database cannot be used."""


class NotFound(LinkageError):
    """The thing asked for does not exist, or the caller may not know it exists: HTTP 404."""


class Forbidden(LinkageError):
    """The policy refused; the refusal is already audited when this is raised: HTTP 403."""


class Conflict(LinkageError):
    """The request clashes with the current state (already decided, already exists): HTTP 409."""


class TooManyRequests(LinkageError):
    """A rate limit or lock-out: HTTP 429 with Retry-After."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


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
