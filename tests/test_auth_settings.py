"""An external identity provider through its JWKS, and settings that refuse insecure values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from pydantic import ValidationError

from apiserver import Server
from idp import ISSUER
from linkage.access.clients import ClientRegistry
from linkage.access.orgs import OrgRegistry
from linkage.access.tokens import JsonWebToken
from linkage.config import Settings
from linkage.store.state import ServiceState

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory, idp):
    home = tmp_path_factory.mktemp("idp") / "data"
    orgs = OrgRegistry(ServiceState(home))
    orgs.add("Northshire Children's Services", "social_care", "873")
    orgs.add("Northshire Community Health", "health", "RYX")
    clients = ClientRegistry(ServiceState(home))          # the provider's machine clients its tokens name
    clients.add("Case system", "873", "social_worker", idp_issuer=ISSUER, idp_subject="sw-42")
    clients.add("Health feed", "RYX", "school_nurse", idp_issuer=ISSUER, idp_subject="nurse-1")
    s = Server(home, env=idp.env)
    yield s
    s.stop()


def idp_token(idp, org="873", role="social_worker", **over) -> str:
    return idp.token(org, role, **over)


def get(server, tok):
    return httpx.get(server.url + "/v1/cme", headers={"Authorization": f"Bearer {tok}", "X-Purpose": "cme"})


def test_external_idp_token_is_trusted(server, idp):
    assert get(server, idp_token(idp)).status_code == 200
    assert get(server, idp_token(idp, org="org_" + "0" * 16)).status_code == 401    # not registered
    assert get(server, idp_token(idp, org="RYX", role="school_nurse", sub="nurse-1")).status_code == 403  # not for cme
    assert get(server, idp_token(idp, org="RYX", role="social_worker")).status_code == 401  # not a health role
    assert get(server, idp_token(idp, org="RYX", role="school_nurse")).status_code == 401   # not the client's


def test_external_idp_wrong_audience_or_expired_is_401(server, idp):
    assert get(server, idp_token(idp, aud="someone-else")).status_code == 401
    assert get(server, idp_token(idp, exp=int(time.time()) - 100)).status_code == 401


def test_external_idp_hs_confusion_with_its_public_key_is_401(server, idp):
    key = idp.key
    import base64
    import hashlib
    import hmac

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    pem = key.as_pem(is_private=False)   # the attacker knows the IdP's public key
    head = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64({
        "iss": "https://idp.example.gov.uk", "aud": "linkage", "sub": "x", "exp": int(time.time()) + 60,
        "linkage_org": "873", "linkage_role": "social_worker"})
    sig = base64.urlsafe_b64encode(hmac.new(pem, head.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    assert get(server, f"{head}.{sig}").status_code == 401


def test_external_token_missing_organisation_claims_is_401(server, idp):
    now = int(time.time())
    bare = JsonWebToken(["RS256"]).encode({"alg": "RS256"}, {
        "iss": "https://idp.example.gov.uk", "aud": "linkage", "sub": "x", "iat": now, "exp": now + 60},
        idp.key).decode()
    assert get(server, bare).status_code == 401


@pytest.mark.parametrize("env,message", [
    ({"LINKAGE_EXTERNAL_ALGORITHMS": '["HS256"]'}, "insecure token algorithms"),
    ({"LINKAGE_EXTERNAL_ALGORITHMS": '["none"]'}, "insecure token algorithms"),
    ({"LINKAGE_JWKS_URL": "http://idp.example.gov.uk/jwks", "LINKAGE_EXTERNAL_ISSUER": "i",
      "LINKAGE_EXTERNAL_AUDIENCE": "a"}, "https"),
    ({"LINKAGE_JWKS_URL": "https://idp.example.gov.uk/jwks"}, "ISSUER"),
    ({"LINKAGE_HOST": "0.0.0.0"}, "ALLOW_REMOTE"),
    ({"LINKAGE_TOKEN_TTL_SECONDS": "86400"}, "less than or equal"),
    ({"LINKAGE_MAX_TOKEN_LIFETIME_SECONDS": "7200"}, "less than or equal"),
    ({"LINKAGE_TOKEN_TTL_SECONDS": "600", "LINKAGE_MAX_TOKEN_LIFETIME_SECONDS": "300"}, "at least"),
    ({"LINKAGE_LOCKOUT_SECONDS": "5"}, "greater than or equal"),
    ({"LINKAGE_DB_KEY": "short"}, "32 characters"),
    # A claim the person may change would name whoever changed it (session 30).
    ({"LINKAGE_IDP_SUBJECT_CLAIM": "email"}, "may not be email"),
    ({"LINKAGE_IDP_SUBJECT_CLAIM": "preferred_username"}, "may not be preferred_username"),
    # The application's id: in a person's token through it too, who was then its machine client (session 30).
    ({"LINKAGE_IDP_SUBJECT_CLAIM": "azp"}, "may not be azp"),
    ({"LINKAGE_IDP_SUBJECT_CLAIM": "client_id"}, "may not be client_id"),
    ({"LINKAGE_IDP_SUBJECT_CLAIM": "appid"}, "may not be appid"),
    # An ID token for the staff sign-in would open the API (session 28).
    ({"LINKAGE_OIDC_ISSUER": "https://idp.example.gov.uk/realms/la", "LINKAGE_OIDC_CLIENT_ID": "linkage-web",
      "LINKAGE_OIDC_CLIENT_SECRET": "s", "LINKAGE_JWKS_URL": "https://idp.example.gov.uk/jwks",
      "LINKAGE_EXTERNAL_ISSUER": "https://idp.example.gov.uk/realms/la/", "LINKAGE_EXTERNAL_AUDIENCE": "linkage-web"},
     "may not be LINKAGE_OIDC_CLIENT_ID"),
])
def test_settings_refuse_insecure_values(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_clients_add_prints_the_secret_once_and_stores_only_a_hash(tmp_path):
    from typer.testing import CliRunner

    from linkage.cli import app

    run = CliRunner().invoke
    home = ["--data-dir", str(tmp_path)]
    org = run(app, ["orgs", "add", "--name", "Oak AP Academy", "--type", "ap_school", "--code", "141234", *home])
    assert org.exit_code == 0, org.output
    out = run(app, ["clients", "add", "--name", "Oak", "--org", "141234", "--role", "admissions", *home])
    assert out.exit_code == 0, out.output
    secret = out.output.split("client_secret: ")[1].split()[0]
    assert secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("service.sqlite*"))
    bad = run(app, ["orgs", "add", "--name", "X", "--type", "bank", "--code", "123", *home])
    assert bad.exit_code == 2 and "organisation type must be one of" in bad.output


def test_a_remembered_signature_does_not_outlive_the_token(tmp_path, monkeypatch):
    """The service remembers which of its tokens it found correctly signed, but checks their
    times on every use: the same token string is refused once it has expired, and a forged
    twin (one character changed) is checked afresh and refused."""
    from linkage.access.tokens import AuthError, TokenService

    tokens = TokenService(tmp_path, Settings(token_ttl_seconds=60))
    token, ttl = tokens.issue("lk_1", "org_1", 0)
    assert tokens.verify(token).client_id == "lk_1" and tokens.remembers(token)
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(AuthError):
        tokens.verify(forged)
    assert not tokens.remembers(forged)
    later = time.time() + ttl + 60
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthError, match="expired"):
        tokens.verify(token)


def test_a_remembered_token_is_refused_whenever_a_full_check_would_refuse_it(tmp_path, monkeypatch):
    """Verifying a remembered token skips the claims' checks while they cannot have changed: it
    must still refuse exactly when the full check does: just past expiry (with the leeway), and
    when the clock has gone back to before the token was issued."""
    from linkage.access.tokens import LEEWAY, AuthError, TokenService

    tokens = TokenService(tmp_path, Settings(token_ttl_seconds=60))
    token, _ = tokens.issue("lk_1", "org_1", 0)
    issued = time.time()
    for _ in range(3):
        assert tokens.verify(token).client_id == "lk_1"
    exp = int(issued) + 60
    monkeypatch.setattr(time, "time", lambda: exp + LEEWAY - 0.5)
    assert tokens.verify(token).client_id == "lk_1"            # within the leeway, as authlib allows
    monkeypatch.setattr(time, "time", lambda: exp + LEEWAY + 1.5)      # authlib takes whole seconds
    with pytest.raises(AuthError, match="expired"):
        tokens.verify(token)
    monkeypatch.setattr(time, "time", lambda: issued - LEEWAY - 30)   # the clock set back
    with pytest.raises(AuthError):
        tokens.verify(token)


@pytest.mark.parametrize("command", [["clients", "list"], ["serve"]])
def test_a_wrong_setting_is_one_line_that_never_repeats_its_value(tmp_path, command):
    """A truncated or mistyped key (a LINKAGE_DB_KEY under 32 characters) made `linkage clients list`
    print a traceback, and `linkage serve` pydantic's whole error, each repeating the key
    (``input_value='...'``) on the terminal and into the service's log."""
    secret = "Truncated-Key-" + uuid.uuid4().hex[:10]
    done = subprocess.run([sys.executable, "-m", "linkage.cli", *command, "--data-dir", str(tmp_path / "data")],
                          env={**os.environ, "LINKAGE_DB_KEY": secret}, capture_output=True, text=True, timeout=120)
    said = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in said, said
    assert secret not in said and len(said.strip().splitlines()) == 1 and "LINKAGE_DB_KEY" in said, said


