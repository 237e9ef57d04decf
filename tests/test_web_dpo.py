"""The data-protection officer's pages in a real browser (Debian chromium) against a real ``linkage serve``.

A social worker breaks glass and records a consent through the API; the DPO then signs in,
reads access over time, reviews the break-glass use, finds the child from a requester's
name and date of birth, downloads the subject-access report as PDF and CSV, and checks the
audit chain against a witness. Other roles get 403 on every DPO page; a form without its
CSRF token is refused; axe-core finds nothing serious on any page.
"""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

import incli
from apiserver import Server, linked_home
from browserpages import ENV, Profile, accessible, add_user, csrf_token, shot, sign_in, through
from conftest import EXTRACT_DATE
from registry import register

pytestmark = pytest.mark.e2e

DPO, AMY, SAM = "dee@northshire.example", "amy@oak-ap.example", "sam@northshire-csc.example"
CSC = "Northshire Children's Services"
JUSTIFICATION = "Child disclosed harm at the gate; need history before the strategy meeting."
EVIDENCE = "Signed form SCAN-0042, case file 7"
DPO_PAGES = ["/app/dpo", "/app/dpo/access", "/app/dpo/security", "/app/dpo/break-glass", "/app/dpo/patterns",
             "/app/dpo/consents", "/app/dpo/consent-holds", "/app/dpo/subject", "/app/dpo/chain"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1, chromium):
    root = tmp_path_factory.mktemp("webdpo")
    home, witness = root / "data", root / "witness"
    ((child, demo),) = linked_home(home, synth_month1, EXTRACT_DATE)
    add_user(home, DPO, "Dee Okafor", "Northshire Council", "dpo", "801", "dpo")
    add_user(home, AMY, "Amy Adeyemi", "Oak AP Academy", "ap_school", "140001", "admissions")
    add_user(home, SAM, "Sam Shah", CSC, "social_care", "803", "social_worker")
    creds = {"sw": register(home, "csc case system", "social_care", "social_worker", org=CSC),
             "dpo": register(home, "dpo tools", "dpo", "dpo", org="Northshire Council")}
    server = Server(home, env={**ENV, "LINKAGE_WITNESS_DIR": str(witness)})
    pages = Profile(chromium, server.url)
    yield {"home": home, "witness": witness, "server": server, "child": child, "demo": demo, "creds": creds,
           "pages": pages}
    pages.close()
    server.stop()


def api(world, who: str, method: str, path: str, purpose: str, **kw) -> httpx.Response:
    token = world["server"].token(*world["creds"][who])
    return httpx.request(method, world["server"].url + path, timeout=30, **kw,
                         headers={"Authorization": f"Bearer {token}", "X-Purpose": purpose})


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def visit(p, url: str) -> None:
    r = p.goto(url)
    assert r.status == 200, (url, r.status)


