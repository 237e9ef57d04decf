"""The consent-aware API: FastAPI, OAuth2 client credentials, Cedar policies, audit.

``create_app`` is imported on first use: the supervisor of several workers imports
``linkage.api.workers`` and ``linkage.api.protocol`` only, not the application."""

from linkage.lazyexports import lazy_exports

__all__ = ["create_app"]

__getattr__, __dir__ = lazy_exports(__name__, {"create_app": "app"})
