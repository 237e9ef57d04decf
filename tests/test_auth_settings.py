"""An external identity provider through its JWKS, and settings that refuse insecure values."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from pydantic import ValidationError

from apiserver import Server, free_port
from linkage.access.tokens import JsonWebKey, JsonWebToken
from linkage.config import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def idp():
    key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
    jwks = json.dumps({"keys": [{**key.as_dict(is_private=False), "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args):
            pass

    port = free_port()
    httpd = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{port}/jwks.json"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, idp):
    _, url = idp
    s = Server(tmp_path_factory.mktemp("idp") / "data", env={
        "LINKAGE_JWKS_URL": url, "LINKAGE_EXTERNAL_ISSUER": "https://idp.example.gov.uk",
        "LINKAGE_EXTERNAL_AUDIENCE": "linkage"})
    yield s
    s.stop()


def idp_token(key, alg="RS256", **over) -> str:
    now = int(time.time())
    claims = {"iss": "https://idp.example.gov.uk", "aud": "linkage", "sub": "sw-42", "iat": now, "exp": now + 120,
              "linkage_agency": "Northshire Children's Services", "linkage_agency_type": "social_care",
              "linkage_role": "social_worker", **over}
    return JsonWebToken([alg]).encode({"alg": alg, "kid": key.as_dict()["kid"]}, claims, key).decode()


def get(server, tok):
    return httpx.get(server.url + "/v1/cme", headers={"Authorization": f"Bearer {tok}", "X-Purpose": "cme"})


def test_external_idp_token_is_trusted(server, idp):
    key, _ = idp
    assert get(server, idp_token(key)).status_code == 200


def test_external_idp_wrong_audience_or_expired_is_401(server, idp):
    key, _ = idp
    assert get(server, idp_token(key, aud="someone-else")).status_code == 401
    assert get(server, idp_token(key, exp=int(time.time()) - 100)).status_code == 401


def test_external_idp_hs_confusion_with_its_public_key_is_401(server, idp):
    key, _ = idp
    import base64
    import hashlib
    import hmac

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    pem = key.as_pem(is_private=False)   # the attacker knows the IdP's public key
    head = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64({
        "iss": "https://idp.example.gov.uk", "aud": "linkage", "sub": "x", "exp": int(time.time()) + 60,
        "linkage_agency": "A", "linkage_agency_type": "social_care", "linkage_role": "social_worker"})
    sig = base64.urlsafe_b64encode(hmac.new(pem, head.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    assert get(server, f"{head}.{sig}").status_code == 401


def test_external_token_missing_agency_claims_is_401(server, idp):
    key, _ = idp
    now = int(time.time())
    bare = JsonWebToken(["RS256"]).encode({"alg": "RS256"}, {
        "iss": "https://idp.example.gov.uk", "aud": "linkage", "sub": "x", "exp": now + 60}, key).decode()
    assert get(server, bare).status_code == 401


@pytest.mark.parametrize("env,message", [
    ({"LINKAGE_EXTERNAL_ALGORITHMS": '["HS256"]'}, "insecure token algorithms"),
    ({"LINKAGE_EXTERNAL_ALGORITHMS": '["none"]'}, "insecure token algorithms"),
    ({"LINKAGE_JWKS_URL": "http://idp.example.gov.uk/jwks", "LINKAGE_EXTERNAL_ISSUER": "i",
      "LINKAGE_EXTERNAL_AUDIENCE": "a"}, "https"),
    ({"LINKAGE_JWKS_URL": "https://idp.example.gov.uk/jwks"}, "ISSUER"),
    ({"LINKAGE_HOST": "0.0.0.0"}, "ALLOW_REMOTE"),
    ({"LINKAGE_TOKEN_TTL_SECONDS": "86400"}, "less than or equal"),
    ({"LINKAGE_DB_KEY": "short"}, "32 characters"),
])
def test_settings_refuse_insecure_values(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_clients_add_prints_the_secret_once_and_stores_only_a_hash(tmp_path):
    from typer.testing import CliRunner

    from linkage.cli import app

    out = CliRunner().invoke(app, ["clients", "add", "--name", "Oak", "--agency", "Oak AP", "--agency-type",
                                   "ap_school", "--role", "admissions", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0
    secret = out.output.split("client_secret: ")[1].split()[0]
    assert secret.encode() not in (tmp_path / "service.sqlite").read_bytes()
    bad = CliRunner().invoke(app, ["clients", "add", "--name", "X", "--agency", "X", "--agency-type", "bank",
                                   "--role", "r", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "agency type" in bad.output
