"""The hot routes' own path (api/hotpath.py) answers exactly what the framework's route answers,
and leaves every request it is not sure of to the framework."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from apiserver import linked_home
from conftest import EXTRACT_DATE
from linkage.access.clients import ClientRegistry
from linkage.api import hotpath
from linkage.store.state import ServiceState
from registry import register


@pytest.fixture(scope="module")
def served(tmp_path_factory, synth_month1):
    from linkage.api import create_app
    from linkage.config import get_settings

    home = tmp_path_factory.mktemp("hot") / "data"
    ((child, demo),) = linked_home(home, synth_month1, EXTRACT_DATE)
    client, secret = register(home, "hot ap", "ap_school", "admissions", org="Oak AP Academy")
    get_settings.cache_clear()
    with TestClient(create_app(home, get_settings())) as http:
        yield {"home": home, "http": http, "demo": demo, "client": client, "secret": secret}


@pytest.fixture
def answered(monkeypatch):
    """The hot path's answers, counted."""
    seen = []
    real = hotpath.HotRoutes._answer

    async def counting(self, scope, receive, send, flow, public, **kw):
        seen.append(scope["path"])
        return await real(self, scope, receive, send, flow, public, **kw)
    monkeypatch.setattr(hotpath.HotRoutes, "_answer", counting)
    return seen


def fresh_token(w) -> str:
    r = w["http"].post("/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(w["client"].client_id, w["secret"]))
    assert r.status_code == 200
    return r.json()["access_token"]


def audit_tail(w, n):
    lines = (w["home"] / "audit" / "log.jsonl").read_text().splitlines()[-n:]
    return [{k: v for k, v in json.loads(x)["entry"].items() if k not in ("request_id", "time")} for x in lines]


def test_a_remembered_token_takes_the_hot_path_with_the_same_answer_and_audit(served, answered):
    w = served
    f, s, dob, pc = w["demo"]
    body = {"forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc}
    headers = {"Authorization": f"Bearer {fresh_token(w)}", "X-Purpose": "admission"}
    first = w["http"].post("/v1/lookup", json=body, headers=headers)          # a new token: the framework
    assert answered == [] and first.status_code == 200 and first.json()["match"]
    first_audit = audit_tail(w, 1)
    second = w["http"].post("/v1/lookup", json=body, headers=headers)         # remembered: the hot path
    assert answered == ["/v1/lookup"]
    assert (second.status_code, second.json(), second.headers["content-type"]) == \
        (first.status_code, first.json(), first.headers["content-type"])
    assert audit_tail(w, 1) == first_audit
    for name in ("x-request-id", "content-security-policy", "cache-control"):   # the guard still wraps it
        assert second.headers.get(name)
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    ref = first.json()["match"]["child_id"]
    view = w["http"].get(f"/v1/children/{ref}", headers=headers)
    assert view.status_code == 200 and answered[-1] == f"/v1/children/{ref}"


@pytest.mark.parametrize("change, status", [
    ({"headers": {"X-Purpose": "marketing"}}, 422),
    ({"headers": {"X-Purpose": ""}}, 422),
    ({"headers": {"Authorization": "Bearer not.a.token"}}, 401),
    ({"headers": {"Authorization": ""}}, 401),
    ({"body": {"forename": "Amy", "date_of_birth": "2015-01-01"}}, 422),
    ({"body": {"forename": "Amy", "surname": "Li", "date_of_birth": "2035-01-01"}}, 422),
    ({"raw": b"[1, 2", "type": "application/json"}, 422),
    ({"raw": b'{"forename": "Amy"}', "type": "text/plain"}, 422),
])
def test_what_it_is_not_sure_of_the_framework_answers_as_before(served, answered, change, status):
    w = served
    token = fresh_token(w)
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "admission"}
    f, s, dob, pc = w["demo"]
    w["http"].post("/v1/lookup", json={"forename": f, "surname": s, "date_of_birth": dob.isoformat()},
                   headers=headers)                                          # the token is now remembered
    headers.update(change.get("headers", {}))
    if "raw" in change:
        r = w["http"].post("/v1/lookup", content=change["raw"], headers={**headers, "Content-Type": change["type"]})
    else:
        r = w["http"].post("/v1/lookup", json=change.get("body", {"forename": f, "surname": s,
                                                                  "date_of_birth": dob.isoformat()}),
                           headers=headers)
    assert r.status_code == status, r.text
    assert answered == []
    assert token not in r.text


def test_a_client_revoked_after_its_token_was_remembered_is_refused_on_the_hot_path(served, answered):
    w = served
    client, secret = register(w["home"], "hot revoked", "ap_school", "admissions", org="Oak AP Academy")
    r = w["http"].post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret))
    headers = {"Authorization": f"Bearer {r.json()['access_token']}", "X-Purpose": "admission"}
    f, s, dob, pc = w["demo"]
    body = {"forename": f, "surname": s, "date_of_birth": dob.isoformat()}
    assert w["http"].post("/v1/lookup", json=body, headers=headers).status_code == 200
    ClientRegistry(ServiceState(w["home"])).set_active(client.client_id, False)
    refused = w["http"].post("/v1/lookup", json=body, headers=headers)
    assert answered == ["/v1/lookup"]                       # the hot path took it, and read the register
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    # Its security event names the route's template and the client, as the framework's would.
    entries = [json.loads(x)["entry"] for x in (w["home"] / "audit" / "log.jsonl").read_text().splitlines()]
    event = next(e for e in entries if e["request_id"] == refused.headers["x-request-id"])
    assert (event["action"], event["route"], event["client_id"]) == \
        ("security.unauthenticated", "/v1/lookup", client.client_id)


def test_the_openapi_document_is_built_before_the_first_request(tmp_path):
    """A worker's first refusal reads it (what an error may echo): built lazily, that request paid
    about 0.9 CPU s, and on session 34's loaded CI machine outwaited the client (ReadTimeout)."""
    from linkage.api import create_app
    from linkage.config import get_settings

    get_settings.cache_clear()
    app = create_app(tmp_path / "data", get_settings())
    assert app.openapi_schema is None
    with TestClient(app):
        assert app.openapi_schema is not None and "/v1/cme" in app.openapi_schema["paths"]
