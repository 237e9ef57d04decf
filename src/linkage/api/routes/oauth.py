"""OAuth 2.0 client credentials (RFC 6749 section 4.4) and our public keys."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import JSONResponse

from linkage.errors import TooManyRequests
from linkage.api.deps import ServicesDep
from linkage.service import oauth as flow
from linkage.service.schemas import TokenResponse

router = APIRouter(tags=["oauth"])


def _error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="linkage"'
    return JSONResponse({"error": error, "error_description": description}, status, headers=headers)


@router.post("/oauth/token", response_model=TokenResponse,
             responses={400: {"description": "unsupported grant"}, 401: {"description": "invalid client"},
                        429: {"description": "too many attempts, or locked out: see Retry-After"}})
def token(request: Request, services: ServicesDep,
          grant_type: Annotated[str, Form(min_length=1, max_length=40,
                                          json_schema_extra={"enum": ["client_credentials"]})],
          client_id: Annotated[str | None, Form(max_length=64)] = None,
          client_secret: Annotated[str | None, Form(max_length=128)] = None,
          authorization: Annotated[str | None, Header(max_length=512)] = None):
    """Exchange client credentials (HTTP Basic or form fields) for a short-lived token."""
    if grant_type != "client_credentials":
        return _error(400, "unsupported_grant_type", "only client_credentials is supported")
    if authorization and authorization.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _error(401, "invalid_client", "malformed Basic credentials")
    if not client_id or not client_secret:
        return _error(401, "invalid_client", "client authentication is required")
    try:
        issued = flow.issue_token(services=services, client_id=client_id[:64], secret=client_secret,
                                  address=request.client.host if request.client else "",
                                  request_id=request.state.request_id)
    except flow.InvalidClient as exc:
        request.state.audited = True    # issue_token wrote the security event: one entry per refusal
        return _error(401, "invalid_client", str(exc))
    except TooManyRequests as exc:
        request.state.audited = getattr(exc, "audited", False)
        raise
    return JSONResponse(issued.model_dump(), headers={"Cache-Control": "no-store"})


@router.get("/.well-known/jwks.json")
def jwks(services: ServicesDep) -> dict:
    return services.tokens.public_jwks()
