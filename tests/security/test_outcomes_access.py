"""Who sees AP outcomes, through a real server: aggregates only, own pupils only, every access audited."""

from __future__ import annotations

import json
import re

import httpx
import pytest

import outcomes_world
from apiserver import Server
from browserpages import ENV, PASSWORD, add_user, csrf_token
from linkage.service.outcomes import CHILD_MEASURES
from registry import register

pytestmark = pytest.mark.e2e

WHO = {
    "commissioner": ("Northshire Education", "la_education", "commissioner", None),
    "cme": ("Northshire Education", "la_education", "cme_officer", None),
    "leader": ("Oak PRU", "ap_school", "ap_leader", "140001"),
    "other_leader": ("Elm AP Academy", "ap_school", "ap_leader", "140002"),
    "admissions": ("Oak PRU", "ap_school", "admissions", "140001"),
    "school": ("Ash School", "school", "admissions", "100001"),
}
LEADER = "lee@oak-pru.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("outcomes-api") / "data"
    outcomes_world.build(home).close()
    creds = {k: register(home, f"{k} client", kind, role, org=org, code=code)
             for k, (org, kind, role, code) in WHO.items()}
    add_user(home, LEADER, "Lee Leader", "Oak PRU", "ap_school", "140001", "ap_leader")
    server = Server(home, env=ENV)
    yield {"home": home, "server": server, "creds": creds}
    server.stop()


def call(world, who: str, path: str, purpose: str = "outcomes", **params) -> httpx.Response:
    client, secret = world["creds"][who]
    tok = httpx.post(world["server"].url + "/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(client.client_id, secret)).json()["access_token"]
    return httpx.get(world["server"].url + path, params=params, timeout=60,
                     headers={"Authorization": f"Bearer {tok}", "X-Purpose": purpose})


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def test_commissioner_sees_protected_aggregates_without_children(world):
    r = call(world, "commissioner", "/v1/outcomes", by="setting")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rule"] == "dfe_cin" and body["limits"]
    # Four placements in all: every small count is "c", and no child id or pseudonym appears anywhere.
    for t in body["tables"]:
        for v in [x for row in t["cells"] for x in row] + t["row_totals"] + t["col_totals"] + [t["total"]]:
            assert v == "c" or v == 0 or (isinstance(v, int) and v > 5), (t["key"], v)
    assert "child-" not in r.text
    entry = [e for e in audit(world) if e.get("action") == "read_outcomes"][-1]
    assert entry["decision"] == "allow" and entry["scope"] == "aggregate" and entry["children"] == []


def test_aggregates_need_the_outcomes_purpose_and_a_permitted_role(world):
    assert call(world, "commissioner", "/v1/outcomes", purpose="cme").status_code == 403
    for who in ("cme", "admissions", "school"):
        assert call(world, who, "/v1/outcomes").status_code == 403, who
    assert [e for e in audit(world) if e.get("action") == "read_outcomes" and e["decision"] == "deny"]


def test_ap_leader_sees_only_its_own_pupils_in_its_own_pseudonyms(world):
    r = call(world, "leader", "/v1/outcomes/children")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["urn"] == "140001"
    kids = body["children"]
    assert len(kids) == 3            # A, C and D were placed at 140001; B at 140002 is not shown
    assert all(not k["child"].startswith("child-") for k in kids)
    assert "child-" not in r.text
    other = call(world, "other_leader", "/v1/outcomes/children").json()["children"]
    assert len(other) == 1
    # Pseudonyms differ between organisations: nothing to join on.
    assert not {k["child"] for k in kids} & {k["child"] for k in other}
    entry = [e for e in audit(world) if e.get("action") == "read_outcome_children"][-1]
    assert entry["scope"] == "own pupils" and len(entry["children"]) == 1


def test_no_one_else_gets_child_level_outcomes(world):
    for who in ("commissioner", "admissions", "school", "cme"):
        assert call(world, who, "/v1/outcomes/children").status_code == 403, who


def test_bad_breakdowns_and_cohorts_are_refused(world):
    assert call(world, "commissioner", "/v1/outcomes", by="child_id").status_code == 422
    assert call(world, "commissioner", "/v1/outcomes", cohort="2025/26' OR 1=1").status_code == 422
    r = call(world, "commissioner", "/v1/outcomes", cohort="2024/25", by="cohort")
    assert r.status_code == 200 and r.json()["cohort"] == "2024/25"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r.json()["as_at"])