def audit(server) -> list[dict]:
    return [json.loads(line)["entry"] for line in (server.home / "audit" / "log.jsonl").read_text().splitlines()]


def test_a_person_is_known_by_the_providers_subject_whatever_else_the_token_claims(server, idp):
    """A provider's token for a member of staff whom `linkage users` had disabled was refused only while it
    named their email: the same person asking the provider for a token without the email scope, or after
    changing the address, was taken for a machine client or a stranger ("the provider's word") until it
    expired. The register now knows the person by the provider's subject (OpenID Connect's `sub`, never
    given to anyone else), and a subject it holds for no person and no client is refused."""
    from linkage.access.users import UserRegistry

    users = UserRegistry(ServiceState(server.home))
    tag = uuid.uuid4().hex[:6]
    email, subject = f"sam-{tag}@northshire-csc.example", f"9f3c-{tag}"
    sam, _ = users.add(email, "Sam Shah", "873", "social_worker")
    users.set_subject(email, ISSUER + "/", subject)          # the issuer as a setting may end in a slash
    assert get(server, idp_token(idp, sub=subject)).status_code == 200                   # no email claim
    assert get(server, idp_token(idp, sub=subject, email="sam@elsewhere.example")).status_code == 200
    assert any(e.get("client_id") == f"user:{sam.user_id}" and e["decision"] == "allow" for e in audit(server))
    assert get(server, idp_token(idp, sub=subject, org="RYX", role="school_nurse")).status_code == 401  # not theirs
    users.set_active(email, False)
    for claims in ({}, {"email": email}, {"email": f"sam.shah-{tag}@northshire-csc.example"}):
        assert get(server, idp_token(idp, sub=subject, **claims)).status_code == 401
    for claims in ({}, {"email": f"new-{tag}@northshire-csc.example"}):                # a subject nobody holds
        assert get(server, idp_token(idp, sub=f"stranger-{tag}", **claims)).status_code == 401
    # Each refusal is in the audit log, with why and (when the register knows) whose, for the DPO.
    refused = [(e.get("reason"), e.get("person"), e.get("idp_subject")) for e in audit(server)
               if e["action"] == "security.unauthenticated" and e.get("reason")]
    assert refused.count(("person_disabled", email, subject)) == 3
    assert ("person_other_organisation_or_role", email, subject) in refused
    assert refused.count(("subject_not_registered", None, f"stranger-{tag}")) == 2      # what to register


