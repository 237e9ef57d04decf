"""The staff web pages, mounted at ``/app`` inside the API's application.

A sub-application of its own: HTML error pages instead of JSON, a CSP for pages,
and the CSRF check on every unsafe request. It reads the services the API opened.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from linkage.config import TELEMETRY_OFF, Settings
from linkage.errors import Forbidden, LinkageError, NotFound, TooManyRequests
from linkage.service.lookup import NotReady
from linkage.web import oidc
from linkage.web.pages import account, child, cme, dpo, lookup
from linkage.web.pages import quality, quarantine, review
from linkage.web.pages import outcomes as outcome_pages
from linkage.web.render import PREFIX, render
from linkage.web.session import SignInRequired, check_csrf, to_sign_in

__all__ = ["mount_web"]

log = logging.getLogger("linkage.web")
STATIC = Path(__file__).parent / "static"

_ERRORS = {403: ("You cannot see this page", "Your organisation and role do not allow this, for this purpose. "
                 "The attempt has been recorded."),
           404: ("Page not found", "If you typed the web address, check it is correct."),
           422: ("There is a problem with what was sent", "Go back and check what you entered."),
           429: ("Too many requests", "Wait a minute and try again."),
           503: ("Not ready yet", "No records have been linked yet. Try again later.")}


def _error(request: Request, status: int, detail: str = ""):
    title, body = _ERRORS.get(status, ("Sorry, there is a problem with the service", "Try again later."))
    return render(request, "error.html", status, title=title, body=body, detail=detail)


def build_web(parent: FastAPI, settings: Settings) -> FastAPI:
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, dependencies=[Depends(check_csrf)],
                  telemetry=TELEMETRY_OFF)
    web.state.parent, web.state.settings, web.state.web = parent, settings, None

    @web.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired):
        return to_sign_in(request)

    @web.exception_handler(LinkageError)
    async def linkage_error(request: Request, exc: LinkageError):
        status = (403 if isinstance(exc, Forbidden) else 404 if isinstance(exc, NotFound)
                  else 429 if isinstance(exc, TooManyRequests) else 503 if isinstance(exc, NotReady) else 422)
        return _error(request, status, str(exc) if status == 422 else "")

    @web.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(request, exc.status_code)

    @web.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return _error(request, 422)

    @web.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):
        log.exception("page failed: request %s", getattr(request.state, "request_id", ""))
        return _error(request, 500)

    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.include_router(account.router)
    web.include_router(lookup.router)
    web.include_router(child.router)
    web.include_router(cme.router)
    web.include_router(review.router)
    web.include_router(quarantine.router)
    web.include_router(quality.router)
    web.include_router(dpo.router)
    web.include_router(oidc.router)
    web.include_router(outcome_pages.router)
    return web


def mount_web(app: FastAPI, settings: Settings) -> None:
    """Serve the staff pages under ``/app`` (and send ``/app`` itself to ``/app/``)."""
    app.add_api_route(PREFIX, lambda: RedirectResponse(f"{PREFIX}/", 307), include_in_schema=False)
    app.mount(PREFIX, build_web(app, settings))
