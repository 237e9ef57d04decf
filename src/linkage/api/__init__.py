"""The consent-aware API: FastAPI, OAuth2 client credentials, Cedar policies, audit."""

from linkage.api.app import create_app

__all__ = ["create_app"]
