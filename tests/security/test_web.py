"""Attacks on the staff web pages: forged forms, fixed or stolen sessions, guessing passwords,
markup in names, framing, and a disabled organisation's people carrying on.

Each test drives a real ``linkage serve`` (tests/apiserver.py) over plain HTTP, as an
attacker would, with the real CLI where an administrator acts (in this process: tests/incli.py).
"""

from __future__ import annotations

import json

import httpx
import pytest

import incli
from apiserver import Server
from browserpages import ENV, PASSWORD, add_user, csrf_token

pytestmark = pytest.mark.e2e

AMY, EVE = "amy@oak-ap.example", "eve@elm.example"
# One TLS context for the module's hundred clients (made as httpx makes its own, the checks
# unchanged): each client made one from the system's certificates, 20 to 30 ms of CPU, on plain HTTP too.
TLS = httpx.create_ssl_context()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("webattack") / "data"
    add_user(home, AMY, "Amy <script>alert(1)</script>", "Oak AP Academy", "ap_school", "140001", "admissions")
    add_user(home, EVE, "Eve Elm", "Elm School", "school", "100001", "admissions")
    # The trusted proxy: a request without X-Forwarded-For is from the connection's own address.
    # The per-email throttle refills one attempt in 100 minutes, not one in 6 s: a test that finds it
    # spent must still find it spent a request later, however long a loaded machine takes over it
    # (a refill between them let the attempt through, to the lock-out's answer instead).
    server = Server(home, env={**ENV, "LINKAGE_LOCKOUT_AFTER_FAILURES": "3", "LINKAGE_WEB_SIGNIN_BURST": "20",
                               "LINKAGE_WEB_SIGNIN_PER_MINUTE": "0.01", "LINKAGE_TRUSTED_PROXIES": "127.0.0.1"})
    yield {"home": home, "url": server.url}
    server.stop()


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def signed_in(world, email: str = AMY) -> httpx.Client:
    c = httpx.Client(verify=TLS, base_url=world["url"])
    r = c.post("/app/sign-in", data={"email": email, "password": PASSWORD,
                                     "csrf_token": csrf_token(c.get("/app/sign-in").text)})
    assert r.status_code == 303 and r.headers["location"] == "/app/", r.text
    return c


def test_a_cross_site_form_cannot_sign_anyone_in_or_out(world):
    """Login CSRF and forced sign-out: without the session's token, nothing happens. A form with no
    session at all (another site's: the strict cookie stays behind) was refused without a trace
    (session 28): now a `security.csrf_refused` naming no one."""
    with httpx.Client(verify=TLS, base_url=world["url"]) as c:
        before = len(audit(world))
        r = c.post("/app/sign-in", data={"email": AMY, "password": PASSWORD})
        # no session: nothing done, and the sign-in page says a form sent without a session was not saved
        assert r.status_code == 303 and r.headers["location"] == "/app/sign-in?ended=form"
        cross = [e for e in audit(world)[before:] if e["action"].startswith("security.")]
        assert [(e["action"], e["reason"], e["path"], e.get("person")) for e in cross] == [
            ("security.csrf_refused", "no_session", "/app/sign-in", None)], cross
        c.get("/app/sign-in")
        r = c.post("/app/sign-in", data={"email": AMY, "password": PASSWORD})    # a session, no token
        assert r.status_code == 403 and "set-cookie" not in r.headers
    c = signed_in(world)
    assert c.post("/app/sign-out", data={}).status_code == 403
    assert c.get("/app/").status_code == 200                                    # still signed in
    refused = [e for e in audit(world) if e["action"] == "security.csrf_refused"]
    assert refused and refused[-1]["person"] == AMY


def _issued(r: httpx.Response) -> str:
    return r.headers["set-cookie"].split(";")[0].split("=", 1)[1]


def test_a_session_id_chosen_by_an_attacker_is_never_signed_in(world):
    planted = "attacker-chosen-id-0123456789"
    url = world["url"]
    r = httpx.get(url + "/app/sign-in", cookies={"linkage_session": planted})
    issued = _issued(r)
    assert issued != planted                                             # replaced by one the server made
    r = httpx.post(url + "/app/sign-in", cookies={"linkage_session": issued},
                   data={"email": AMY, "password": PASSWORD, "csrf_token": csrf_token(r.text)})
    assert r.status_code == 303 and _issued(r) not in (planted, issued)  # and again on sign-in
    assert httpx.get(url + "/app/", cookies={"linkage_session": _issued(r)}).status_code == 200
    for stale in (planted, issued):
        assert httpx.get(url + "/app/", cookies={"linkage_session": stale}).status_code == 303


