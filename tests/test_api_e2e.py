"""The API end to end: a real uvicorn server on loopback, real tokens, real audit log."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import date

import httpx
import pytest

from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from registry import register

pytestmark = pytest.mark.e2e

ROLES = {
    "ap": ("Oak AP Academy", "ap_school", "admissions"),
    "dsl": ("Oak AP Academy", "ap_school", "designated_safeguarding_lead"),
    "sw": ("Northshire Children's Services", "social_care", "social_worker"),
    "support": ("Northshire Children's Services", "social_care", "business_support"),
    "cme": ("Northshire Education", "la_education", "cme_officer"),
    "nurse": ("Northshire Community Health", "health", "school_nurse"),
    "officer": ("Northshire Education", "la_education", "consent_officer"),
    "dpo": ("Northshire Council", "dpo", "dpo"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    home = tmp_path_factory.mktemp("api") / "data"
    # A child known to all three agencies, with an allocated social care team.
    ((child, demo),) = linked_home(home, synth_month1, EXTRACT_DATE)
    creds = {k: register(home, f"{k} client", kind, role, org=org) for k, (org, kind, role) in ROLES.items()}
    server = Server(home)
    yield {"home": home, "server": server, "child": child, "demo": demo, "creds": creds, "tokens": {}}
    server.stop()


def token(world, who: str) -> str:
    """A token per client, reused while it has over a minute left, as a well-behaved client would."""
    held = world["tokens"].get(who)
    if held and held[1] - time.time() > 60:
        return held[0]
    client, secret = world["creds"][who]
    r = httpx.post(world["server"].url + "/oauth/token", data={"grant_type": "client_credentials"},
                   auth=(client.client_id, secret))
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] <= 300
    world["tokens"][who] = (r.json()["access_token"], time.time() + r.json()["expires_in"])
    return r.json()["access_token"]


def call(world, who: str, method: str, path: str, purpose: str, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token(world, who)}", "X-Purpose": purpose, **kw.pop("headers", {})}
    return httpx.request(method, world["server"].url + path, headers=headers, timeout=30, **kw)


def pseudonym(world, who: str, purpose: str) -> str:
    f, s, dob, pc = world["demo"]
    r = call(world, who, "POST", "/v1/lookup", purpose,
             json={"forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc})
    assert r.status_code == 200, r.text
    best = r.json()["match"]                                               # the one confident match
    assert best["match_probability"] > 0.9 and "date of birth agrees" in best["reason"]
    assert (best["forename"], best["surname"], best["date_of_birth"]) == (f, s, dob.isoformat())
    assert re.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]?", best["postcode_district"])     # the outward code only
    return best["child_id"]


def audit_lines(world) -> list[dict]:
    return [json.loads(line) for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- who sees what

EXPECTED_SECTIONS = {
    ("ap", "admission"): {"demographics", "addresses", "schools", "attendance", "exclusions", "sen", "social_care"},
    ("sw", "safeguarding"): {"demographics", "known_to", "addresses", "schools", "attendance", "exclusions", "sen",
                             "social_care", "social_care_episodes", "gp_registrations", "health_contacts"},
    ("cme", "cme"): {"demographics", "known_to", "addresses", "schools", "attendance", "exclusions", "sen",
                     "social_care", "social_care_episodes", "gp_registrations"},
    ("nurse", "care"): {"demographics", "known_to", "addresses", "social_care", "gp_registrations", "health_contacts"},
}


@pytest.mark.parametrize("who,purpose", list(EXPECTED_SECTIONS), ids=[f"{w}-{p}" for w, p in EXPECTED_SECTIONS])
def test_each_role_sees_exactly_its_allowed_sections(world, who, purpose):
    ref = pseudonym(world, who, purpose)
    r = call(world, who, "GET", f"/v1/children/{ref}", purpose)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["sections"]) == EXPECTED_SECTIONS[(who, purpose)]
    assert body["child_id"] == ref and world["child"] not in r.text      # never the canonical id
    last = audit_lines(world)[-1]["entry"]                                  # durable before the response
    assert last["request_id"] == r.headers["X-Request-ID"] and last["decision"] == "allow"
    assert last["children"] == [world["child"]] and set(last["fields"]) == set(body["lawful_basis"])


def test_ap_school_sees_education_history_and_social_care_contact(world):
    ref = pseudonym(world, "ap", "admission")
    body = call(world, "ap", "GET", f"/v1/children/{ref}", "admission").json()
    assert body["sections"]["schools"] and body["sections"]["attendance"][0]["attendance_rate"] is not None
    assert body["sections"]["social_care"]["known_to_childrens_social_care"] is True
    assert body["sections"]["social_care"]["contacts"][0]["team"]
    assert {"health.gp", "health.contacts", "social_care.episodes", "identity.known_to"} <= set(body["withheld"])
    assert "known_to" not in body["sections"] and "known_to" not in body["sections"]["demographics"]
    assert "public task" in body["lawful_basis"]["education.enrolment"]
    assert "para 18" in body["lawful_basis"]["social_care.involvement"]


def test_pseudonyms_differ_by_agency_and_do_not_cross(world):
    ap = pseudonym(world, "ap", "admission")
    sw = pseudonym(world, "sw", "safeguarding")
    assert ap != sw and ap.startswith("P-") and sw.startswith("P-")
    assert call(world, "sw", "GET", f"/v1/children/{ap}", "safeguarding").status_code == 404
    assert pseudonym(world, "dsl", "admission") == ap                      # same agency, same form


def test_policy_refusal_is_403_and_audited(world):
    ref = pseudonym(world, "ap", "admission")
    r = call(world, "ap", "GET", f"/v1/children/{ref}", "safeguarding")
    assert r.status_code == 403
    e = audit_lines(world)[-1]["entry"]
    assert e["decision"] == "deny" and e["request_id"] == r.headers["X-Request-ID"] and e["fields"] == []
    assert call(world, "support", "GET", "/v1/cme", "safeguarding").status_code == 403
    assert call(world, "dpo", "POST", "/v1/lookup", "audit", json={
        "forename": "A", "surname": "B", "date_of_birth": "2015-01-01"}).status_code == 403


# ---------------------------------------------------------------- consent

def _consent(world, who: str, asking: str, category: str, recipient: dict, purpose: str, provision: str) -> dict:
    """``who``, asking for purpose ``asking``, records consent for ``recipient`` to use ``category`` for ``purpose``."""
    ref = pseudonym(world, who, asking)
    r = call(world, who, "POST", "/v1/consents", asking, json={
        "child_id": ref, "category": category, "recipient": recipient, "purpose": purpose, "provision": provision,
        "given_by": "parent", "method": "written", "evidence_ref": "consent form on file",
        "given_on": date.today().isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["child_id"] == ref
    return r.json()


def test_consent_withdrawal_takes_effect_at_once(world):
    ref = pseudonym(world, "ap", "admission")
    before = call(world, "ap", "GET", f"/v1/children/{ref}", "admission").json()
    assert "gp_registrations" not in before["sections"]
    # The health organisation that holds the data records the parent's consent for this AP school.
    oak = world["creds"]["ap"][0].org.code          # the AP school's URN names it as the recipient
    consent = _consent(world, "nurse", "care", "health", {"organisation": oak}, "admission", "permit")
    with_consent = call(world, "ap", "GET", f"/v1/children/{ref}", "admission").json()
    assert {"gp_registrations", "health_contacts"} <= set(with_consent["sections"])
    assert "consent" in with_consent["lawful_basis"]["health.gp"].lower()

    sw_ref = pseudonym(world, "sw", "safeguarding")
    withdrawn = call(world, "nurse", "POST", f"/v1/consents/{consent['consent_id']}/withdraw", "care")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    after = call(world, "ap", "GET", f"/v1/children/{ref}", "admission").json()
    assert "gp_registrations" not in after["sections"] and "health.gp" in after["withheld"]
    sw = call(world, "sw", "GET", f"/v1/children/{sw_ref}", "safeguarding").json()
    assert "gp_registrations" in sw["sections"] and "para 18" in sw["lawful_basis"]["health.gp"]


def test_a_refusal_of_consent_blocks_sharing_except_for_safeguarding(world):
    ref = pseudonym(world, "ap", "admission")
    to_ap = _consent(world, "officer", "cme", "education.sen", {"type": "ap_school"}, "admission", "deny")
    to_sw = _consent(world, "officer", "cme", "education.sen", {"type": "social_care"}, "safeguarding", "deny")
    body = call(world, "ap", "GET", f"/v1/children/{ref}", "admission").json()
    assert "sen" not in body["sections"] and "education.sen" in body["withheld"]
    sw = call(world, "sw", "GET", f"/v1/children/{pseudonym(world, 'sw', 'safeguarding')}", "safeguarding").json()
    assert "sen" in sw["sections"]
    assert audit_lines(world)[-1]["entry"]["consent_overridden"] == ["education.sen"]
    for c in (to_ap, to_sw):
        assert call(world, "officer", "POST", f"/v1/consents/{c['consent_id']}/withdraw", "cme").status_code == 200


# ---------------------------------------------------------------- tokens

def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(world, **over) -> dict:
    client = world["creds"]["sw"][0]
    now = int(time.time())
    return {"iss": "linkage", "aud": "linkage-api", "sub": client.client_id, "iat": now, "nbf": now,
            "exp": now + 60, "org": client.org.org_id, "gen": 0, **over}


def _sign_own(world, claims: dict) -> str:
    from linkage.access.tokens import JsonWebKey, JsonWebToken

    key = JsonWebKey.import_key(json.loads((world["home"] / "keys" / "token_ed25519.jwk.json").read_text()))
    return JsonWebToken(["EdDSA"]).encode({"alg": "EdDSA"}, claims, key).decode()


def _forged_tokens(world) -> dict[str, str]:
    import hashlib
    import hmac

    from linkage.access.tokens import JsonWebKey, JsonWebToken

    stranger = JsonWebKey.generate_key("OKP", "Ed25519", is_private=True)
    public = httpx.get(world["server"].url + "/.well-known/jwks.json").json()["keys"][0]
    head = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64(_claims(world))
    hs = hmac.new(json.dumps(public).encode(), head.encode(), hashlib.sha256).digest()
    good = _sign_own(world, _claims(world))
    h, p, sig = good.split(".")
    return {
        "expired": _sign_own(world, _claims(world, exp=int(time.time()) - 120, iat=int(time.time()) - 600)),
        "wrong audience": _sign_own(world, _claims(world, aud="another-service")),
        "wrong issuer": _sign_own(world, _claims(world, iss="evil")),
        "forged key": JsonWebToken(["EdDSA"]).encode({"alg": "EdDSA"}, _claims(world), stranger).decode(),
        "alg none": _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(world)) + ".",
        "HS/RS confusion": head + "." + _b64(hs),
        "tampered payload": h + "." + _b64(_claims(world, sub=world["creds"]["dpo"][0].client_id)) + "." + sig,
        "garbage": "not.a.token",
    }


def test_own_signed_token_is_accepted(world):
    r = httpx.get(world["server"].url + "/v1/cme", headers={
        "Authorization": "Bearer " + _sign_own(world, _claims(world)), "X-Purpose": "cme"})
    assert r.status_code == 200


@pytest.mark.parametrize("kind", ["expired", "wrong audience", "wrong issuer", "forged key", "alg none",
                                  "HS/RS confusion", "tampered payload", "garbage"])
def test_bad_tokens_get_401(world, kind):
    r = httpx.get(world["server"].url + "/v1/cme",
                  headers={"Authorization": "Bearer " + _forged_tokens(world)[kind], "X-Purpose": "cme"})
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_endpoint_refuses_bad_clients(world):
    url = world["server"].url + "/oauth/token"
    client, secret = world["creds"]["ap"]
    assert httpx.post(url, data={"grant_type": "client_credentials"}, auth=(client.client_id, "wrong")).status_code == 401
    assert httpx.post(url, data={"grant_type": "password"}, auth=(client.client_id, secret)).status_code == 400
    ok = httpx.post(url, data={"grant_type": "client_credentials", "client_id": client.client_id,
                               "client_secret": secret})
    assert ok.status_code == 200 and ok.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- views

def test_cme_list_for_a_social_worker(world):
    r = call(world, "sw", "GET", "/v1/cme?page=1&page_size=5", "cme")
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] >= len(page["children"]) > 0
    child = page["children"][0]
    assert child["reason"] in {"never on a school roll", "off roll"}
    assert child["addresses"] and all("as_of" in a for a in child["addresses"])
    second = call(world, "sw", "GET", "/v1/cme?page=2&page_size=5", "cme").json()
    assert {c["child_id"] for c in second["children"]}.isdisjoint({c["child_id"] for c in page["children"]})
    filtered = call(world, "sw", "GET", "/v1/cme?known_to=social_care&min_age=10&max_age=16", "cme").json()
    assert filtered["total"] <= page["total"]
    # The worklist's own fields, and the absence rule: absent N days in the latest term, not only never present.
    assert child["name"]["surname"] and child["age"] is not None and child["latest_address"]["as_of"]
    absent = call(world, "sw", "GET", "/v1/cme?absent_days=3&page_size=100&sort=name", "cme").json()
    on_roll = [c for c in absent["children"] if c["reason"] == "absent this term"]
    assert absent["total"] > page["total"] and on_roll
    assert all(3 <= c["absence"]["days_absent"] <= c["absence"]["sessions_possible"] / 2 for c in on_roll)
    assert any(c["absence"]["days_absent"] < c["absence"]["sessions_possible"] / 2 for c in on_roll)   # attended some
    names = [(c["name"]["surname"].casefold(), c["name"]["forename"].casefold()) for c in absent["children"]]
    assert names == sorted(names)
    assert call(world, "sw", "GET", "/v1/cme?area=not-a-district", "cme").status_code == 422


def test_lookup_reports_all_problems_at_once_and_refuses_oversized_bodies(world):
    r = call(world, "ap", "POST", "/v1/lookup", "admission", json={
        "forename": "=cmd|' /C calc'!A0", "surname": "", "date_of_birth": "1901-01-01", "upn": "A801200005001"})
    assert r.status_code == 422
    fields = {tuple(e["loc"])[-1] for e in r.json()["detail"]}
    assert {"forename", "surname", "date_of_birth", "upn"} <= fields
    assert "calc" not in r.text                                              # input is not echoed
    big = call(world, "ap", "POST", "/v1/lookup", "admission",
               content=b'{"forename": "' + b"a" * 200_000 + b'"}', headers={"content-type": "application/json"})
    assert big.status_code == 413
    # Chunked bodies carry no length; they are counted as they arrive.
    chunked = call(world, "ap", "POST", "/v1/lookup", "admission", headers={"content-type": "application/json"},
                   content=iter([b'{"forename": "'] + [b"a" * 10_000] * 20 + [b'"}']))
    assert chunked.status_code == 413 and chunked.headers["x-request-id"]
    f, s, dob, pc = world["demo"]
    small = call(world, "ap", "POST", "/v1/lookup", "admission", headers={"content-type": "application/json"},
                 content=iter([json.dumps({"forename": f, "surname": s}).encode()[:-1],
                               f', "date_of_birth": "{dob}"}}'.encode()]))
    assert small.status_code == 200 and small.json()["match"]


def test_break_glass_for_safeguarding_roles_only_and_flagged(world):
    ref = pseudonym(world, "dsl", "admission")
    just = "Child disclosed harm at the gate; need history before the strategy meeting."
    refused = call(world, "ap", "POST", f"/v1/children/{ref}/break-glass", "safeguarding", json={"justification": just})
    assert refused.status_code == 403
    r = call(world, "dsl", "POST", f"/v1/children/{ref}/break-glass", "safeguarding", json={"justification": just})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["break_glass"] and "social_care_episodes" in body["sections"]
    assert "Break-glass" in body["lawful_basis"]["social_care.episodes"]
    flagged = call(world, "dpo", "GET", "/v1/audit?break_glass=true", "audit").json()
    assert any(e["decision"] == "allow" and e["action"] == "view" for e in flagged["entries"])
    reviews = call(world, "dpo", "GET", "/v1/audit/break-glass", "audit").json()
    assert reviews[-1]["justification"] == just
    # Free text that may name people is sealed at rest; the DPO reads it through the API.
    state = b"".join(p.read_bytes() for p in world["home"].glob("service.sqlite*"))   # with its WAL
    assert b"disclosed harm" not in state and b"sealed:v1:" in state


def test_dpo_search_subject_access_and_verify(world):
    # Its own traffic, whatever ran before: a school and a social worker read the child, and the
    # school is refused a purpose it does not have.
    for who, purpose in (("ap", "admission"), ("sw", "safeguarding")):
        assert call(world, who, "GET", f"/v1/children/{pseudonym(world, who, purpose)}", purpose).status_code == 200
    assert call(world, "ap", "GET", f"/v1/children/{pseudonym(world, 'ap', 'admission')}",
                "safeguarding").status_code == 403
    r = call(world, "dpo", "GET", f"/v1/audit/subject/{world['child']}", "audit")
    assert r.status_code == 200
    seen = r.json()["entries"]
    assert {e["agency_type"] for e in seen} >= {"ap_school", "social_care"}
    assert all(world["child"] in e["child_id"] for e in seen)
    q = call(world, "dpo", "GET", "/v1/audit?decision=deny&agency=Oak AP Academy", "audit").json()
    assert q["total"] >= 1 and all(e["decision"] == "deny" for e in q["entries"])
    written = len(audit_lines(world))
    v = call(world, "dpo", "GET", "/v1/audit/verify", "audit").json()
    assert v["ok"] and v["entries"] >= written > 6                         # every entry written so far
    assert call(world, "sw", "GET", "/v1/audit/verify", "audit").status_code == 403
    cps = call(world, "dpo", "GET", "/v1/audit/checkpoints", "audit").json()
    assert cps["checkpoints"] and "PUBLIC KEY" in cps["public_key_pem"]
    raw = (world["home"] / "audit" / "log.jsonl").read_text()
    f, s, dob, pc = world["demo"]
    for value in (f, s, pc, dob.isoformat()):                              # no raw personal data
        assert not re.search(rf"\b{re.escape(value)}\b", raw), value


def test_openapi_fuzzing_gives_no_server_errors(world):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(world["server"].url + "/openapi.json")
    headers = {"Authorization": "Bearer " + token(world, "sw"), "X-Purpose": "safeguarding"}
    failures, exercised = [], {}
    for result in schema.get_all_operations():
        op = result.ok()

        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case):
            response = case.call(base_url=world["server"].url, headers={**headers, **(case.headers or {})})
            exercised[op.label] = exercised.get(op.label, 0) + 1
            if response.status_code >= 500:
                failures.append((op.label, response.status_code, response.text[:200]))

        run()
    assert failures == []
    assert len(exercised) >= 12 and sum(exercised.values()) >= 12 * 5, exercised


def test_next_months_link_runs_while_the_server_keeps_serving(world):
    """The server reads only its in-memory copy, so it holds no lock on the database."""
    import subprocess
    import sys

    before = pseudonym(world, "ap", "admission")
    run = subprocess.run([sys.executable, "-m", "linkage.cli", "link", "--data-dir", str(world["home"])],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert pseudonym(world, "ap", "admission") == before
    assert call(world, "ap", "GET", f"/v1/children/{before}", "admission").status_code == 200
