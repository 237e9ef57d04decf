"""Who a request came from, when it says it came through a proxy.

uvicorn believed ``X-Forwarded-For`` from every loopback connection whatever the deployment: with
no proxy in front (or the proxy elsewhere), any user with a shell on the server could spread
secret and password guesses over invented addresses (the per-address limits never filled) and put
an invented network into every security event the DPO reads. The header is now believed only from
the addresses in ``LINKAGE_TRUSTED_PROXIES`` (none by default; the deployment names its proxy).
"""

from __future__ import annotations

import json

import httpx
import pytest

from apiserver import Server
from registry import register

pytestmark = pytest.mark.e2e

SPOOFED = "203.0.113.77"


def _failed_logins(home) -> list[dict]:
    lines = (home / "audit" / "log.jsonl").read_text().splitlines()
    return [e["entry"] for e in map(json.loads, lines) if e["entry"].get("action") == "security.auth_failed"]


def _guess(server: Server, client: str) -> None:
    r = httpx.post(f"{server.url}/oauth/token", headers={"X-Forwarded-For": SPOOFED},
                   data={"grant_type": "client_credentials", "client_id": client, "client_secret": "wrong"})
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("proxies, believed", [(None, False), ("127.0.0.1", True)],
                         ids=["no proxy configured", "the configured proxy"])
def test_x_forwarded_for_is_believed_only_from_the_configured_proxy(tmp_path, proxies, believed):
    home = tmp_path / "data"
    client, _ = register(home, "ap", "ap_school", "admissions", org="Oak AP Academy", code="100001")
    server = Server(home, env={"LINKAGE_TRUSTED_PROXIES": proxies} if proxies else None)
    try:
        _guess(server, client.client_id)
    finally:
        server.stop()
    events = _failed_logins(home)
    assert events, "the wrong secret is a security event"
    said = json.dumps(events)
    assert ("203.0.113." in said) is believed, said
    if not believed:
        assert "127.0.0." in said, said     # the connection's own address


@pytest.mark.parametrize("value", ["*", "0.0.0.0/0", "::/0", "nginx.internal"])
def test_trusting_everyone_or_a_name_is_refused(value):
    from pydantic import ValidationError

    from linkage.config import Settings

    with pytest.raises(ValidationError, match="LINKAGE_TRUSTED_PROXIES"):
        Settings(trusted_proxies=value)