def test_a_signed_out_session_cannot_be_replayed(world):
    """Refused, but (session 28) without a trace: a stolen or invented session cookie is the pages'
    bad token, and the API's 401 for one was a security event. Each is now one entry for the DPO,
    never the cookie; a visit with no cookie is none."""
    c = signed_in(world)
    stolen = c.cookies["linkage_session"]
    assert c.post("/app/sign-out", data={"csrf_token": csrf_token(c.get("/app/").text)}).status_code == 200
    before = len(audit(world))
    with httpx.Client(verify=TLS, base_url=world["url"], cookies={"linkage_session": stolen}) as thief:
        assert thief.get("/app/").status_code == 303
    with httpx.Client(verify=TLS, base_url=world["url"], cookies={"linkage_session": "made-up"}) as forger:
        assert forger.post("/app/lookup", data={"csrf_token": "x"}).status_code == 303
    with httpx.Client(verify=TLS, base_url=world["url"]) as stranger:
        assert stranger.get("/app/").status_code == 303
    new = audit(world)[before:]
    refused = [(e["action"], e["decision"], e["reason"]) for e in new if e["action"].startswith("security.")]
    assert refused == [("security.session_refused", "refused", "no_such_session")] * 2, refused
    assert stolen not in json.dumps(new)


def test_guessing_passwords_locks_the_person_out_and_is_audited(world):
    with httpx.Client(verify=TLS, base_url=world["url"]) as c:
        token = csrf_token(c.get("/app/sign-in").text)
        for _ in range(3):
            r = c.post("/app/sign-in", data={"email": EVE, "password": "not her password", "csrf_token": token})
        assert r.status_code == 429 and "too many failed attempts" in r.text
        r = c.post("/app/sign-in", data={"email": EVE, "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 429                                         # even the right password, for now
    eve = [e for e in audit(world) if e.get("person") == EVE]
    assert [e["action"] for e in eve].count("security.sign_in_failed") == 4
    assert any(e["action"] == "security.lockout" for e in eve)
    assert not any(e["action"] == "web.sign_in" for e in eve)
    assert not any(PASSWORD in json.dumps(e) or "not her password" in json.dumps(e) for e in audit(world))


def test_a_stranger_who_knows_an_email_cannot_lock_the_person_out(world):
    """Three wrong passwords from anywhere locked the person out for everyone: anyone who knew a
    member of staff's email could keep them from the service. The same three now lock out the
    network they came from and every network the person never signed in from, but not the
    person's own; the per-email throttle is per network too."""
    from browserpages import add_user

    ann = "ann@oak-ap.example"
    add_user(world["home"], ann, "Ann Oak", "Oak AP Academy", "ap_school", "140001", "admissions")

    def attempt(at: str, password: str) -> int:
        with httpx.Client(verify=TLS, base_url=world["url"], headers={"X-Forwarded-For": at}) as c:
            token = csrf_token(c.get("/app/sign-in").text)
            return c.post("/app/sign-in", data={"email": ann, "password": password, "csrf_token": token}).status_code

    assert attempt("198.51.100.7", PASSWORD) == 303                         # Ann, at her school
    assert [attempt("203.0.113.66", f"guess {i} wrong") for i in range(3)] == [200, 200, 429]
    assert attempt("203.0.113.66", PASSWORD) == 429                         # that network stays locked
    assert attempt("10.200.0.1", PASSWORD) == 429                           # and every new one
    assert attempt("198.51.100.7", PASSWORD) == 303                         # Ann's does not
    locks = [e for e in audit(world) if e.get("person") == ann and e["action"] == "security.lockout"]
    assert [(e["scope"], e["remote"]) for e in locks] == [("network", "203.0.113.0/24"),
                                                          ("everywhere", "203.0.113.0/24")]


def test_the_answers_to_guesses_do_not_say_whether_an_email_is_registered(world):
    """The lock-out counted wrong passwords for registered emails only: the third guess at a member
    of staff's email (here; the fifth by default) said "too many failed attempts" (429), and at any
    other email "enter a correct email address and password" (200) for ever, so anyone could list
    the service's staff, a few guesses an address. An email no one holds is now counted and locked
    out as a registered one from a new network is, and the DPO sees its lock-out (naming no one)."""
    from browserpages import add_user

    dan = "dan@oak-ap.example"
    add_user(world["home"], dan, "Dan Oak", "Oak AP Academy", "ap_school", "140001", "admissions")

    def guesses(email: str, at: str) -> list[tuple[int, bool, bool]]:
        said = []
        for i in range(5):
            with httpx.Client(verify=TLS, base_url=world["url"], headers={"X-Forwarded-For": at}) as c:
                token = csrf_token(c.get("/app/sign-in").text)
                r = c.post("/app/sign-in", data={"email": email, "password": f"guess {i} wrong", "csrf_token": token})
            said.append((r.status_code, "too many failed attempts" in r.text,
                         "Enter a correct email address and password" in r.text))
        return said

    registered = guesses(dan, "203.0.114.5")
    assert registered == [(200, False, True)] * 2 + [(429, True, False)] * 3, registered
    assert guesses("dan.nobody@oak-ap.example", "203.0.115.5") == registered
    locks = [e for e in audit(world) if e["action"] == "security.lockout" and e["remote"] == "203.0.115.0/24"]
    assert [(e["scope"], e.get("person")) for e in locks] == [("network", None), ("everywhere", None)], locks


def test_a_stranger_behind_the_persons_own_network_cannot_lock_her_browser_out(world):
    """Session 25 kept lock-outs by network: a stranger behind the person's own NAT locked her out
    of it, and anyone kept her out of a network she had not used yet. The browser that signs her
    in is now given a device cookie, and its sign-ins are its own (OWASP's device cookies): a
    stranger without it meets the same lock-outs as before."""
    from browserpages import add_user

    ben = "ben@oak-ap.example"
    add_user(world["home"], ben, "Ben Oak", "Oak AP Academy", "ap_school", "140001", "admissions")

    def attempt(at: str, password: str, device: str | None = None) -> httpx.Response:
        cookies = {"linkage_device": device} if device else None
        with httpx.Client(verify=TLS, base_url=world["url"], headers={"X-Forwarded-For": at}, cookies=cookies) as c:
            token = csrf_token(c.get("/app/sign-in").text)
            return c.post("/app/sign-in", data={"email": ben, "password": password, "csrf_token": token})

    first = attempt("198.51.100.7", PASSWORD)
    assert first.status_code == 303
    device = first.cookies["linkage_device"]
    cookie = next(h for h in first.headers.get_list("set-cookie") if h.startswith("linkage_device="))
    assert all(a in cookie.lower() for a in ("httponly", "samesite=strict", "max-age=")), cookie
    assert [attempt("198.51.100.99", f"guess {i} wrong").status_code for i in range(3)] == [200, 200, 429]
    assert attempt("198.51.100.7", PASSWORD).status_code == 429                 # a browser without it
    again = attempt("198.51.100.7", PASSWORD, device)                           # hers, at her office
    assert again.status_code == 303 and again.cookies["linkage_device"] != device
    assert attempt("10.200.0.2", PASSWORD, again.cookies["linkage_device"]).status_code == 303   # a new site
    assert attempt("10.201.0.3", PASSWORD, device).status_code == 429           # the spent one is nothing


def test_a_stranger_behind_the_persons_own_address_cannot_throttle_her_browser(world):
    """Session 26's device cookie got her browser past a stranger's lock-out, but the sign-in
    throttles (per email and network, and per address) were still shared: while a stranger behind
    her office's address kept guessing, her own browser was told to wait. A browser that signed
    her in now has an allowance of its own; one without it waits as before."""
    from browserpages import add_user

    cat = "cat@oak-ap.example"
    add_user(world["home"], cat, "Cat Oak", "Oak AP Academy", "ap_school", "140001", "admissions")

    def attempt(password: str, device: str | None = None) -> httpx.Response:
        cookies = {"linkage_device": device} if device else None
        with httpx.Client(verify=TLS, base_url=world["url"], headers={"X-Forwarded-For": "198.51.101.7"}, cookies=cookies) as c:
            token = csrf_token(c.get("/app/sign-in").text)
            return c.post("/app/sign-in", data={"email": cat, "password": password, "csrf_token": token})

    first = attempt(PASSWORD)
    assert first.status_code == 303
    device = first.cookies["linkage_device"]
    guesses = [attempt(f"guess {i} wrong") for i in range(60)]                 # the stranger, same address
    assert guesses[-1].status_code == 429 and "Too many attempts to sign in. Wait" in guesses[-1].text
    waiting = attempt(PASSWORD)                                                 # a browser without it
    assert waiting.status_code == 429 and "Wait" in waiting.text
    assert attempt(PASSWORD, device).status_code == 303                        # hers


def test_markup_in_a_name_is_shown_as_text_and_pages_cannot_be_framed(world):
    c = signed_in(world)
    r = c.get("/app/")
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp and r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


def test_disabling_an_organisation_signs_its_people_out_at_once(world):
    c = signed_in(world)
    env = {"LINKAGE_HOME": str(world["home"])}           # the administrator's command, beside the server's process
    assert incli.run("orgs", "disable", "140001", env=env).returncode == 0
    try:
        assert c.get("/app/").status_code == 303
        r = c.post("/app/sign-in", data={"email": AMY, "password": PASSWORD,
                                         "csrf_token": csrf_token(c.get("/app/sign-in").text)})
        assert r.status_code == 200 and "Enter a correct email address and password" in r.text
    finally:
        assert incli.run("orgs", "enable", "140001", env=env).returncode == 0
