"""Who is signed in: the session cookie, the CSRF check on every form, and each request's ``Ctx``.

Every page request re-reads the session, the user and their organisation, so a
disabled person or organisation, a new password, or a role no longer allowed ends
the session on the very next request, in every worker.
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from linkage.access.lockout import DEVICE_DAYS
from linkage.access.ratelimit import RateLimiter
from linkage.access.users import SessionRecord, SessionStore, User, UserRegistry
from linkage.access.allowance import take_budget
from linkage.config import Settings
from linkage.errors import Forbidden, LinkageError
from linkage.policy import Principal
from linkage.service import Ctx, Services
from linkage.service.oauth import network
from linkage.web.render import PREFIX

__all__ = ["CsrfRefused", "SignInRequired", "Staff", "StaffDep", "WebState", "caller_address", "check_csrf",
           "end_session",
           "security_event", "served", "set_cookie", "set_device_cookie", "start_session", "to_sign_in", "web_state"]

log = logging.getLogger("linkage.security")


class SignInRequired(LinkageError):
    """No live session: the page answers with the sign-in page."""


class CsrfRefused(Forbidden):
    """A form came without this session's token."""


@dataclass
class WebState:
    """What the pages hold beside the API's services, made once on the first page request."""

    api: Any                      # the API application's state: ``services`` is swapped there with each snapshot
    users: UserRegistry
    sessions: SessionStore
    signin_limits: tuple[RateLimiter, RateLimiter]     # per email, per address
    cookie: str
    secure: bool

    @property
    def services(self) -> Services:
        return self.api.services

    @property
    def device_cookie(self) -> str:
        """The browser's device token (``access.lockout``): its sign-ins are its own, not its network's."""
        return "__Host-linkage-device" if self.secure else "linkage_device"

    @classmethod
    def create(cls, api: Any, settings: Settings) -> WebState:
        services = api.services
        users = UserRegistry(services.state, services.clients.orgs, lockout_after=settings.lockout_after_failures,
                             lockout_seconds=settings.lockout_seconds)
        sessions = SessionStore(services.state, idle_seconds=settings.web_idle_seconds,
                                absolute_seconds=settings.web_absolute_seconds)
        limits = (RateLimiter(settings.web_signin_per_minute, settings.web_signin_burst, "sign-in attempts"),
                  RateLimiter(settings.web_signin_address_per_minute, settings.web_signin_address_burst,
                              "sign-in attempts"))
        secure = settings.web_cookie_secure
        # __Host-: the browser keeps it to this host, over https, for the whole site.
        return cls(api, users, sessions, limits, "__Host-linkage" if secure else "linkage_session", secure)


_creating = threading.Lock()


def web_state(request: Request) -> WebState:
    web = request.app.state
    if web.web is None:
        with _creating:
            if web.web is None:
                web.web = WebState.create(web.parent.state, web.settings)
    return web.web


@dataclass(frozen=True)
class Staff:
    """The signed-in person, as read from the register on this request."""

    user: User
    session: SessionRecord
    services: Services
    request_id: str

    def ctx(self, purpose: str | None) -> Ctx:
        """The service layer's context: the person's organisation and role, and the person themselves."""
        return Ctx(self.services, self.user.principal(), purpose, self.request_id, person=self.user.email)


def served(request: Request) -> Services:
    """The data this request runs on: the object the guard pinned when it started (a snapshot
    published meanwhile is for later requests, and one retired is closed only once no request
    holds it); the served one when nothing was pinned."""
    return getattr(request.state, "services", None) or web_state(request).services


def caller_address(request: Request) -> str:
    """The caller's address (a configured proxy's X-Forwarded-For, else the connection's)."""
    return request.client.host if request.client else "unknown"


def security_event(request: Request, action: str, user: User | None = None, **extra) -> None:
    """A ``security.*`` audit entry and log line: who (if known), from which network, never a password."""
    where = network(caller_address(request))
    log.warning("%s user=%s from=%s %s", action, user.user_id if user else None, where,
                " ".join(f"{k}={v!r}" for k, v in extra.items()))
    caller = user.principal() if user else Principal("user:unknown", "", "", "")
    # "refused", as every security event is: the DPO finds them all under one decision.
    Ctx(served(request), caller, None, request.state.request_id, person=user.email if user else None).record(
        action, "refused", remote=where, **extra)
    request.state.audited = True        # this is the request's refusal entry: the guard adds no second one