def test_another_settings_pupils_are_refused_and_audited(world):
    """Asking by URN for another setting's children is refused, never answered with one's own."""
    assert call(world, "leader", "/v1/outcomes/children", urn="140002").status_code == 403
    assert call(world, "leader", "/v1/outcomes/children", urn="140001").status_code == 200
    refused = [e for e in audit(world) if e.get("action") == "read_outcome_children" and e["decision"] == "deny"
               and e.get("asked_urn") == "140002"]
    assert refused and refused[-1]["children"] == []


def test_the_headline_is_its_own_published_table(world):
    body = call(world, "commissioner", "/v1/outcomes").json()
    head = [t for t in body["tables"] if t["key"] == "placements_total"]
    assert len(head) == 1 and head[0]["total"] == body["placements"]
    assert body["placements"] == "c"          # four placements: the headline is itself suppressed
    assert "attainment" in body["not_measured"].lower()


def test_a_refusal_addressed_to_the_setting_for_any_purpose_holds_for_its_own_pupils_outcomes(world):
    """A parent refuses an AP school education data, or identity data (so its lookups do not find
    the child), for admission. No consent is recorded for ``outcomes``, and the hard rule on
    refusals named ``view`` and ``lookup`` only: the school's AP leader still listed the child, in
    the pseudonym the school's lookups knew, with the school it went to next, its exclusions and
    attendance there. A refusal now holds whatever purpose it was given for, to the organisation
    or its whole type: the refused categories are withheld, a refusal of identity leaves the child
    out, and the DPO sees which (the entries name the child)."""
    from linkage.access.pseudonyms import Pseudonyms
    from linkage.store.state import ServiceState

    officer, secret = register(world["home"], "officer client", "la_education", "consent_officer",
                               org="Northshire Education")
    world["creds"]["officer"] = (officer, secret)
    leader_org = world["creds"]["leader"][0].org.org_id
    pseudonyms = Pseudonyms(world["home"], ServiceState(world["home"]))
    held = pseudonyms.form(officer.org.org_id, "child-A")      # as the officer's lookup would issue it
    a = pseudonyms.form(leader_org, "child-A")                 # the leader's form of the same child
    headers = {"Authorization": f"Bearer {world['server'].token(officer, secret)}", "X-Purpose": "cme"}

    def refuse(category: str, purpose: str, recipient: dict) -> str:
        r = httpx.post(world["server"].url + "/v1/consents", headers=headers, timeout=30, json={
            "child_id": held, "category": category, "purpose": purpose, "recipient": recipient,
            "provision": "deny", "given_by": "parent", "method": "written", "evidence_ref": "form 7",
            "given_on": "2026-11-01"})
        assert r.status_code == 201, r.text
        return r.json()["consent_id"]

    def withdraw(consent_id: str) -> None:
        r = httpx.post(world["server"].url + f"/v1/consents/{consent_id}/withdraw", headers=headers, timeout=30)
        assert r.status_code == 200, r.text

    def listed() -> dict:
        r = httpx.get(world["server"].url + "/v1/outcomes/children", timeout=60, headers={
            "Authorization": f"Bearer {world['server'].token(*world['creds']['leader'])}", "X-Purpose": "outcomes"})
        assert r.status_code == 200, r.text
        return {k["child"]: k["measures"] for k in r.json()["children"]}

    def pupils_page() -> str:
        with httpx.Client(base_url=world["server"].url, timeout=60) as c:
            r = c.post("/app/sign-in", data={"email": LEADER, "password": PASSWORD,
                                             "csrf_token": csrf_token(c.get("/app/sign-in").text)})
            assert r.status_code == 303, r.text
            r = c.get("/app/outcomes/pupils")
            assert r.status_code == 200, r.text
            return r.text

    education = {m for m, c in CHILD_MEASURES.items() if c.startswith("education.")}
    page = pupils_page()        # A went back to a mainstream school: the only pupil who did
    assert a in page and "mainstream school" in page and "withheld" not in page
    assert education <= set(listed()[a])
    for purpose in ("admission", "safeguarding", "cme", "care"):
        for recipient in ({"organisation": leader_org}, {"type": "ap_school"}):
            consent = refuse("education", purpose, recipient)
            measures = listed()[a]
            assert not education & set(measures), (purpose, recipient, measures)
            assert measures["social_care"] == "known to social care", (purpose, measures)
            entry = [e for e in audit(world) if e.get("action") == "read_outcome_children"][-1]
            assert "child-A" in entry["children"]
            assert set(entry["consent_refused"]["child-A"]) == {CHILD_MEASURES[m] for m in education}
            if purpose == "admission" and "organisation" in recipient:     # the staff page is the same
                page = pupils_page()
                assert a in page and "withheld" in page and "mainstream school" not in page, page
            withdraw(consent)

            consent = refuse("identity", purpose, recipient)
            assert a not in listed(), (purpose, recipient)
            if purpose == "admission" and "organisation" in recipient:
                assert a not in pupils_page()
            entries = audit(world)
            entry = [e for e in entries if e.get("action") == "read_outcome_children"][-1]
            assert "child-A" not in entry["children"]
            withheld = [e for e in entries if e.get("action") == "read_outcome_children.withheld"][-1]
            assert withheld["children"] == ["child-A"] and withheld["reason"] == "consent_refused"
            withdraw(consent)
    assert education <= set(listed()[a])


