"""The FastAPI application: one router per resource, services opened in the lifespan."""

from __future__ import annotations

import logging
import os
import re
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from linkage import __version__
from linkage.api.docs import mount_docs
from linkage.api.guard import RequestGuard, published_words
from linkage.api.hotpath import HotRoutes
from linkage.api.responses import ERRORS, problems
from linkage.api.routes import (audit, children, cme, consents, identity, lookup, oauth, outcomes, quarantine,
                                review)
from linkage.api.sighup import hold_sighup
from linkage.config import TELEMETRY_OFF, Settings, get_settings
from linkage.errors import Conflict, Forbidden, LinkageError, NotFound, TooManyRequests
from linkage.safetext import visible
from linkage.service import Services
from linkage.service.dpo import warm as warm_dpo
from linkage.service.lookup import NotReady
from linkage.service.switch import SnapshotWatcher
from linkage.store.db import DB_FILE, failure_line

__all__ = ["OneLineStartFailure", "create_app", "factory", "hold_sighup", "start_failure"]


# What each of linkage's own errors means over HTTP; any other LinkageError is the caller's input.
_STATUS = ((NotFound, 404), (Forbidden, 403), (Conflict, 409), (NotReady, 503))


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the OpenAPI document gives for ``path``."""
    return sorted({method.upper() for template, ops in app.openapi()["paths"].items()
                   if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) for method in ops})


def _warm(services: Services) -> None:
    """The DPO pages' counts and patterns, made once beside start-up (see ``service.dpo.warm``).
    Over a busy audit window this is tens of CPU-seconds; at the lowest priority (this thread
    only, Linux) it takes what requests leave rather than sharing the cores with them."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):        # not Linux: it runs at the server's priority
        pass
    try:
        warm_dpo(services)
    except Exception:           # the first visit then counts for itself
        logging.getLogger("linkage.service").exception("warming the DPO pages' counts failed")


def create_app(home: Path, settings: Settings | None = None, policy_dir: Path | None = None, *,
               services: Services | None = None) -> FastAPI:
    """``services``: opened already (``linkage serve``, so that a failure is its one-line error
    before uvicorn starts); the app closes them at shutdown. Otherwise opened in the lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.snapshots = None
        # SIGHUP from here on is kept, not fatal: one arriving while the data loads (the loop is
        # busy) is handled once the watcher below runs.
        _on_sighup(lambda: app.state.snapshots and app.state.snapshots.wake())
        app.state.services = services or _opened(Path(home), settings, policy_dir)
        # The OpenAPI document, built before the first connection is taken: the first error response
        # (what it may echo, ``published_words``) and every 405 read it. Built then, it was a worker's
        # first refusal that paid for it, about 0.9 CPU s; on a loaded machine, seconds of waiting.
        app.openapi()
        threading.Thread(target=_warm, args=(app.state.services,), name="dpo-warm", daemon=True).start()
        # A newly published snapshot is loaded beside the served one and swapped in.
        watcher = SnapshotWatcher(Path(home), lambda: app.state.services,
                                  lambda new: setattr(app.state, "services", new),
                                  settings.snapshot_poll_seconds, settings.snapshot_grace_seconds)
        app.state.snapshots = watcher
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()
            app.state.services.close()

    # /docs is served from vendored, pinned assets (api/docs.py), never from a CDN.
    app = FastAPI(title="linkage", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry=TELEMETRY_OFF,
                  description="Joined views of children's records across agencies, cut to what each "
                              "agency, role and purpose may see, with every access audited.")

    # Inside the guard: the well-formed hot requests skip the framework (api/hotpath.py).
    app.add_middleware(HotRoutes)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes, body_seconds=settings.body_seconds,
                       hsts=settings.behind_tls,
                       published=lambda: published_words(app.openapi()))
    app.add_middleware(OneLineStartFailure)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # Every problem at once, without echoing the submitted values back.
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                                        for e in exc.errors()]}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route matching the path; list every method it has.
            headers["Allow"] = ", ".join(_allowed_methods(app, request.scope["path"]))
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)

    @app.exception_handler(LinkageError)
    async def linkage_error(request: Request, exc: LinkageError):
        if isinstance(exc, TooManyRequests):
            return JSONResponse({"detail": str(exc)}, 429, headers={"Retry-After": str(exc.retry_after)})
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 422)
        if status == 422:   # the caller's input: the same shape as a request validation error
            found = getattr(exc, "problems", None)
            detail = ([p for problem in found for p in problems(problem.reason, ("body", problem.field))]
                      if found else problems(str(exc)))
            return JSONResponse({"detail": detail}, 422)
        return JSONResponse({"detail": str(exc)}, status)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict:
        """Live: the process answers."""
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """Nothing, on purpose: every browser asks for it on its own, and a 404 here would put each
        staff member's network among the DPO's unknown-path events (api/refusals.py)."""
        return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})

    @app.get("/readyz", tags=["service"])
    def readyz() -> JSONResponse:
        """Ready: data loaded, service state and audit log reachable. Names the link run and
        snapshot served (what a deployment checks after publishing), nothing else."""
        services, watcher = app.state.services, app.state.snapshots
        try:
            services.state.reachable()
        except Exception:
            return JSONResponse({"status": "not ready", "reason": "service state unreachable"}, 503)
        try:
            services.audit.head()
        except Exception:
            return JSONResponse({"status": "not ready", "reason": "audit log unreachable"}, 503)
        return JSONResponse({"status": "ready", "run_id": services.run_id, "snapshot": services.snapshot,
                             "switching_to": watcher.loading, "refused": watcher.refused})

    app.include_router(oauth.router)
    for module in (lookup, children, cme, consents, audit, quarantine, identity, review, outcomes):
        app.include_router(module.router, responses=ERRORS)
    mount_docs(app)
    from linkage.web import mount_web      # the staff pages, at /app

    mount_web(app, settings)
    return app


_refused: list[str] = []       # why this process's app could not start, as said to the user


def _opened(home: Path, settings: Settings, policy_dir: Path | None) -> Services:
    """The services; a failure the user can mend (a lost key, a corrupt file, another process
    writing) is kept as its one line for ``OneLineStartFailure`` and ``start_failure``."""
    try:
        return Services.open(home, settings, policy_dir)
    except Exception as exc:
        line = failure_line(exc, home / DB_FILE)
        if line is not None:
            _refused.append(f"cannot start: {visible(line)}")
        raise


def start_failure() -> str | None:
    """The one line saying why this process's app could not start (None: it did, or a fault)."""
    return _refused[-1] if _refused else None


class OneLineStartFailure:
    """Uvicorn logs the message Starlette sends when the lifespan fails, and Starlette makes it the
    traceback: pages of frames for a lost key or a corrupt file. For a failure ``_opened`` kept,
    the message is its one line instead (a fault in linkage keeps its traceback)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        seen = len(_refused)

        async def said(message):
            if message["type"] == "lifespan.startup.failed" and len(_refused) > seen:
                message = {**message, "message": _refused[-1]}
            await send(message)

        await self.app(scope, receive, said)


def _on_sighup(wake) -> None:
    """SIGHUP: look for a new snapshot now (where the platform and event loop allow it). One
    held back while the process started (``hold_sighup``) arrives now."""
    import asyncio
    import signal

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, wake)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    except (AttributeError, NotImplementedError, RuntimeError, ValueError):
        pass


def factory() -> FastAPI:
    """For ``uvicorn --factory`` with several workers: settings come from the environment."""
    from linkage.config import data_dir
    from linkage.files import private_umask

    private_umask()
    hold_sighup()
    return create_app(data_dir(), get_settings())