def _session(request: Request) -> SessionRecord | None:
    """The live session the request's cookie names. A cookie that opens nothing is the pages' bad token
    (a session replayed after sign-out, one that ended idle or too old, one never issued): the API's
    401s were security events, these left no trace. A signed-out session that ended is not one."""
    web = web_state(request)
    rec, why, user_id = web.sessions.check(request.cookies.get(web.cookie))
    if why is not None and (user_id is not None or why == "no_such_session"):
        _budgeted_event(request, "security.session_refused", web.users.get(user_id) if user_id else None,
                        reason=why)
    return rec


def _budgeted_event(request: Request, action: str, user: User | None, **extra) -> None:
    """A security event once a request, within the API's allowance a second (events anyone can cause
    without signing in), with the count of those left out."""
    if getattr(request.state, "session_refused", False):
        return
    request.state.session_refused = True
    dropped = take_budget(request.app.state.parent)
    if dropped is None:
        return
    security_event(request, action, user, **extra, **({"not_recorded_before": dropped} if dropped else {}))


def current_staff(request: Request) -> Staff:
    web = web_state(request)
    rec = _session(request)
    if rec is None or rec.user_id is None:
        raise SignInRequired("sign in to continue")
    user = web.users.get(rec.user_id)
    if not web.users.usable(user) or user.generation != rec.generation:
        web.sessions.destroy(rec)
        security_event(request, "security.session_ended", user, reason="user or organisation no longer active")
        raise SignInRequired("your account is no longer active")
    request.state.csrf = rec.csrf
    staff = Staff(user, rec, served(request), request.state.request_id)
    request.state.staff = staff
    return staff


StaffDep = Annotated[Staff, Depends(current_staff)]


async def check_csrf(request: Request) -> None:
    """Every unsafe request must carry its session's token (the synchroniser-token pattern).

    Applied to the whole web application, so no page can forget it. With no session
    at all there is nothing to forge: the person is asked to sign in.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    # The register's reads and any security event's fsync'd append run off the event loop.
    rec = await anyio.to_thread.run_sync(_session, request)
    if rec is None:
        # A form with no session at all: posted from another site (the strict cookie stays behind: login
        # CSRF, a forced sign-out) or by a script. Refused before; now on the record too (session 28).
        await anyio.to_thread.run_sync(partial(_budgeted_event, request, "security.csrf_refused", None,
                                               path=request.url.path, reason="no_session"))
        raise SignInRequired("your session has ended: sign in again")
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), rec.csrf.encode()):
        user = web_state(request).users.get(rec.user_id) if rec.user_id else None
        await anyio.to_thread.run_sync(partial(security_event, request, "security.csrf_refused", user,
                                               path=request.url.path))
        raise CsrfRefused("this form has expired or did not come from this service")
    request.state.csrf = rec.csrf


def start_session(request: Request, user: User | None, data: dict | None = None) -> str:
    """A fresh session, its id returned for ``set_cookie``. Any session the browser held before is
    destroyed, so no id known before sign-in survives it (session fixation)."""
    web = web_state(request)
    if (old := _session(request)) is not None:
        web.sessions.destroy(old)
    session_id, rec = web.sessions.create(user, data)
    request.state.csrf = rec.csrf
    return session_id


def set_cookie(request: Request, response: Response, session_id: str | None) -> Response:
    """Set (or, with None, clear) the session cookie on ``response``."""
    web = web_state(request)
    if session_id is None:
        response.delete_cookie(web.cookie, httponly=True, secure=web.secure, samesite="strict", path="/")
    else:
        response.set_cookie(web.cookie, session_id, httponly=True, secure=web.secure, samesite="strict", path="/")
    return response


def set_device_cookie(request: Request, response: Response, token: str) -> Response:
    """Give the browser the device token a sign-in just earned, for as long as it is trusted."""
    web = web_state(request)
    response.set_cookie(web.device_cookie, token, max_age=DEVICE_DAYS * 86_400, httponly=True, secure=web.secure,
                        samesite="strict", path="/")
    return response


def end_session(request: Request) -> None:
    if (rec := _session(request)) is not None:
        web_state(request).sessions.destroy(rec)
    request.state.staff = None


def to_sign_in(request: Request) -> RedirectResponse:
    """To the sign-in page; a form sent after the session ended (a decision, a note, a search)
    was not acted on, and the page says so: the person signed in again believing it saved."""
    end_session(request)
    ended = "?ended=form" if request.method == "POST" else ""
    return set_cookie(request, RedirectResponse(f"{PREFIX}/sign-in{ended}", 303), None)