def test_a_machine_client_of_the_provider_is_registered_and_stopped_like_our_own(server, idp):
    """A machine client's token (client credentials) is told from a person's by the register, which holds
    its subject (`linkage clients add --idp-subject`), never by a claim a person could leave out."""
    clients = ClientRegistry(ServiceState(server.home))
    tag = uuid.uuid4().hex[:6]
    feed, secret = clients.add("Referrals feed", "873", "social_worker", idp_issuer=ISSUER, idp_subject=f"feed-{tag}")
    assert secret == "" and clients.authenticate(feed.client_id, "").outcome == "unknown"   # none of our tokens
    assert get(server, idp_token(idp, sub=feed.idp_subject)).status_code == 200
    assert any(e.get("client_id") == feed.client_id and e["decision"] == "allow" for e in audit(server))
    assert get(server, idp_token(idp, sub=feed.idp_subject, role="team_manager")).status_code == 401
    clients.set_active(feed.client_id, False)
    assert get(server, idp_token(idp, sub=feed.idp_subject)).status_code == 401
    assert ("client_disabled" in [e.get("reason") for e in audit(server) if e["action"] == "security.unauthenticated"])


def test_a_subject_is_matched_exactly_never_with_spaces_trimmed(server, idp):
    """OpenID Connect compares subjects exactly. The token's subject was stripped, Python's way (any
    Unicode space), so a provider that lets people choose their name as the subject gave whoever took
    "sw-42 " or "sw-42" followed by a no-break space the registered machine client "sw-42"'s access."""
    assert get(server, idp_token(idp, sub="sw-42")).status_code == 200
    for near in ("sw-42 ", " sw-42", "sw-42\u00a0", "\u3000sw-42", "sw-42\n"):
        assert get(server, idp_token(idp, sub=near)).status_code == 401, repr(near)
    refused = [e.get("idp_subject") for e in audit(server) if e.get("reason") == "subject_not_registered"]
    assert "sw-42\u00a0" in refused          # the DPO sees the subject as it came


