"""Signing in to the web pages with an OpenID Connect provider (tests/oidcprovider.py) on loopback,
in a real browser against a real ``linkage serve``."""

from __future__ import annotations

import json

import httpx
import pytest

from apiserver import Server
from oidcprovider import Provider
from playwright.sync_api import expect
from browserpages import ENV, Profile, accessible, add_user, csrf_token, shot, through

pytestmark = pytest.mark.e2e

AMY = "amy@oak-ap.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory, chromium):
    home = tmp_path_factory.mktemp("oidc") / "data"
    add_user(home, AMY, "Amy Adeyemi", "Oak AP Academy", "ap_school", "140001", "admissions")
    provider = Provider()
    server = Server(home, env={**ENV, **provider.env()})
    pages = Profile(chromium, server.url)
    yield {"home": home, "server": server, "provider": provider, "pages": pages}
    pages.close()
    server.stop()
    provider.stop()


def audit(world) -> list[dict]:
    path = world["home"] / "audit" / "log.jsonl"
    return [json.loads(line)["entry"] for line in path.read_text().splitlines()] if path.exists() else []


def council_sign_in(world, p) -> None:
    p.goto("/app/sign-in")
    through(p, p.get_by_role("button", name="Sign in with your council account"))


def test_a_registered_person_signs_in_with_the_council_account(world):
    world["provider"].identity = {"email": AMY, "email_verified": True, "name": "Amy A"}
    with world["pages"].page() as p:
        p.goto("/app/sign-in")
        accessible(p)
        shot(p, "sign-in-oidc")
        council_sign_in(world, p)
        p.wait_for_url("**/app/")
        assert p.get_by_test_id("signed-in-as").inner_text() == "Amy Adeyemi, Oak AP Academy"
        through(p, p.get_by_role("link", name="Find a child"))
        expect(p.get_by_role("heading", name="Find a child")).to_be_visible()
        cookies = {c["name"]: c for c in p.context.cookies()}
        assert cookies["linkage_session"]["sameSite"] == "Strict" and cookies["linkage_session"]["httpOnly"]
        assert "linkage_oidc" not in cookies                   # the flow's cookie is spent
    signed = [e for e in audit(world) if e["action"] == "web.sign_in" and e.get("person") == AMY]
    assert signed and signed[-1]["method"] == "oidc"


def test_an_unregistered_or_unverified_person_is_refused(world):
    for identity in ({"email": "mallory@elsewhere.example", "email_verified": True},
                     # Amy's address, unverified, at a subject not hers (the provider's subject for her, the
                     # stand-in's default, her email, is hers whatever the email claim says)
                     {"sub": "not-amy", "email": AMY, "email_verified": False}):
        world["provider"].identity = identity
        with world["pages"].page() as p:
            council_sign_in(world, p)
            expect(p.get_by_role("heading", name="You could not be signed in")).to_be_visible()
            p.goto("/app/")
            assert p.url.endswith("/app/sign-in")
    failed = [e for e in audit(world) if e["action"] == "security.sign_in_failed" and e.get("method") == "oidc"]
    assert len(failed) >= 2


def test_a_callback_without_the_flow_that_started_it_is_refused(world):
    """A code and state pasted into someone else's browser (login CSRF) signs no one in."""
    world["provider"].identity = {"email": AMY, "email_verified": True}
    url = world["server"].url
    with httpx.Client(base_url=url) as c:
        r = c.get("/app/sign-in/oidc/callback", params={"code": "x", "state": "y"})
        assert r.status_code == 403
    for tamper in ({"state": "forged"}, {"code": "forged"}):
        with httpx.Client(base_url=url) as c:
            r = flow(c, world["provider"], tamper)
            assert r.status_code == 403 and "could not be signed in" in r.text
            assert c.get("/app/").status_code == 303                         # not signed in
    with httpx.Client(base_url=url) as c:                                   # untampered, the same flow works
        assert flow(c, world["provider"]).status_code == 200 and c.get("/app/").status_code == 200