def test_the_las_other_roles_are_not_parties_to_the_consents_its_consent_officer_records(world):
    """Consents are recorded by, and addressed to, organisations, and every role of the party's
    organisation read them: the LA's commissioner (published aggregates only, purpose ``outcomes``)
    listed every consent the LA's consent officer recorded about a child whose pseudonym the LA
    holds, with the evidence reference that names the parent. Now the commissioner is told of
    none, under any purpose; the CME officer, who works with the child, reads the consent without
    its evidence; the consent officer reads both."""
    from linkage.access.pseudonyms import Pseudonyms
    from linkage.store.state import ServiceState

    for who, role in (("officer2", "consent_officer"), ("commissioner2", "commissioner"), ("cme2", "cme_officer")):
        world["creds"][who] = register(world["home"], f"{who} client", "la_education", role,
                                       org="Northshire Education")
    held = Pseudonyms(world["home"], ServiceState(world["home"])).form(
        world["creds"]["officer2"][0].org.org_id, "child-C")          # the LA's form, as its lookups issue it

    def ask(who: str, purpose: str, method: str, path: str, **kw) -> httpx.Response:
        token = world["server"].token(*world["creds"][who])
        return httpx.request(method, world["server"].url + path, timeout=30, **kw,
                             headers={"Authorization": f"Bearer {token}", "X-Purpose": purpose})

    evidence = "Letter from the child's mother, case file 9"
    r = ask("officer2", "cme", "POST", "/v1/consents", json={
        "child_id": held, "category": "health", "purpose": "admission", "recipient": {"type": "ap_school"},
        "provision": "deny", "given_by": "parent", "method": "written", "evidence_ref": evidence,
        "given_on": "2026-11-01"})
    assert r.status_code == 201, r.text
    consent_id = r.json()["consent_id"]
    try:
        for purpose in ("outcomes", "cme", "admission", "data_management", "care", "safeguarding"):
            r = ask("commissioner2", purpose, "GET", "/v1/consents", params={"child_id": held})
            assert r.status_code == 200 and r.json() == [], (purpose, r.text)
        seen = ask("cme2", "cme", "GET", "/v1/consents", params={"child_id": held})
        assert seen.status_code == 200 and len(seen.json()) == 1, seen.text
        assert seen.json()[0]["evidence_ref"] is None and evidence not in seen.text
        assert ask("cme2", "outcomes", "GET", "/v1/consents", params={"child_id": held}).json() == []
        mine = ask("officer2", "cme", "GET", "/v1/consents", params={"child_id": held}).json()
        assert [c["evidence_ref"] for c in mine] == [evidence]
    finally:
        assert ask("officer2", "cme", "POST", f"/v1/consents/{consent_id}/withdraw").status_code == 200