def break_glass(world) -> str:
    """A social worker's case system finds the child and breaks glass; returns its pseudonym."""
    f, s, dob, pc = world["demo"]
    found = api(world, "sw", "POST", "/v1/lookup", "safeguarding",
                json={"forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc})
    assert found.status_code == 200 and found.json()["match"], found.text
    ref = found.json()["match"]["child_id"]
    r = api(world, "sw", "POST", f"/v1/children/{ref}/break-glass", "safeguarding",
            json={"justification": JUSTIFICATION})
    assert r.status_code == 200 and r.json()["break_glass"], r.text
    return ref


def test_dpo_journey_charts_break_glass_review_subject_access_and_chain(world):
    ref = break_glass(world)
    consent = api(world, "sw", "POST", "/v1/consents", "safeguarding", json={
        "child_id": ref, "category": "social_care.episodes", "recipient": {"type": "ap_school"},
        "purpose": "admission", "given_by": "parent", "method": "written", "evidence_ref": EVIDENCE,
        "given_on": "2026-09-01"})
    assert consent.status_code in (200, 201), consent.text
    httpx.get(world["server"].url + "/v1/audit", timeout=30)             # no token: a security event (401)
    for path in ("/wp-login.php", "/v1/admin", "/.git/config"):          # a scanner's walk: one entry, then counted
        assert httpx.get(world["server"].url + path, timeout=30).status_code == 404
    assert api(world, "sw", "GET", "/v1/audit", "safeguarding").status_code == 403     # a policy refusal
    f, s, dob, pc = world["demo"]
    with world["pages"].page() as p:
        sign_in(p, DPO)
        through(p, p.get_by_role("link", name="Audit log"))
        assert p.url.endswith("/app/dpo")
        assert "1 use awaiting your review" in p.get_by_test_id("pending-reviews").inner_text()
        accessible(p)
        shot(p, "dpo-overview")

        # Access over time: charts, each with its table, filterable by organisation.
        through(p, p.get_by_role("link", name="Access over time"))
        assert p.locator("svg[role=img]").count() == 4
        expect(p.get_by_role("img", name="Requests by organisation")).to_be_visible()
        org_table = p.locator("table", has=p.locator("caption", has_text="Requests by organisation"))
        assert CSC in org_table.inner_text()
        accessible(p)
        shot(p, "dpo-access")
        p.get_by_label("Organisation", exact=True).select_option(CSC)
        through(p, p.get_by_role("button", name="Show"))
        assert "filtered" in p.get_by_test_id("access-total").inner_text()
        assert "Oak AP Academy" not in org_table.inner_text()
        assert "Safeguarding a child" in p.locator("table", has=p.locator(
            "caption", has_text="Requests by purpose")).inner_text()

        # Refused requests and security events: the unauthenticated API call is there.
        visit(p, "/app/dpo/security")
        events = p.get_by_test_id("security-events").inner_text()
        assert "security.unauthenticated" in events and "No token, or a token not accepted" in events
        assert "Refused by the sharing policy" in events and CSC in events
        assert events.count("security.unknown_path") == 1 and "Path or method the service does not have" in events
        accessible(p)
        shot(p, "dpo-security")

        # Review the break-glass use: first without an outcome (error summary), then properly.
        visit(p, "/app/dpo/break-glass")
        card = p.locator("[data-testid^='pending-BG-']")
        assert card.count() == 1 and JUSTIFICATION in card.inner_text() and CSC in card.inner_text()
        review_id = card.get_attribute("data-testid").removeprefix("pending-")
        accessible(p)
        shot(p, "dpo-break-glass")
        through(p, p.get_by_test_id(f"review-{review_id}"))
        expect(p.locator(".govuk-error-summary")).to_be_focused()
        assert "Select whether the use was justified" in p.locator(".govuk-error-summary").inner_text()
        accessible(p)
        card = p.get_by_test_id(f"pending-{review_id}")
        card.get_by_label("Justified", exact=True).check()
        card.get_by_label("Your note").fill("Strategy meeting held the same day; access was proportionate.")
        through(p, p.get_by_test_id(f"review-{review_id}"))
        assert p.get_by_test_id("review-done").count(), p.locator("main").inner_text()
        assert review_id in p.get_by_test_id("review-done").inner_text()
        assert p.get_by_test_id("pending-count").inner_text() == "0 awaiting review"
        reviewed = p.get_by_test_id("reviewed").inner_text()
        assert "Justified" in reviewed and DPO in reviewed and "proportionate" in reviewed
        accessible(p)
        shot(p, "dpo-break-glass-reviewed")

        # Patterns and consents (with the evidence the DPO, and only the DPO here, may read).
        visit(p, "/app/dpo/patterns")
        expect(p.get_by_role("heading", name="Out-of-hours access")).to_be_visible()
        expect(p.get_by_role("heading", name="Lookups naming nobody")).to_be_visible()
        accessible(p)
        shot(p, "dpo-patterns")
        visit(p, "/app/dpo/consents")
        assert EVIDENCE in p.get_by_test_id("consents").inner_text()
        p.get_by_label("Permission or refusal").select_option("deny")
        through(p, p.get_by_role("button", name="Show"))
        assert EVIDENCE not in p.get_by_test_id("consents").inner_text()
        visit(p, "/app/dpo/consents?status=active")
        accessible(p)
        shot(p, "dpo-consents")

        # Subject access: too little to single the child out asks for more; then the report.
        visit(p, "/app/dpo/subject")
        accessible(p)
        shot(p, "dpo-subject-form")
        p.get_by_label("First name").fill(f)
        p.get_by_label("Last name").fill("Zzyzx")
        p.get_by_label("Day").fill(str(dob.day))
        p.get_by_label("Month").fill(str(dob.month))
        p.get_by_label("Year").fill(str(dob.year))
        through(p, p.get_by_role("button", name="Find the child"))
        assert p.get_by_test_id("outcome").inner_text() == "No single match"
        p.get_by_label("Last name").fill(s)
        p.get_by_label("Postcode (optional)").fill(pc)
        through(p, p.get_by_role("button", name="Find the child"))
        assert p.get_by_test_id("outcome").inner_text() == "Subject access report"
        rows = p.get_by_test_id("subject-rows").inner_text()
        assert CSC in rows and "Break-glass" in rows and "safeguarding of children" in rows
        assert "Oak AP Academy" not in rows                                  # nobody from there looked
        main = p.locator("main").inner_text()
        # The audit of the record, not the record: no name or postcode on the page.
        assert not re.search(rf"\b({re.escape(f)}|{re.escape(s)})\b", main) and pc not in main
        accessible(p)
        shot(p, "dpo-subject-report")
        with p.expect_download() as got:
            p.get_by_role("link", name="Download the report as PDF").click()
        pdf = PdfReader(got.value.path())
        text = "".join(pg.extract_text() for pg in pdf.pages)
        assert "Subject access report" in text and CSC in text and "Break-glass." in text
        with p.expect_download() as got:
            p.get_by_role("link", name="Download the report as CSV (spreadsheet)").click()
        table = list(csv.DictReader(io.StringIO(open(got.value.path(), encoding="utf-8").read())))
        glass = [r for r in table if r["Break-glass"] == "yes"]
        assert glass and glass[0]["Organisation"] == CSC and "safeguarding" in glass[0]["Lawful basis"]
        assert f"system: csc case system ({world['creds']['sw'][0].client_id})" in {r["Person"] for r in table}

        # The chain, checked against a witness outside the service.
        w = incli.run("audit", "witness", "--store", str(world["witness"]), env={"LINKAGE_HOME": str(world["home"])})
        assert w.returncode == 0, w.stderr
        visit(p, "/app/dpo/chain")
        assert "not been checked" in p.get_by_test_id("chain-summary").inner_text()
        through(p, p.get_by_role("button", name="Check the chain now"))
        assert p.get_by_test_id("chain-result").inner_text().startswith("The audit log is intact")
        assert "entries chain together" in p.get_by_test_id("chain-summary").inner_text()
        assert "The witness outside the service has kept" in p.locator("main").inner_text()
        accessible(p)
        shot(p, "dpo-chain")

    # The review names the person who made it, is sealed at rest, and is itself audited.
    uses = api(world, "dpo", "GET", "/v1/audit/break-glass", "audit").json()
    done = next(u for u in uses if u["review_id"] == review_id)
    assert done["reviewed_by"] == DPO and done["outcome"] == "justified" and done["reviewed_at"]
    state = b"".join(x.read_bytes() for x in world["home"].glob("service.sqlite*"))
    assert b"proportionate" not in state
    entries = audit(world)
    reviews = [e for e in entries if e["action"] == "audit.break_glass_review" and e["decision"] == "allow"]
    assert reviews[-1]["person"] == DPO and reviews[-1]["break_glass_review"] == review_id
    assert reviews[-1]["children"] == [world["child"]] and "note_sha256" in reviews[-1]
    searched = [e for e in entries if e["action"] == "audit.subject_search" and e.get("person") == DPO]
    assert [e["outcome"] for e in searched] == ["no_single_match", "match"]
    assert all(e["purpose"] == "audit" for e in searched)
    reports = [e for e in entries if e["action"] == "audit.subject" and e.get("person") == DPO]
    assert {e.get("form") for e in reports} == {"page", "pdf", "csv"}


def test_api_review_records_the_client_and_a_use_is_reviewed_once(world):
    break_glass(world)
    pending = api(world, "dpo", "GET", "/v1/audit/break-glass?pending=true", "audit").json()
    assert pending and all(u["reviewed_at"] is None for u in pending)
    review_id = pending[-1]["review_id"]
    url = f"/v1/audit/break-glass/{review_id}/review"
    r = api(world, "dpo", "POST", url, "audit", json={"outcome": "referred", "note": "Asked the team manager."})
    assert r.status_code == 200, r.text
    assert r.json()["reviewed_by"] == world["creds"]["dpo"][0].client_id and r.json()["outcome"] == "referred"
    again = api(world, "dpo", "POST", url, "audit", json={"outcome": "justified", "note": "Changed my mind."})
    assert again.status_code == 409
    refused = api(world, "sw", "POST", url, "safeguarding", json={"outcome": "justified", "note": "Fine by me."})
    assert refused.status_code == 403
    bad = api(world, "dpo", "POST", url, "audit", json={"outcome": "fine", "note": "x"})
    assert bad.status_code == 422
    missing = api(world, "dpo", "POST", "/v1/audit/break-glass/BG-000000000000/review", "audit",
                  json={"outcome": "justified", "note": "x"})
    assert missing.status_code == 404


def test_other_roles_get_403_and_forms_need_their_token(world):
    with world["pages"].page() as p:
        for who in (AMY, SAM):
            sign_in(p, who)
            assert "Audit log" not in p.locator("main").inner_text()
            for url in DPO_PAGES + ["/app/dpo/subject/ABC123", "/app/dpo/subject/ABC123/report.csv"]:
                r = p.goto(url)
                assert r.status == 403, (who, url, r.status)
            expect(p.get_by_role("heading", name="You cannot see this page")).to_be_visible()
            token = csrf_token(p.content())
            r = p.request.post("/app/dpo/break-glass/BG-000000000000", form={
                "csrf_token": token, "outcome": "justified", "note": "Looks fine to me."})
            assert r.status == 403
            r = p.request.post("/app/dpo/consent-holds/lift", form={
                "csrf_token": token, "organisation": "140001", "child_id": world["child"], "note": "Ours to lift."})
            assert r.status == 403
            through(p, p.get_by_role("button", name="Sign out"))
    with world["pages"].page() as p:
        sign_in(p, DPO)
        assert p.goto("/app/lookup").status == 403            # the DPO opens no child's record
        p.goto("/app/dpo/break-glass")
        r = p.request.post("/app/dpo/break-glass/BG-000000000000", form={"outcome": "justified", "note": "x"})
        assert r.status == 403                                  # no CSRF token
        r = p.request.post("/app/dpo/subject", form={"forename": "A", "surname": "B", "dob-day": "1",
                                                    "dob-month": "1", "dob-year": "2015"})
        assert r.status == 403
    entries = audit(world)
    refused = [e for e in entries if e["action"] == "read_audit" and e["decision"] == "deny"]
    assert {e.get("person") for e in refused} >= {AMY, SAM}
    assert [e for e in entries if e["action"] == "security.csrf_refused" and e.get("person") == DPO]


def test_the_dpo_lifts_a_consent_hold_on_its_page(world):
    """Oak AP Academy held for the child (what a consent dated before a date of birth it may not see
    leaves: ``tests/security/test_consent_holds.py`` makes one through the API): the DPO's page lists
    it, refuses a lift without a note, and lifts it with one, naming the DPO."""
    from linkage.access.orgs import OrgRegistry
    from linkage.consent.holds import ConsentHolds
    from linkage.store.sealed import Sealer
    from linkage.store.state import ServiceState

    state = ServiceState(world["home"])
    oak = OrgRegistry(state).by_name("Oak AP Academy")
    ConsentHolds(state, Sealer(world["home"], state=state)).hold(oak.org_id, world["child"], "given_on_before_birth")
    state.close()
    card_id = f"hold-{oak.org_id}-{world['child']}"
    with world["pages"].page() as p:
        sign_in(p, DPO)
        visit(p, "/app/dpo")
        through(p, p.get_by_role("link", name="Consent holds"))
        card = p.get_by_test_id(card_id)
        assert "Oak AP Academy" in card.inner_text() and "before the child's date of birth" in card.inner_text()
        assert "AP school" in card.inner_text(), card.inner_text()     # the type in words, not "ap school"
        accessible(p)
        shot(p, "dpo-consent-holds")
        through(p, p.get_by_test_id(f"lift-{oak.org_id}-{world['child']}"))
        expect(p.locator(".govuk-error-summary")).to_be_focused()
        assert "Enter a note saying why" in p.locator(".govuk-error-summary").inner_text()
        accessible(p)
        p.get_by_test_id(card_id).get_by_label("Why you are lifting it").fill("Oak typed the wrong year; checked.")
        through(p, p.get_by_test_id(f"lift-{oak.org_id}-{world['child']}"))
        assert p.get_by_test_id("lift-done").count(), p.locator("main").inner_text()
        assert p.get_by_test_id(card_id).count() == 0
        lifted = p.get_by_test_id("lifted").inner_text()
        assert "Oak AP Academy" in lifted and DPO in lifted and "wrong year" in lifted
    done = [e for e in audit(world) if e["action"] == "consent.hold_lift"]
    assert [(e["decision"], e["person"], e["children"]) for e in done] == [("allow", DPO, [world["child"]])]


def test_an_edited_log_is_reported_in_words(world):
    """Last in this module: it edits the shared server's log, as someone with file access could."""
    path = world["home"] / "audit" / "log.jsonl"
    lines = path.read_text().splitlines()
    rec = json.loads(lines[2])
    rec["entry"]["agency"] = "Somebody Else"
    lines[2] = json.dumps(rec, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    with world["pages"].page() as p:
        sign_in(p, DPO)
        visit(p, "/app/dpo/chain?check=yes")
        assert "The audit log has been altered" in p.get_by_test_id("chain-result").inner_text()
        assert "has been altered" in p.get_by_test_id("chain-summary").inner_text()
        assert "seq 3" in p.locator("main").inner_text() or "line 3" in p.locator("main").inner_text()
        accessible(p)
        shot(p, "dpo-chain-altered")