def flow(c: httpx.Client, provider: Provider, tamper: dict | None = None) -> httpx.Response:
    """The browser's part of a sign-in, by hand: the callback's response."""
    r = c.post("/app/sign-in/oidc", data={"csrf_token": csrf_token(c.get("/app/sign-in").text)})
    assert r.status_code == 302 and r.headers["location"].startswith(provider.issuer)
    back = httpx.get(r.headers["location"]).headers["location"]                # the provider sends us back
    return c.get("/app/sign-in/oidc/callback", params=dict(httpx.URL(back).params) | (tamper or {}))


def test_org_and_role_claims_name_a_registered_organisation_and_one_of_its_roles(world):
    """With the claim mapping, the provider says where someone works and as what; linkage checks
    the organisation is registered and the role is one of its type's, and records the person."""
    provider = world["provider"]
    server = Server(world["home"], env={**ENV, **provider.env(LINKAGE_OIDC_ORG_CLAIM="org",
                                                              LINKAGE_OIDC_ROLE_CLAIM="role")})
    try:
        for org, role, ok in (("140001", "ap_leader", True), ("140001", "dpo", False),
                              ("999999", "admissions", False)):
            provider.identity = {"email": "sam@oak-ap.example", "name": "Sam Shah", "org": org, "role": role}
            with httpx.Client(base_url=server.url) as c:
                r = flow(c, provider)
                assert (r.status_code == 200) == ok and (c.get("/app/").status_code == 200) == ok
                if ok:
                    assert "<bdi>Sam Shah</bdi>, <bdi>Oak AP Academy</bdi>" in c.get("/app/").text
    finally:
        server.stop()
    entries = [e for e in audit(world) if e.get("method") == "oidc" and e.get("person") == "sam@oak-ap.example"]
    assert [e["action"] for e in entries][:1] == ["web.sign_in"] and entries[0]["role"] == "ap_leader"


def test_the_person_is_known_by_the_providers_subject_not_by_an_email_anyone_may_claim(world):
    """A provider may let people set their own email address (a self-service profile; Microsoft's own
    advice is never to authorise on it): the sign-in named whoever's address the claim held, and a
    person whose address changed was refused. Now the first sign-in records the provider's subject
    (`sub`, never given to anyone else) and the person is that subject after it: a new address still
    signs them in, and anyone else claiming their address is refused, in the audit log for the DPO."""
    provider, url = world["provider"], world["server"].url
    ben = "ben@oak-ap.example"
    add_user(world["home"], ben, "Ben Okafor", "Oak AP Academy", "ap_school", "140001", "admissions")
    for identity, ok in (({"sub": "7c1e-ben", "email": ben}, True),               # first: found by email
                         ({"sub": "7c1e-ben", "email": "ben.okafor@oak-ap.example"}, True),
                         ({"sub": "7c1e-ben"}, True),                              # no email scope at all
                         ({"sub": "f00d-mallory", "email": ben}, False)):          # Ben's address, not Ben
        provider.identity = {**identity, "email_verified": True}
        with httpx.Client(base_url=url) as c:
            r = flow(c, provider)
            assert (r.status_code == 200) == ok, identity
            assert ("<bdi>Ben Okafor</bdi>" in c.get("/app/").text) == ok
    failed = [e for e in audit(world) if e["action"] == "security.sign_in_failed" and e.get("method") == "oidc"]
    assert "registered to another of the provider's subjects" in failed[-1]["reason"]


