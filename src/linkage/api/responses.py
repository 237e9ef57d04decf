"""The error responses every resource route may give, declared once so the OpenAPI document
lists every status code the API really sends (checked by schemathesis in tests/security)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["ERRORS", "Error", "problems"]


class Error(BaseModel):
    """One line saying what is wrong; never a submitted value (api/guard.py)."""

    detail: str


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body could not be parsed."),
    401: _error("No bearer token, or an invalid or expired one."),
    403: _error("The sharing policy refuses this caller, purpose or action; the refusal is audited."),
    404: _error("No such resource for your agency."),
    408: _error("The request body did not arrive in time (LINKAGE_BODY_SECONDS)."),
    409: _error("The request clashes with the current state."),
    413: _error("The request body is over the configured limit."),
    429: _error("Too many requests or failed attempts; see Retry-After."),
    503: _error("The service is not ready (no linked data yet)."),
}


def problems(message: str, loc: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    """A LinkageError in the same 422 shape as a request validation error."""
    return [{"loc": list(loc), "msg": message, "type": "value_error"}]
