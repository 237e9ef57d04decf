"""The staff web pages in a real browser (Debian chromium) against a real ``linkage serve``.

Each journey runs through the same policy, consent and audit as the API; each page is
checked with axe-core and photographed (`make screenshots` keeps the photographs in docs/screenshots/).
"""

from __future__ import annotations

import json

import httpx
import pytest

import incli
from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from playwright.sync_api import expect
from browserpages import (ENV, Profile, accessible, add_user, age_sessions, csrf_token, fill_lookup, shot, sign_in,
                          through)

pytestmark = pytest.mark.e2e

AMY, BOB, DPO, CME = ("amy@oak-ap.example", "bob@oak-ap.example", "dee@northshire.example",
                      "cam@northshire.example")


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1, chromium):
    home = tmp_path_factory.mktemp("web") / "data"
    ((child, demo),) = linked_home(home, synth_month1, EXTRACT_DATE)
    ids = {AMY: add_user(home, AMY, "Amy Adeyemi", "Oak AP Academy", "ap_school", "140001", "admissions"),
           BOB: add_user(home, BOB, "Bob Brennan", "Oak AP Academy", "ap_school", "140001", "admissions"),
           DPO: add_user(home, DPO, "Dee Okafor", "Northshire Council", "dpo", "801", "dpo"),
           CME: add_user(home, CME, "Cam Price", "Northshire Education", "la_education", "802", "cme_officer")}
    server = Server(home, env=ENV)
    pages = Profile(chromium, server.url)
    yield {"home": home, "server": server, "demo": demo, "ids": ids, "pages": pages}
    pages.close()
    server.stop()


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def open_page(world):
    return world["pages"].page()


def test_sign_in_look_up_a_pupil_and_sign_out(world):
    forename, surname, dob, postcode = world["demo"]
    with open_page(world) as p:
        p.goto("/app/")
        assert p.url.endswith("/app/sign-in")                      # not signed in: asked to
        accessible(p)
        shot(p, "sign-in")
        sign_in(p, AMY)
        assert p.url.endswith("/app/")
        assert p.get_by_test_id("signed-in-as").inner_text() == "Amy Adeyemi, Oak AP Academy"
        assert "Find a child" in p.get_by_test_id("tasks").inner_text()
        accessible(p)
        shot(p, "start-admissions")
        through(p, p.get_by_role("link", name="Find a child"))
        accessible(p)
        shot(p, "lookup-form")

        through(p, p.get_by_role("button", name="Find child"))         # nothing entered
        summary = p.locator(".govuk-error-summary")
        assert summary.is_visible() and "Enter the child's first name" in summary.inner_text()
        expect(p.locator(".govuk-error-summary")).to_be_focused()          # GOV.UK Frontend moved focus
        assert p.title().startswith("Error:")
        accessible(p)
        shot(p, "lookup-errors")
        p.get_by_role("link", name="Enter the child's first name").click()        # the summary links to the field
        expect(p.locator("#forename")).to_be_focused()

        fill_lookup(p, forename, surname, dob, postcode)
        assert p.get_by_test_id("outcome").inner_text() == "One child matches"
        ref = p.get_by_test_id("child-ref").inner_text()
        assert ref and "date of birth" in p.locator("main").inner_text()
        # A confident match's probability rounds to 1.0: never said as "100%", a certainty no linkage has.
        sure = p.locator(".govuk-summary-list__row", has_text="How sure").locator("dd").inner_text()
        assert sure == "over 99.9% likely to be the same child", sure
        accessible(p)
        shot(p, "lookup-match")

        through(p, p.get_by_role("link", name="Search again"))
        fill_lookup(p, "Zebedee", "Quartermaine", dob.replace(year=dob.year - 3))
        assert p.get_by_test_id("outcome").inner_text() == "No single match"
        assert p.get_by_label("First name").input_value() == "Zebedee"          # kept, to add to
        accessible(p)
        shot(p, "lookup-no-match")
        p.get_by_label("NHS number (optional)").fill("1234567890")              # fails its check digit
        through(p, p.get_by_role("button", name="Find child"))
        assert "Enter a real NHS number" in p.locator(".govuk-error-summary").inner_text()

        through(p, p.get_by_role("button", name="Sign out"))
        expect(p.get_by_role("heading", name="You have signed out")).to_be_visible()
        accessible(p)
        p.goto("/app/lookup")
        assert p.url.endswith("/app/sign-in")                      # the session is gone
    entries = audit(world)
    looked = [e for e in entries if e["action"] == "lookup" and e.get("person") == AMY]
    assert looked and looked[0]["client_id"] == f"user:{world['ids'][AMY]}"
    assert looked[0]["agency"] == "Oak AP Academy" and looked[0]["purpose"] == "admission"
    assert looked[0]["decision"] == "allow" and looked[0]["lawful_basis"]
    assert [e["action"] for e in entries if e.get("person") == AMY][-1] == "web.sign_out"


def test_post_without_csrf_token_is_refused_and_audited(world):
    with open_page(world) as p:
        sign_in(p, AMY)
        before = len(audit(world))
        for form in ({}, {"csrf_token": "forged"}):
            r = p.request.post("/app/lookup", form={"forename": "A", "surname": "B", "dob-day": "1",
                                                   "dob-month": "1", "dob-year": "2015", "purpose": "admission",
                                                   **form}, max_redirects=0)
            assert r.status == 403 and "You cannot see this page" in r.text()
        r = p.request.post("/app/sign-out", form={}, max_redirects=0)
        assert r.status == 403
        p.goto("/app/")
        assert p.url.endswith("/app/")                            # refused, still signed in
    refused = [e for e in audit(world)[before:] if e["action"] == "security.csrf_refused"]
    assert len(refused) == 3 and all(e["person"] == AMY and e["decision"] == "refused" for e in refused)
    assert not [e for e in audit(world)[before:] if e["action"] == "lookup"]     # nothing was looked up