def test_an_email_the_provider_says_is_not_verified_names_no_one_however_it_says_so(world):
    """Some providers send ``email_verified`` as a string (Amazon Cognito's userinfo): "false" is
    not ``False``, and a stranger's first sign-in with a registered person's unverified address
    was that person, their subject recorded as hers, and she was then locked out. A refused sign-in's
    audit entry named no subject, so the DPO could not tell who had tried."""
    provider, url = world["provider"], world["server"].url
    cara = "cara@oak-ap.example"
    add_user(world["home"], cara, "Cara Doyle", "Oak AP Academy", "ap_school", "140001", "admissions")
    for identity, ok in (({"sub": "bad-mallory", "email": cara, "email_verified": "false"}, False),
                         ({"sub": "bad-mallory", "email": cara, "email_verified": "False "}, False),
                         ({"sub": "bad-mallory", "email": cara, "email_verified": 0}, False),
                         ({"sub": "9a1b-cara", "email": cara, "email_verified": "true"}, True)):  # Cara herself
        provider.identity = identity
        with httpx.Client(base_url=url) as c:
            r = flow(c, provider)
            assert (r.status_code == 200) == ok, identity
            assert ("<bdi>Cara Doyle</bdi>" in c.get("/app/").text) == ok
    # Each refusal names the subject that tried, for the DPO (its security page shows it).
    failed = [e for e in audit(world) if e["action"] == "security.sign_in_failed" and e.get("method") == "oidc"]
    assert [(e["reason"], e.get("idp_subject")) for e in failed[-3:]] == [("email not verified", "bad-mallory")] * 3


def _users_command(world, *args: str) -> str:
    """`linkage users ...` on the server's data directory, configured as the server is."""
    from typer.testing import CliRunner

    from linkage.cli import app
    from linkage.config import get_settings

    env = {**ENV, **world["provider"].env()}
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["users", *args, "--data-dir", str(world["home"])], env=env)
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    return done.output


def _signs_in(world, identity: dict, name: str, server=None) -> bool:
    world["provider"].identity = identity
    with httpx.Client(base_url=(server or world["server"]).url) as c:
        ok = flow(c, world["provider"]).status_code == 200
        return ok and f"<bdi>{name}</bdi>" in c.get("/app/").text


def test_a_cleared_subject_lets_no_one_in_by_the_persons_email_until_the_operator_says(world):
    """`linkage users subject --clear` reopened the one-time email match: the next sign-in with the
    person's address, a stranger's who had set it as theirs at the provider, recorded the stranger's
    subject as the person's. Now the match stays closed until the operator records the subject or
    opens the match (`--allow-email-match`), and each refusal says why to the DPO."""
    dee = "dee@oak-ap.example"
    add_user(world["home"], dee, "Dee Brown", "Oak AP Academy", "ap_school", "140001", "admissions")
    person = {"email": dee, "email_verified": True}
    assert _signs_in(world, {**person, "sub": "dee-1"}, "Dee Brown")
    said = _users_command(world, "subject", dee, "--clear")
    assert not _signs_in(world, {**person, "sub": "mallory-dee"}, "Dee Brown")     # a stranger with her address
    assert "names no one there" in said
    assert not _signs_in(world, {**person, "sub": "dee-2"}, "Dee Brown")           # her new account, too
    failed = [e for e in audit(world) if e["action"] == "security.sign_in_failed" and e.get("method") == "oidc"]
    assert [e.get("idp_subject") for e in failed[-2:]] == ["mallory-dee", "dee-2"]
    assert all("was cleared" in e["reason"] for e in failed[-2:])
    assert "found by their email" in _users_command(world, "subject", dee, "--clear", "--allow-email-match")
    assert _signs_in(world, {**person, "sub": "dee-2"}, "Dee Brown")
    assert not _signs_in(world, {**person, "sub": "mallory-dee"}, "Dee Brown")
    changes = [e for e in audit(world) if e["action"] == "admin.user_subject_set" and e.get("target_person") == dee]
    assert [e.get("email_match") for e in changes] == ["closed", "open"]


def test_the_persons_subject_names_them_whatever_email_verified_says_and_its_recording_is_audited(world):
    """A person already known by the provider's subject was refused when the email claim said it was
    not verified, though the subject, not the email, names them. The first sign-in, which records
    the subject (matched by email), was audited as any other sign-in: the DPO could not see whose
    subject was taken as the person's, nor when."""
    eli = "eli@oak-ap.example"
    add_user(world["home"], eli, "Eli Kaur", "Oak AP Academy", "ap_school", "140001", "admissions")
    assert _signs_in(world, {"sub": "eli-1", "email": eli, "email_verified": True}, "Eli Kaur")
    for identity in ({"sub": "eli-1", "email": eli, "email_verified": False},
                     {"sub": "eli-1", "email": "eli.k@elsewhere.example", "email_verified": "false"},
                     {"sub": "eli-1", "email_verified": False}):
        assert _signs_in(world, identity, "Eli Kaur"), identity
    assert not _signs_in(world, {"sub": "eli-other", "email": eli, "email_verified": False}, "Eli Kaur")
    signed = [e for e in audit(world) if e["action"] == "web.sign_in" and e.get("person") == eli]
    assert [(e.get("subject_recorded"), e.get("idp_subject")) for e in signed] == [
        ("first sign-in", "eli-1")] + [(None, None)] * 3
    assert signed[0]["idp_issuer"] == world["provider"].issuer


