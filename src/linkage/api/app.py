"""The FastAPI application: one router per resource, services opened in the lifespan."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from linkage import __version__
from linkage.api.routes import audit, children, cme, consents, identity, lookup, oauth, quarantine
from linkage.config import Settings, get_settings
from linkage.errors import Conflict, Forbidden, LinkageError, NotFound, TooManyRequests
from linkage.service import Services
from linkage.service.lookup import NotReady

__all__ = ["create_app", "factory"]


# What each of linkage's own errors means over HTTP; any other LinkageError is the caller's input.
_STATUS = ((NotFound, 404), (Forbidden, 403), (Conflict, 409), (NotReady, 503))

_SECURITY_HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]


class RequestGuard:
    """Give each request an id, refuse oversized bodies, and add security headers.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
    wraps every response in a stream and costs a noticeable share of each request.
    """

    def __init__(self, app, max_body_bytes: int) -> None:
        self.app, self.max = app, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [(b"x-request-id", request_id.encode()), *_SECURITY_HEADERS]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [(n, v) for n, v in extra if n not in present]
            await send(message)

        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max):
            return await self._too_large(scope, receive, send_with_headers)
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            # Chunked: read it all (up to the limit) before the app sees any of it.
            body, more = b"", True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max:
                    return await self._too_large(scope, receive, send_with_headers)
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await self.app(scope, replay, send_with_headers)
        await self.app(scope, receive, send_with_headers)

    async def _too_large(self, scope, receive, send):
        await JSONResponse({"detail": f"request body over {self.max} bytes"}, 413)(scope, receive, send)


def create_app(home: Path, settings: Settings | None = None, policy_dir: Path | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = Services.open(Path(home), settings, policy_dir)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(title="linkage", version=__version__, lifespan=lifespan,
                  description="Joined views of children's records across agencies, cut to what each "
                              "agency, role and purpose may see, with every access audited.")

    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # Every problem at once, without echoing the submitted values back.
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                                        for e in exc.errors()]}, 422)

    @app.exception_handler(LinkageError)
    async def linkage_error(request: Request, exc: LinkageError):
        if isinstance(exc, TooManyRequests):
            return JSONResponse({"detail": str(exc)}, 429, headers={"Retry-After": str(exc.retry_after)})
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 422)
        return JSONResponse({"detail": str(exc)}, status)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict:
        return {"status": "ok"}

    for module in (oauth, lookup, children, cme, consents, audit, quarantine, identity):
        app.include_router(module.router)
    from linkage.web import mount_web      # the staff pages, at /app

    mount_web(app, settings)
    return app


def factory() -> FastAPI:
    """For ``uvicorn --factory`` with several workers: settings come from the environment."""
    from linkage.config import data_dir

    return create_app(data_dir(), get_settings())