def test_the_dpo_sees_the_subject_a_refused_provider_token_named(tmp_path, idp):
    """A provider's token whose subject the register does not hold is refused, and its audit entry
    names the subject. With Microsoft Entra ID the subject is `oid` (LINKAGE_IDP_SUBJECT_CLAIM), not
    the `sub` the DPO's security events showed as the caller: the one thing to register (or to
    recognise as someone probing) was only in the raw log."""
    from browserpages import ENV, PASSWORD, add_user, csrf_token

    home = tmp_path / "data"
    OrgRegistry(ServiceState(home)).add("Northshire Children's Services", "social_care", "873")
    add_user(home, "dee@northshire.example", "Dee Okafor", "Northshire Council", "dpo", "801", "dpo")
    s = Server(home, env={**idp.env, **ENV, "LINKAGE_IDP_SUBJECT_CLAIM": "oid"})
    try:
        assert get(s, idp_token(idp, sub="pairwise-01", oid="casesys-7f2")).status_code == 401
        with httpx.Client(base_url=s.url) as c:
            form = {"email": "dee@northshire.example", "password": PASSWORD,
                    "csrf_token": csrf_token(c.get("/app/sign-in").text)}
            assert c.post("/app/sign-in", data=form).status_code in (302, 303)
            page = c.get("/app/dpo/security").text
        assert "subject not registered" in page and "<bdi>casesys-7f2</bdi>" in page
    finally:
        s.stop()


def test_a_provider_token_from_before_an_organisation_was_disabled_is_refused_once_it_is_enabled(server, idp):
    """The provider's tokens carry no generation of ours: one issued before an organisation was disabled
    worked again as soon as it was enabled (ours do not). Refused now (``revoked_at``), the DPO told why;
    a token the provider issues after the enable is taken (``tests/security/test_provider_revocation.py``
    for clients and people)."""
    tag = uuid.uuid4().hex[:6]
    code = str(900 + int(tag, 16) % 99)
    orgs = OrgRegistry(ServiceState(server.home))
    orgs.add(f"Eastshire Children's Services {tag}", "social_care", code)
    ClientRegistry(ServiceState(server.home)).add("Case system", code, "social_worker", idp_issuer=ISSUER,
                                                  idp_subject=f"east-{tag}")
    old = idp_token(idp, org=code, sub=f"east-{tag}", iat=int(time.time()) - 30)
    assert get(server, old).status_code == 200
    orgs.set_active(code, False)
    assert get(server, old).status_code == 401
    orgs.set_active(code, True)
    assert get(server, old).status_code == 401
    assert get(server, idp_token(idp, org=code, sub=f"east-{tag}", iat=int(time.time()) + 1)).status_code == 200
    assert [e.get("reason") for e in audit(server) if e.get("idp_subject") == f"east-{tag}"
            and e["action"] == "security.unauthenticated"] == ["client_disabled", "token_before_revocation"]
