"""Signing in and out, and each person's start page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from linkage.errors import TooManyRequests
from linkage.service import Ctx
from linkage.service.oauth import network
from linkage.web.render import PREFIX, render
from linkage.web.session import (SignInRequired, StaffDep, caller_address, current_staff, end_session,
                                 security_event, served, set_cookie, set_device_cookie, start_session,
                                 web_state)
from linkage.web.tasks import PURPOSES, tasks_for

router = APIRouter()

_WRONG = "Enter a correct email address and password"


NOT_SAVED = ("Your session ended before you sent that form, so nothing in it was saved. Sign in, then do it "
             "again.")


def _sign_in_page(request: Request, errors: list[dict] | None = None, email: str = "", status_code: int = 200,
                  notice: str = ""):
    return render(request, "sign_in.html", status_code, errors=errors or [], email=email,
                  oidc=request.app.state.settings.oidc_issuer is not None, notice=notice)


@router.get("/sign-in")
def sign_in_form(request: Request, ended: Annotated[str, Query(max_length=10)] = ""):
    try:
        current_staff(request)
        return RedirectResponse(f"{PREFIX}/", 303)
    except SignInRequired:
        pass
    web = web_state(request)
    held = web.sessions.load(request.cookies.get(web.cookie))
    if held is not None:                            # signed out already: keep its token
        request.state.csrf = held.csrf
        return _sign_in_page(request, notice=NOT_SAVED if ended == "form" else "")
    session_id = start_session(request, None)       # signed out: holds only the form's CSRF token
    return set_cookie(request, _sign_in_page(request, notice=NOT_SAVED if ended == "form" else ""), session_id)


@router.post("/sign-in")
def sign_in(request: Request, email: Annotated[str, Form(max_length=254)] = "",
            password: Annotated[str, Form(max_length=256)] = ""):
    web = web_state(request)
    email = email.strip().lower()
    errors = []
    if not email:
        errors.append({"text": "Enter your email address", "href": "#email"})
    if not password:
        errors.append({"text": "Enter your password", "href": "#password"})
    if errors:
        return _sign_in_page(request, errors, email)
    by_email, by_address = web.signin_limits
    where = network(caller_address(request))
    device = request.cookies.get(web.device_cookie, "")
    own = web.users.device_source(email, device)
    try:
        if own:     # a browser that signed the person in: its own allowance, which no stranger shares
            by_email.check(f"{email} {own}")
        else:
            by_address.check(request.client.host if request.client else "unknown")
            by_email.check(f"{email} {where}")      # a stranger's attempts must not throttle the person
    except TooManyRequests as exc:
        security_event(request, "security.sign_in_throttled", web.users.by_email(email))
        return _sign_in_page(request, [{"text": f"Too many attempts to sign in. Wait {exc.retry_after} seconds "
                                                "and try again", "href": "#email"}], email, 429)
    attempt = web.users.authenticate(email, password, network=where, device=device)
    if attempt.user is None:
        known = web.users.get(attempt.user_id) if attempt.user_id else None
        security_event(request, "security.sign_in_failed", known, reason=attempt.outcome)
        for scope, seconds in zip(attempt.locks, attempt.lock_seconds):
            security_event(request, "security.lockout", known, scope=scope, seconds=seconds,
                           failures=web.users.lockout_after)
        if attempt.outcome == "locked" or attempt.locked_now:
            return _sign_in_page(request, [{"text": "There have been too many failed attempts to sign in. Try "
                                                    "again later or ask your administrator", "href": "#email"}],
                                 email, 429)
        return _sign_in_page(request, [{"text": _WRONG, "href": "#email"}], email)
    return set_device_cookie(request, signed_in(request, attempt.user, "password"), attempt.device)


def signed_in(request: Request, user, method: str, **extra) -> RedirectResponse:
    """Start the person's session (a new id) and send them to their start page; audited (``extra``:
    more for the entry, such as the provider's subject a first sign-in recorded)."""
    session_id = start_session(request, user)
    Ctx(served(request), user.principal(), None, request.state.request_id, person=user.email).record(
        "web.sign_in", "allow", method=method, **extra)
    return set_cookie(request, RedirectResponse(f"{PREFIX}/", 303), session_id)


@router.post("/sign-out")
def sign_out(request: Request, staff: StaffDep):
    staff.ctx(None).record("web.sign_out", "allow")
    end_session(request)
    return set_cookie(request, render(request, "signed_out.html"), None)


@router.get("/")
def start(request: Request, staff: StaffDep):
    return render(request, "start.html", tasks=tasks_for(staff.services.policy, staff.user.principal()),
                  purposes=PURPOSES)
