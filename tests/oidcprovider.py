"""A small OpenID Connect provider on loopback, for signing in to the web pages in tests.

Discovery, an authorisation endpoint that signs in whoever ``identity`` names (no
login form: the provider's own sign-in is not what is under test), a token endpoint
checking the client secret, the code, the redirect URI and the PKCE verifier, and a
JWKS. ID tokens are RS256, with the nonce the client sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from apiserver import free_port
from linkage.access.tokens import JsonWebKey, JsonWebToken


class Provider:
    def __init__(self, client_id: str = "linkage-web", client_secret: str | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret or secrets.token_urlsafe(24)
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
        self.kid = self.key.as_dict()["kid"]
        self.identity: dict = {}
        self.metadata_issuer: str | None = None     # the discovery document's issuer, if not ``issuer``
        self.codes: dict[str, dict] = {}
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    return self._json(provider.metadata())
                if url.path == "/jwks":
                    return self._json({"keys": [{**provider.key.as_dict(is_private=False), "alg": "RS256",
                                                 "use": "sig"}]})
                if url.path == "/authorize":
                    if q.get("client_id") != provider.client_id or q.get("response_type") != "code":
                        return self._json({"error": "unauthorized_client"}, 400)
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"nonce": q.get("nonce"), "redirect_uri": q["redirect_uri"],
                                            "challenge": q.get("code_challenge"), "identity": dict(provider.identity)}
                    self.send_response(302)
                    self.send_header("location", q["redirect_uri"] + "?" + urlencode({"code": code,
                                                                                     "state": q.get("state", "")}))
                    self.end_headers()
                    return
                self._json({"error": "not_found"}, 404)

            def do_POST(self):
                if urlsplit(self.path).path != "/token":
                    return self._json({"error": "not_found"}, 404)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["content-length"])).decode()).items()}
                basic = base64.b64encode(f"{provider.client_id}:{provider.client_secret}".encode()).decode()
                if self.headers.get("authorization") != f"Basic {basic}":
                    return self._json({"error": "invalid_client"}, 401)
                grant = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (grant is None or grant["redirect_uri"] != form.get("redirect_uri")
                        or grant["challenge"] != challenge):
                    return self._json({"error": "invalid_grant"}, 400)
                self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                            "id_token": provider.id_token(grant["identity"], grant["nonce"])})

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def metadata(self) -> dict:
        return {"issuer": self.metadata_issuer or self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"]}

    def id_token(self, identity: dict, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": identity.get("email", "someone"),
                  "iat": now, "exp": now + 300, "nonce": nonce, **identity}
        return JsonWebToken(["RS256"]).encode({"alg": "RS256", "kid": self.kid}, claims, self.key).decode()

    def env(self, **extra: str) -> dict[str, str]:
        return {"LINKAGE_OIDC_ISSUER": self.issuer, "LINKAGE_OIDC_CLIENT_ID": self.client_id,
                "LINKAGE_OIDC_CLIENT_SECRET": self.client_secret, **extra}

    def stop(self) -> None:
        self.httpd.shutdown()
