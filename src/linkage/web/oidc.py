"""Sign in with the council's identity provider (OpenID Connect), through Authlib's Starlette client.

Authlib keeps the flow's state and nonce in ``request.session``; here that is a
short-lived server-side record behind its own cookie, ``SameSite=Lax`` and limited to
the callback's path, because the callback arrives from the provider's site where a
``Strict`` cookie would not be sent. The person's own session starts only after the
ID token is verified (issuer, audience, signature from the provider's JWKS, nonce).

Who the person is in linkage comes from the register, never from the token alone:
either the person is a registered, active user (the default), or, with
``LINKAGE_OIDC_ORG_CLAIM`` and ``_ROLE_CLAIM``, the claims name a registered organisation
and one of its type's roles, and the person is recorded (or updated) as a user of it. Either
way the person is found by the provider's subject (``sub``), recorded at their first sign-in
(matched then by a verified email, in a token whose issuer is the configured provider's: the
sign-in's audit entry says so); an email naming someone the provider knows by another subject,
or whose subject an operator cleared, is refused (``access.users.provider_sign_in``).
"""

from __future__ import annotations

import warnings

from authlib.common.errors import AuthlibBaseError
from authlib.deprecate import AuthlibDeprecationWarning
from fastapi import APIRouter, Request

from linkage.access.subjects import issuer_name
from linkage.access.users import EmailUnverified, User
from linkage.config import Settings
from linkage.errors import LinkageError
from linkage.web.pages.account import signed_in
from linkage.web.render import PREFIX, render
from linkage.web.session import security_event, web_state

with warnings.catch_warnings():
    # Its starlette client imports authlib's httpx client, which warns (httpx2) on every `linkage
    # serve`, naming a file in site-packages: nothing an operator can act on (as access/tokens.py).
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, OAuthError
try:        # Authlib 1.6 checks ID tokens with joserfc, whose errors are not Authlib's; before, with its own
    from joserfc.errors import JoseError as _TokenRefused
except ImportError:
    _TokenRefused = AuthlibBaseError

__all__ = ["client", "router"]

router = APIRouter()
CALLBACK = "/sign-in/oidc/callback"
_COOKIE = "linkage_oidc"


def client(request: Request):
    """The provider's Authlib client, registered once per application (discovery on first use)."""
    app_state = request.app.state
    if getattr(app_state, "oidc", None) is None:
        s: Settings = app_state.settings
        oauth = OAuth()
        oauth.register("council", client_id=s.oidc_client_id,
                       client_secret=s.oidc_client_secret.get_secret_value(),
                       server_metadata_url=s.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
                       client_kwargs={"scope": s.oidc_scopes, "code_challenge_method": "S256"})
        app_state.oidc = oauth.council
    return app_state.oidc


def _enabled(request: Request) -> None:
    if request.app.state.settings.oidc_issuer is None:
        raise LinkageError("no identity provider is configured")


@router.post("/sign-in/oidc")
async def start(request: Request):
    """Off to the provider. (The CSRF check on every POST has already run.)"""
    _enabled(request)
    web = web_state(request)
    request.scope["session"] = {}
    response = await client(request).authorize_redirect(request, str(request.url_for("oidc_callback")))
    flow_id, _ = web.sessions.create(None, request.scope["session"])
    response.set_cookie(_COOKIE, flow_id, httponly=True, secure=web.secure, samesite="lax",
                        path=PREFIX + CALLBACK, max_age=600)
    return response


def _failed(request: Request, reason: str, user: User | None = None, status: int = 403, **extra):
    """``extra``: the provider's subject, once known, for the DPO (who tried to be whom)."""
    security_event(request, "security.sign_in_failed", user, reason=reason, method="oidc", **extra)
    response = render(request, "error.html", status, title="You could not be signed in",
                      body="Your council account is not set up to use linkage, or signing in did not complete. "
                           "Ask your administrator.", detail="")
    response.delete_cookie(_COOKIE, path=PREFIX + CALLBACK)
    return response


def _verified(value) -> bool:
    """Whether ``email_verified`` lets the email claim name a person: absent is the provider's
    silence (Microsoft Entra ID sends none), else only true. Amazon Cognito and others send it as
    a string, and ``"false"`` is not ``False``: it matched a registered person by an unverified
    address at their first sign-in, recording the claimant's subject as theirs."""
    return value is None or value is True or (isinstance(value, str) and value.strip().lower() == "true")


@router.get(CALLBACK, name="oidc_callback")
async def callback(request: Request):
    _enabled(request)
    web, s = web_state(request), request.app.state.settings
    flow = web.sessions.load(request.cookies.get(_COOKIE))
    if flow is None or flow.user_id is not None:
        return _failed(request, "no sign-in in progress")
    web.sessions.destroy(flow)                 # one use only
    request.scope["session"] = dict(flow.data)
    try:
        token = await client(request).authorize_access_token(request)
    except OAuthError as exc:
        return _failed(request, f"provider: {exc.error}")
    except (AuthlibBaseError, _TokenRefused) as exc:    # an ID token whose signature or claims (issuer,
        # audience, expiry) fail: a 500 with a traceback, not a refusal the DPO sees
        return _failed(request, f"provider: the ID token was refused ({exc.error or type(exc).__name__})")
    claims = token.get("userinfo") or {}
    email, subject = str(claims.get(s.oidc_email_claim) or ""), claims.get(s.idp_subject_claim)
    if not isinstance(subject, str) or not subject.strip():
        return _failed(request, f"claims: no {s.idp_subject_claim}")
    # The issuer a subject is recorded under is the configured provider's. Authlib checks the token's
    # against the discovery document's, which nothing checked against the setting: a document naming
    # another issuer (or a multi-tenant one's) had its subjects recorded, and matched by email.
    issuer = issuer_name(s.oidc_issuer)
    if issuer_name(str(claims.get("iss") or "")) != issuer:
        return _failed(request, f"claims: the token's issuer {str(claims.get('iss'))[:200]!r} is not the configured "
                                "provider's", idp_subject=subject)
    # An unverified email names no one, but a person the provider's subject already names is that
    # person whatever the email claim says (``access.users.provider_sign_in``).
    verified = _verified(claims.get("email_verified"))
    known = web.users.by_subject(issuer, subject) is not None
    try:
        if s.oidc_org_claim:
            user = web.users.provision(email, str(claims.get("name") or email), str(claims.get(s.oidc_org_claim, "")),
                                       str(claims.get(s.oidc_role_claim, "")), issuer=issuer, subject=subject,
                                       email_verified=verified)
        else:
            user = web.users.provider_sign_in(issuer, subject, email, email_verified=verified)
    except EmailUnverified:
        return _failed(request, "email not verified", idp_subject=subject)
    except LinkageError as exc:
        return _failed(request, f"claims: {exc}", idp_subject=subject)
    if not web.users.usable(user):
        return _failed(request, "unknown or inactive user", user, idp_subject=subject)
    # A first sign-in recorded the subject as this person's: by their email, or as a person new here.
    recorded = {} if known else {"idp_issuer": issuer, "idp_subject": subject, "subject_recorded": "first sign-in"}
    redirect = signed_in(request, user, "oidc", **recorded)
    # The provider's redirect made this a cross-site navigation: a Strict cookie set now is not
    # sent on a redirect that continues it, so the browser is sent on by a same-site page instead.
    response = render(request, "continue.html", next_url=redirect.headers["location"])
    for name, value in redirect.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    response.delete_cookie(_COOKIE, path=PREFIX + CALLBACK)
    return response