def test_a_token_from_another_issuer_than_the_configured_provider_names_no_one(world):
    """Authlib checks the ID token's issuer against the discovery document's, and nothing checked the
    document's against `LINKAGE_OIDC_ISSUER`: a document naming another issuer had its tokens'
    subjects recorded under it, a person matched by email. And an ID token whose issuer Authlib
    refused was a 500 with a traceback, not a refusal."""
    provider = world["provider"]
    fay = "fay@oak-ap.example"
    fay_id = add_user(world["home"], fay, "Fay Lee", "Oak AP Academy", "ap_school", "140001", "admissions")
    other = "https://login.other.example/tenant/v2.0"
    provider.metadata_issuer = other
    server = Server(world["home"], env={**ENV, **provider.env()})     # a new server reads the new document
    try:
        assert not _signs_in(world, {"sub": "fay-x", "iss": other, "email": fay, "email_verified": True},
                             "Fay Lee", server)
    finally:
        provider.metadata_issuer = None
        server.stop()
    provider.identity = {"sub": "fay-y", "iss": "https://forged.example", "email": fay, "email_verified": True}
    with httpx.Client(base_url=world["server"].url) as c:
        r = flow(c, provider)
        assert r.status_code == 403 and "could not be signed in" in r.text
    failed = [e for e in audit(world) if e["action"] == "security.sign_in_failed" and e.get("method") == "oidc"]
    assert "not the configured provider's" in failed[-2]["reason"] and "ID token" in failed[-1]["reason"]
    from linkage.access.users import UserRegistry
    from linkage.store.state import ServiceState

    state = ServiceState(world["home"])
    try:
        assert UserRegistry(state).subjects(fay_id) == {}
    finally:
        state.close()


def test_forgetting_or_replacing_the_persons_subject_ends_the_sessions_it_began(world):
    """A session begun by a provider's sign-in outlived `linkage users subject --clear` (a wrong
    subject recorded, an account re-made or taken over at the provider) and `--idp-subject` naming
    another: the holder of the old subject's browser kept the person's pages until the session went
    idle. Now the next request ends it, on the DPO's record (``security.session_ended``); recording
    the same subject again ends nothing."""
    eve = "eve@oak-ap.example"
    add_user(world["home"], eve, "Eve Green", "Oak AP Academy", "ap_school", "140001", "admissions")
    # (the subject she signs in with: hers then, or her address matched; the operator's change)
    for sub, change in (("eve-1", ("--idp-subject", "eve-1")), ("eve-1", ("--clear", "--allow-email-match")),
                        ("eve-2", ("--idp-subject", "eve-3"))):
        world["provider"].identity = {"email": eve, "email_verified": True, "sub": sub}
        with httpx.Client(base_url=world["server"].url) as c:
            assert flow(c, world["provider"]).status_code == 200
            assert "<bdi>Eve Green</bdi>" in c.get("/app/").text
            _users_command(world, "subject", eve, *change)
            page = c.get("/app/")
            same = change == ("--idp-subject", "eve-1")
            assert (page.status_code == 200 and "<bdi>Eve Green</bdi>" in page.text) == same, (change, page.status_code)
            if not same:
                assert page.status_code == 303 and "/sign-in" in page.headers["location"]
    ended = [e for e in audit(world) if e["action"] == "security.session_ended" and e.get("person") == eve]
    assert len(ended) == 2
