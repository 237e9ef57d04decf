"""Tokens: our own short-lived EdDSA JWTs (Authlib), or an external IdP via JWKS.

Only asymmetric algorithms are accepted, fixed per issuer, so ``alg: none`` and
HS/RS confusion (an HMAC keyed with a public key) fail before any claim is read.
A token only says who (client and organisation); what they may do is read from the
register on every request. Whatever ``exp`` says, no token lives longer than
``max_token_lifetime_seconds``.

Checking the signature of one of our own tokens is the costly part (about half a
millisecond); a client presents the same token for many requests, so each process
remembers which exact token strings it has found correctly signed. Only the signature is
remembered: the times (``exp``, ``nbf``, ``iat``, the lifetime cap) are checked again on
every request, and who the token stands for is read from the register every time.
"""

from __future__ import annotations

import json
import secrets
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linkage.config import Settings
from linkage.errors import ConfigError, LinkageError
from linkage.files import create_once
from linkage import boundedjson

from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # Authlib points to joserfc (its own successor); authlib.jose stays supported until 2.0.
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, JsonWebToken, KeySet
    from authlib.jose.errors import JoseError

__all__ = ["AuthError", "TokenClaims", "TokenService"]

OWN_ALG = "EdDSA"
LEEWAY = 5      # seconds of clock skew allowed either way


