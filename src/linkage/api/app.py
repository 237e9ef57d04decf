"""The FastAPI application: one router per resource, services opened in the lifespan."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from linkage import __version__
from linkage.api.routes import audit, children, cme, consents, lookup, oauth
from linkage.api.services import Services
from linkage.config import Settings, get_settings
from linkage.errors import LinkageError

__all__ = ["create_app", "factory"]


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

    @app.middleware("http")
    async def guard(request: Request, call_next):
        request.state.request_id = uuid.uuid4().hex
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return JSONResponse({"detail": f"request body over {settings.max_body_bytes} bytes"}, 413)
        if request.method in ("POST", "PUT", "PATCH") and not length:
            body = await request.body()
            if len(body) > settings.max_body_bytes:
                return JSONResponse({"detail": f"request body over {settings.max_body_bytes} bytes"}, 413)
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # Every problem at once, without echoing the submitted values back.
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                                        for e in exc.errors()]}, 422)

    @app.exception_handler(LinkageError)
    async def linkage_error(request: Request, exc: LinkageError):
        return JSONResponse({"detail": str(exc)}, 400)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict:
        return {"status": "ok"}

    for module in (oauth, lookup, children, cme, consents, audit):
        app.include_router(module.router)
    return app


def factory() -> FastAPI:
    """For ``uvicorn --factory`` with several workers: settings come from the environment."""
    from linkage.config import data_dir

    return create_app(data_dir(), get_settings())
