"""A stand-in external identity provider: an RSA key served as a JWKS on loopback, and its tokens."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from apiserver import free_port
from linkage.access.tokens import JsonWebKey, JsonWebToken

ISSUER, AUDIENCE = "https://idp.example.gov.uk", "linkage"


class IdP:
    def __init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
        jwks = json.dumps({"keys": [{**self.key.as_dict(is_private=False), "alg": "RS256", "use": "sig"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args):
                pass

        port = free_port()
        self.httpd = HTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{port}/jwks.json"
        self.env = {"LINKAGE_JWKS_URL": self.url, "LINKAGE_EXTERNAL_ISSUER": ISSUER,
                    "LINKAGE_EXTERNAL_AUDIENCE": AUDIENCE}

    def token(self, org: str, role: str, alg: str = "RS256", **over) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "sw-42", "iat": now, "exp": now + 120,
                  "linkage_org": org, "linkage_role": role, **over}
        return JsonWebToken([alg]).encode({"alg": alg, "kid": self.key.as_dict()["kid"]}, claims, self.key).decode()

    def stop(self) -> None:
        self.httpd.shutdown()