class AuthError(LinkageError):
    """The token is missing, malformed, forged, expired or not for us: HTTP 401. ``reason`` (a
    code) and ``person`` (whom the register knows the token's subject as) go into the refusal's
    audit entry, for the DPO."""

    def __init__(self, message: str, *, reason: str | None = None, person: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.person = reason, person


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token asserts. For our own tokens ``org`` is the org id and ``generation``
    the client's token generation; an external IdP's name the org by id or code and give the role,
    and ``subject`` is whom the provider issued it to (``LINKAGE_IDP_SUBJECT_CLAIM``, ``sub``):
    the register says whether that is a person or a machine client (``access.clients``)."""

    client_id: str
    org: str
    issuer: str
    token_id: str
    external: bool = False
    role: str = ""
    generation: int = 0
    subject: str = ""
    issued_at: float = 0.0      # ``iat`` (epoch s): a provider's token is refused if before ``revoked_at``


def _load_or_create_jwk(home: Path):
    path = home / "keys" / "token_ed25519.jwk.json"
    if path.exists():
        try:
            key = JsonWebKey.import_key(json.loads(path.read_bytes()))
            whole = key.kty == "OKP" and key.as_dict(is_private=True).get("crv") == "Ed25519" \
                and "d" in key.as_dict(is_private=True)
        except (ValueError, TypeError, KeyError, AttributeError):   # empty, cut short, not JSON, not a JWK
            whole = False
        if not whole:
            raise ConfigError(f"{path} is not an Ed25519 private key for signing tokens: restore it, or remove it "
                              "and a new one is made (API clients then ask for new tokens)")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = JsonWebKey.generate_key("OKP", "Ed25519", is_private=True)
    made = json.dumps(key.as_dict(is_private=True)).encode()
    return JsonWebKey.import_key(json.loads(create_once(path, made)))     # another server's, if it won


class TokenService:
    def __init__(self, home: Path, settings: Settings) -> None:
        self.settings = settings
        self._key = _load_or_create_jwk(Path(home))
        self.kid = self._key.as_dict()["kid"]
        self._own = JsonWebToken([OWN_ALG])
        self._external = JsonWebToken(settings.external_algorithms) if settings.jwks_url else None
        self._jwks: tuple[float, KeySet] | None = None
        # own token -> (its claims, signature already checked; the TokenClaims they gave; when their
        # times last held): see ``verify``
        self._signed: dict[str, tuple[Any, TokenClaims, float]] = {}

    def public_jwks(self) -> dict:
        return {"keys": [{**self._key.as_dict(is_private=False), "alg": OWN_ALG, "use": "sig"}]}

    def issue(self, client_id: str, org_id: str, generation: int) -> tuple[str, int]:
        now = int(time.time())
        ttl = self.settings.token_ttl_seconds
        claims = {"iss": self.settings.issuer, "aud": self.settings.audience, "sub": client_id,
                  "iat": now, "nbf": now, "exp": now + ttl, "jti": secrets.token_hex(12),
                  "org": org_id, "gen": generation}
        token = self._own.encode({"alg": OWN_ALG, "kid": self.kid, "typ": "JWT"}, claims, self._key)
        return token.decode(), ttl

    def _external_keys(self) -> KeySet:
        if self._jwks and time.time() - self._jwks[0] < 300:
            return self._jwks[1]
        import httpx  # only an external identity provider needs it; every `linkage` command imports this module

        try:
            resp = httpx.get(self.settings.jwks_url, timeout=5)
            resp.raise_for_status()
            keys = JsonWebKey.import_key_set(resp.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthError(f"identity provider keys unavailable: {exc}") from None
        self._jwks = (time.time(), keys)
        return keys

    _REMEMBER = 10_000      # signed tokens remembered per process

    def remembers(self, token: str) -> bool:
        """Whether this is one of our own tokens whose signature was checked before (times aside)."""
        return token in self._signed

    def verify(self, token: str) -> TokenClaims:
        held = self._signed.get(token)
        if held is not None:                # our own, its signature checked before: check its times again
            claims, out, checked = held
            # Every time check but expiry only ever fails earlier (not before, issued in the future,
            # lifetime left over the cap): having held at ``checked``, they hold at any later time,
            # and what is left is exp, checked as authlib does. Otherwise (the clock went back,
            # or it expired) all of them again.
            if checked <= time.time() <= claims["exp"] + LEEWAY:
                return out
            out = self._claims(claims, False)
            self._signed[token] = (claims, out, time.time())
            return out
        header = _unverified_header(token)
        iss = _unverified_claim(token, "iss")
        external = self._external is not None and iss == self.settings.external_issuer
        if external:
            jwt, key = self._external, self._external_keys()
            options = {"iss": {"essential": True, "value": self.settings.external_issuer},
                       "aud": {"essential": True, "value": self.settings.external_audience}}
            allowed = set(self.settings.external_algorithms)
        else:
            jwt, key = self._own, self._key
            options = {"iss": {"essential": True, "value": self.settings.issuer},
                       "aud": {"essential": True, "value": self.settings.audience}}
            allowed = {OWN_ALG}
        if header.get("alg") not in allowed:
            raise AuthError(f"token algorithm {header.get('alg')!r} is not accepted")
        options.update({"exp": {"essential": True}, "sub": {"essential": True}, "iat": {"essential": True}})
        try:
            claims = jwt.decode(token, key, claims_options=options)
        except (JoseError, ValueError, TypeError) as exc:
            raise AuthError(f"invalid token: {exc}") from None
        out = self._claims(claims, external)
        if not external:
            if len(self._signed) >= self._REMEMBER:
                self._signed.clear()
            self._signed[token] = (claims, out, time.time())
        return out

    def _claims(self, claims, external: bool) -> TokenClaims:
        """The claims of a correctly signed token, once its times still hold."""
        try:
            claims.validate(leeway=LEEWAY)
        except (JoseError, ValueError, TypeError) as exc:
            raise AuthError(f"invalid token: {exc}") from None
        self._check_lifetime(claims)
        try:
            if external:
                subject = claims[self.settings.idp_subject_claim]
                if not isinstance(subject, str) or not subject.strip():
                    raise TypeError
                return TokenClaims(str(claims["sub"]), str(claims["linkage_org"]), str(claims["iss"]),
                                   str(claims.get("jti", "")), True, str(claims["linkage_role"]),
                                   subject=subject, issued_at=float(claims["iat"]))   # exactly: access.subjects
            return TokenClaims(str(claims["sub"]), str(claims["org"]), str(claims["iss"]),
                               str(claims.get("jti", "")), False, "", int(claims["gen"]))
        except KeyError as exc:
            raise AuthError(f"token lacks the {exc.args[0]} claim") from None
        except (TypeError, ValueError):
            raise AuthError("token claims are malformed") from None

    def _check_lifetime(self, claims) -> None:
        """Refuse a token minted to outlive the cap, or claiming to be issued in the future."""
        cap, now = self.settings.max_token_lifetime_seconds, time.time()
        exp, iat = claims["exp"], claims["iat"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat)):
            raise AuthError("token times must be numbers")
        if iat > now + LEEWAY:
            raise AuthError("token issued in the future")
        if exp - iat > cap + LEEWAY or exp - now > cap + LEEWAY:
            raise AuthError(f"token lifetime is over the {cap} s this service accepts")


def _segment(token: str, index: int) -> dict[str, Any]:
    import base64

    try:
        part = token.split(".")[index]
        data = boundedjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        if not isinstance(data, dict):
            raise ValueError
        return data
    except (IndexError, ValueError, UnicodeDecodeError):
        raise AuthError("malformed token") from None


def _unverified_header(token: str) -> dict[str, Any]:
    return _segment(token, 0)


def _unverified_claim(token: str, name: str) -> Any:
    return _segment(token, 1).get(name)