def test_idle_and_expired_sessions_are_refused(world):
    uid = world["ids"][AMY]
    with open_page(world) as p:
        sign_in(p, AMY)
        assert age_sessions(world["home"], uid, idle=1801) >= 1      # 30 minutes and a second unused
        p.goto("/app/lookup")
        assert p.url.endswith("/app/sign-in")
        sign_in(p, AMY)
        age_sessions(world["home"], uid, since_sign_in=36_001)      # used a moment ago, but signed in 10 h ago
        p.goto("/app/")
        assert p.url.endswith("/app/sign-in")
    ended = [e["reason"] for e in audit(world) if e["action"] == "security.session_refused" and e.get("person") == AMY]
    assert ended[-2:] == ["idle", "too_old"], ended         # each refusal named for the DPO (session 28)



def test_a_form_sent_after_the_session_ended_says_it_was_not_saved(world):
    """A search (or a review decision, a note) sent once the session had ended went to the sign-in
    page without a word: signed in again, the person believed it had been done."""
    uid = world["ids"][AMY]
    with open_page(world) as p:
        sign_in(p, AMY)
        p.goto("/app/lookup")
        token = csrf_token(p.content())
        assert age_sessions(world["home"], uid, idle=1801) >= 1
        r = p.request.post("/app/lookup", form={"forename": "A", "surname": "B", "dob-day": "1", "dob-month": "1",
                                                "dob-year": "2015", "purpose": "admission", "csrf_token": token},
                           max_redirects=0)
        assert r.status == 303 and r.headers["location"].endswith("/app/sign-in?ended=form"), r.headers
        p.goto(r.headers["location"])
        assert "nothing in it was saved" in p.get_by_test_id("not-saved").inner_text()
        accessible(p)
        p.goto("/app/sign-in")
        assert p.get_by_test_id("not-saved").count() == 0         # only after a form was lost

def test_a_disabled_user_is_signed_out_at_once(world):
    env = {"LINKAGE_HOME": str(world["home"])}          # the administrator's command, beside the server's process
    with open_page(world) as p:
        sign_in(p, BOB)
        assert p.url.endswith("/app/")
        assert incli.run("users", "disable", BOB, env=env).returncode == 0
        p.goto("/app/lookup")
        assert p.url.endswith("/app/sign-in")
        sign_in(p, BOB)
        assert p.url.endswith("/app/sign-in")
        assert "Enter a correct email address and password" in p.locator(".govuk-error-summary").inner_text()
    ended = [e for e in audit(world) if e["action"] == "security.session_ended" and e.get("person") == BOB]
    assert ended
    assert incli.run("users", "enable", BOB, env=env).returncode == 0


def test_other_roles_cannot_reach_the_lookup_by_editing_the_url(world):
    with open_page(world) as p:
        sign_in(p, DPO)
        assert p.get_by_test_id("signed-in-as").inner_text() == "Dee Okafor, Northshire Council"
        assert "Find a child" not in p.locator("main").inner_text()
        assert "Audit log" in p.get_by_test_id("tasks").inner_text()
        accessible(p)
        shot(p, "start-dpo")
        r = p.goto("/app/lookup")
        assert r.status == 403
        expect(p.get_by_role("heading", name="You cannot see this page")).to_be_visible()
        accessible(p)
        shot(p, "error-403")
        token = csrf_token(p.content())
        r = p.request.post("/app/lookup", form={"csrf_token": token, "forename": "A", "surname": "B",
                                               "dob-day": "1", "dob-month": "1", "dob-year": "2015",
                                               "purpose": "admission"})
        assert r.status == 403
        r = p.goto("/app/no-such-page")
        assert r.status == 404
        accessible(p)
        shot(p, "error-404")
    with open_page(world) as p:
        sign_in(p, CME)            # a CME officer may look up, for CME only, never for admission
        p.goto("/app/lookup")
        assert p.get_by_label("Children missing education").is_checked()
        assert p.get_by_label("Admitting a pupil").count() == 0
        accessible(p)
        shot(p, "lookup-form-cme")
    denied = [e for e in audit(world) if e.get("person") == DPO and e["action"] == "lookup"]
    assert denied and all(e["decision"] == "deny" for e in denied)


def test_cookies_headers_and_session_fixation(world):
    url = world["server"].url
    with httpx.Client(base_url=url) as c:
        r = c.get("/app/sign-in")
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp and "script-src 'self' 'sha256-" in csp
        before = c.cookies["linkage_session"]
        r = c.post("/app/sign-in", data={"email": AMY, "password": "a long synthetic password 1",
                                         "csrf_token": csrf_token(r.text)})
        assert r.status_code == 303 and c.cookies["linkage_session"] != before     # a new id on sign-in
        stored = [row[0] for row in __import__("sqlite3").connect(world["home"] / "service.sqlite").execute(
            "SELECT id_hash FROM web_sessions")]
        assert c.cookies["linkage_session"] not in stored                          # only hashes are kept
        with httpx.Client(base_url=url, cookies={"linkage_session": before}) as old:
            assert old.get("/app/").status_code == 303                              # the pre-sign-in id is dead
