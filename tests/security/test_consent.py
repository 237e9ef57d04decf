"""Attacks on consent, against a real server: forging it, riding another organisation's,
reading or withdrawing others', and refusals recorded by those who may not speak for the child."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from registry import register

pytestmark = pytest.mark.e2e

OAK, ELM = "Oak AP Academy", "Elm AP Academy"
ROLES = {   # who: (organisation, type, role)
    "oak": (OAK, "ap_school", "admissions"),
    "oak_dsl": (OAK, "ap_school", "designated_safeguarding_lead"),
    "elm": (ELM, "ap_school", "admissions"),
    "school": ("Ash Primary School", "school", "admissions"),
    "sw": ("Northshire Children's Services", "social_care", "social_worker"),
    "nurse": ("Northshire Community Health", "health", "school_nurse"),
    "nurse2": ("Southshire Health Trust", "health", "school_nurse"),
    "officer": ("Northshire Education", "la_education", "consent_officer"),
    "cme": ("Northshire Education", "la_education", "cme_officer"),
    "dpo": ("Northshire Council", "dpo", "dpo"),
}
PURPOSE = {"oak": "admission", "oak_dsl": "admission", "elm": "admission", "school": "admission",
           "sw": "safeguarding", "nurse": "care", "nurse2": "care", "officer": "cme", "cme": "cme",
           "dpo": "audit"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    home = tmp_path_factory.mktemp("consent") / "data"
    children = linked_home(home, synth_month1, EXTRACT_DATE, children=2)
    creds = {who: register(home, f"{who} client", kind, role, org=org) for who, (org, kind, role) in ROLES.items()}
    server = Server(home, env={"LINKAGE_LOOKUP_BURST": "200", "LINKAGE_LOOKUP_PER_MINUTE": "600"})   # many lookups; the limit is tested elsewhere
    yield {"home": home, "server": server, "children": children, "creds": creds}
    server.stop()


def token(world, who: str) -> str:
    """One token per client, reused until near expiry: the token endpoint is rate limited."""
    return world["server"].token(*world["creds"][who])


def call(world, who: str, method: str, path: str, purpose: str | None = None, **kw) -> httpx.Response:
    tok = token(world, who)
    headers = {"Authorization": f"Bearer {tok}", "X-Purpose": purpose or PURPOSE[who]}
    return httpx.request(method, world["server"].url + path, headers=headers, timeout=30, **kw)


def candidates(world, who: str, n: int = 0) -> list[dict]:
    f, s, dob, pc = world["children"][n][1]
    r = call(world, who, "POST", "/v1/lookup",
             json={"forename": f, "surname": s, "date_of_birth": dob.isoformat(), "postcode": pc})
    assert r.status_code == 200, r.text
    return [r.json()["match"]] if r.json()["match"] else []     # one confident match, or none


def ref(world, who: str, n: int = 0) -> str:
    best = candidates(world, who, n)[0]
    assert best["match_probability"] > 0.9 and "date of birth agrees" in best["reason"]
    return best["child_id"]


def org(world, name: str) -> str:
    """The register id of a test organisation, named by its display name here for readability."""
    return next(c.org.org_id for c, _ in world["creds"].values() if c.org.name == name)


def body(world, who: str, category: str, recipient: dict, purpose: str, provision: str = "permit",
         n: int = 0, **over) -> dict:
    if recipient.get("organisation") in {o for o, _, _ in ROLES.values()}:
        recipient = {**recipient, "organisation": org(world, recipient["organisation"])}
    return {"child_id": ref(world, who, n), "category": category, "recipient": recipient, "purpose": purpose,
            "provision": provision, "given_by": "parent", "method": "written",
            "evidence_ref": "Signed form from Mrs Example, scanned to case file 42",
            "given_on": date.today().isoformat(), **over}


def consent(world, who: str, *args, **kw) -> httpx.Response:
    return call(world, who, "POST", "/v1/consents", json=body(world, who, *args, **kw))


def view(world, who: str, n: int = 0, purpose: str | None = None) -> dict:
    r = call(world, who, "GET", f"/v1/children/{ref(world, who, n)}", purpose)
    assert r.status_code == 200, r.text
    return r.json()


def withdraw(world, who: str, consent_id: str) -> httpx.Response:
    return call(world, who, "POST", f"/v1/consents/{consent_id}/withdraw")


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- forging consent

@pytest.mark.parametrize("who", ["oak", "oak_dsl"])
@pytest.mark.parametrize("recipient", [{"organisation": OAK}, {"type": "ap_school"}], ids=["own-org", "own-type"])
def test_a_recipient_cannot_record_consent_for_itself(world, who, recipient):
    r = consent(world, who, "health", recipient, "admission")
    assert r.status_code == 403, r.text
    refused = audit(world)[-1]
    assert refused["action"] == "record_consent" and refused["decision"] == "deny"
    named = {k: org(world, v) if k == "organisation" else v for k, v in recipient.items()}
    assert refused["recipient"] == named and refused["client_id"] == world["creds"][who][0].client_id
    body = view(world, "oak")
    assert "gp_registrations" not in body["sections"] and "health.gp" in body["withheld"]


def test_no_one_but_the_data_owner_or_consent_officer_grants_health_data(world):
    for who in ("elm", "school", "sw", "cme", "dpo"):
        r = consent(world, who, "health", {"organisation": OAK}, "admission") if who != "dpo" else \
            call(world, "dpo", "POST", "/v1/consents", json={
                "child_id": world["children"][0][0], "category": "health", "recipient": {"organisation": org(world, OAK)},
                "purpose": "admission", "given_by": "parent", "method": "written", "evidence_ref": "x",
                "given_on": date.today().isoformat()})
        assert r.status_code in (403, 404), (who, r.text)
    assert "gp_registrations" not in view(world, "oak")["sections"]


# ---------------------------------------------------------------- one organisation, not a type

def test_a_consent_for_one_organisation_does_not_reach_another_of_its_type(world):
    made = consent(world, "nurse", "health", {"organisation": OAK}, "admission")
    assert made.status_code == 201, made.text
    assert made.json()["recipient"] == {"organisation": org(world, OAK)}
    assert {"gp_registrations", "health_contacts"} <= set(view(world, "oak")["sections"])
    elm = view(world, "elm")
    assert "gp_registrations" not in elm["sections"] and "health.gp" in elm["withheld"]
    # A whole type is reached only when the consent names the type, explicitly.
    by_type = consent(world, "nurse", "health.gp", {"type": "ap_school"}, "admission")
    assert by_type.status_code == 201, by_type.text
    assert "gp_registrations" in view(world, "elm")["sections"]
    assert "health_contacts" not in view(world, "elm")["sections"]
    for c in (made.json(), by_type.json()):
        assert withdraw(world, "nurse", c["consent_id"]).status_code == 200
    assert "gp_registrations" not in view(world, "oak")["sections"]


# ---------------------------------------------------------------- reading and withdrawing others' consent

def test_consents_are_listed_only_to_their_parties(world):
    made = consent(world, "nurse", "health", {"organisation": OAK}, "admission").json()
    other_child = consent(world, "nurse", "health", {"organisation": ELM}, "admission", n=1).json()

    def listed(who: str, child_ref: str | None = None, purpose: str | None = None) -> dict[str, dict]:
        r = call(world, who, "GET", "/v1/consents", purpose, params={"child_id": child_ref or ref(world, who)})
        assert r.status_code == 200, r.text
        return {c["consent_id"]: c for c in r.json()}

    for who in ("elm", "sw", "nurse2", "school"):
        assert made["consent_id"] not in listed(who), who
    seen = listed("oak")[made["consent_id"]]
    assert seen["evidence_ref"] is None and seen["recorded_by"]["organisation"] == org(world, ROLES["nurse"][0])
    assert "Mrs Example" not in call(world, "oak", "GET", "/v1/consents",
                                     params={"child_id": ref(world, "oak")}).text
    for who in ("nurse", "officer"):
        assert listed(who)[made["consent_id"]]["evidence_ref"].startswith("Signed form")
    assert other_child["consent_id"] not in listed("officer")          # listed by child: never another's
    canonical = world["children"][0][0]
    assert listed("dpo", canonical)[made["consent_id"]]["evidence_ref"]
    assert call(world, "dpo", "GET", "/v1/consents", "admission", params={"child_id": canonical}).status_code == 404
    assert call(world, "oak", "GET", "/v1/consents", params={"child_id": canonical}).status_code == 404
    for c in (made, other_child):
        assert withdraw(world, "nurse", c["consent_id"]).status_code == 200


def test_only_the_recorder_or_the_consent_officer_withdraws(world):
    made = consent(world, "nurse", "health", {"organisation": OAK}, "admission").json()
    for who in ("elm", "sw", "nurse2", "school"):
        assert withdraw(world, who, made["consent_id"]).status_code == 404, who     # not even confirmed
    # ...yet each attempt on a real consent is on the child's record, refused, for the DPO (it named
    # no child: the child's subject access report never showed that others tried to withdraw it).
    tried = [e for e in audit(world) if e["action"] == "consent.withdraw"][-4:]
    assert all((e["decision"], e.get("reason"), e["children"]) == ("refused", "not_a_party", [world["children"][0][0]])
               for e in tried), tried
    assert withdraw(world, "oak", made["consent_id"]).status_code == 403            # the recipient
    assert {"gp_registrations"} <= set(view(world, "oak")["sections"])
    done = withdraw(world, "nurse", made["consent_id"])
    assert done.status_code == 200 and done.json()["status"] == "withdrawn"
    assert withdraw(world, "nurse", made["consent_id"]).status_code == 409
    again = consent(world, "nurse", "health", {"organisation": OAK}, "admission").json()
    assert withdraw(world, "officer", again["consent_id"]).status_code == 200
    assert "gp_registrations" not in view(world, "oak")["sections"]


def test_a_second_withdrawal_or_a_second_break_glass_verdict_is_refused_on_the_record(world):
    """A 409 was the only trace of a second withdrawal, or of a DPO trying to overwrite a
    break-glass verdict: the attempt is now in the log, refused, for the DPO to see."""
    made = consent(world, "nurse", "health", {"organisation": ELM}, "admission").json()
    assert withdraw(world, "nurse", made["consent_id"]).status_code == 200
    assert withdraw(world, "nurse", made["consent_id"]).status_code == 409
    again = [e for e in audit(world) if e["action"] == "consent.withdraw"
             and f"consent:{made['consent_id']}" in e["fields"]]
    assert [e["decision"] for e in again] == ["allow", "refused"] and again[-1]["reason"] == "already_withdrawn"
    child = ref(world, "sw", 1)
    r = call(world, "sw", "POST", f"/v1/children/{child}/break-glass",
             json={"justification": "Police report a child at immediate risk tonight"})
    assert r.status_code == 200, r.text
    use = call(world, "dpo", "GET", "/v1/audit/break-glass", params={"pending": "true"}).json()[-1]["review_id"]
    first = {"outcome": "justified", "note": "Checked with the team manager"}
    assert call(world, "dpo", "POST", f"/v1/audit/break-glass/{use}/review", json=first).status_code == 200
    second = {"outcome": "not_justified", "note": "Changed my mind"}
    assert call(world, "dpo", "POST", f"/v1/audit/break-glass/{use}/review", json=second).status_code == 409
    verdicts = [e for e in audit(world) if e["action"] == "audit.break_glass_review"
                and e.get("break_glass_review") == use]
    assert [(e["decision"], e["outcome"]) for e in verdicts] == [("allow", "justified"), ("refused", "not_justified")]
    assert verdicts[-1]["reason"] == "already_reviewed" and "Changed my mind" not in json.dumps(verdicts)


# ---------------------------------------------------------------- refusals by those who may not speak for the child

def test_a_school_cannot_refuse_health_data_to_the_nurse(world):
    r = consent(world, "school", "health", {"type": "health"}, "care", provision="deny")
    assert r.status_code == 403, r.text
    r = consent(world, "school", "health", {"organisation": ROLES["nurse"][0]}, "care", provision="deny")
    assert r.status_code == 403, r.text
    assert {"gp_registrations", "health_contacts"} <= set(view(world, "nurse")["sections"])


@pytest.mark.parametrize("purpose", ["safeguarding", "cme"])
def test_a_school_cannot_refuse_identity_to_the_social_worker(world, purpose):
    for who in ("school", "oak", "nurse"):
        r = consent(world, who, "identity", {"type": "social_care"}, purpose, provision="deny")
        assert r.status_code == 403, (who, r.text)
    body = view(world, "sw", purpose=purpose)
    assert {"demographics", "addresses"} <= set(body["sections"])


def test_a_refusal_of_identity_hides_the_child_from_lookups_but_not_from_safeguarding(world):
    oak_ref, sw_ref = ref(world, "oak"), ref(world, "sw")
    deny = consent(world, "officer", "identity", {"organisation": OAK}, "admission", provision="deny")
    assert deny.status_code == 201, deny.text
    assert oak_ref not in {c["child_id"] for c in candidates(world, "oak")}
    last = audit(world)[-1]         # the DPO is told the child was matched and withheld; the school is not
    assert last["action"] == "lookup.withheld" and last["children"] == [world["children"][0][0]], last
    assert last["fields"] == [] and last["reason"] == "consent_refused"
    assert ref(world, "elm")                                               # another AP school still finds the child
    to_sw = consent(world, "officer", "identity", {"type": "social_care"}, "safeguarding", provision="deny")
    assert to_sw.status_code == 201, to_sw.text
    assert ref(world, "sw") == sw_ref                                      # safeguarding overrides the refusal
    body = view(world, "sw")
    assert {"demographics", "addresses"} <= set(body["sections"])
    entry = audit(world)[-1]
    assert entry["action"] == "view" and entry["consent_overridden"] == ["identity.address", "identity.demographics", "identity.known_to"]
    for c in (deny.json(), to_sw.json()):
        assert withdraw(world, "officer", c["consent_id"]).status_code == 200
    assert oak_ref in {c["child_id"] for c in candidates(world, "oak")}


def test_a_cme_list_that_overrides_a_refusal_says_so(world):
    page = call(world, "officer", "GET", "/v1/cme?page=1&page_size=5").json()["children"]
    child_ref = page[0]["child_id"]
    r = call(world, "officer", "POST", "/v1/consents", json={
        "child_id": child_ref, "category": "identity.address", "recipient": {"type": "social_care"},
        "purpose": "safeguarding", "provision": "deny", "given_by": "young_person", "method": "verbal",
        "evidence_ref": "Case note 2026-11-02", "given_on": date.today().isoformat()})
    assert r.status_code == 201, r.text
    listed = call(world, "sw", "GET", "/v1/cme?page=1&page_size=5", "safeguarding")
    assert listed.status_code == 200 and listed.json()["children"][0]["addresses"]
    entry = audit(world)[-1]
    assert entry["action"] == "list_cme" and list(entry["consent_overridden"].values()) == [["identity.address"]]
    assert withdraw(world, "officer", r.json()["consent_id"]).status_code == 200


def test_a_refusal_of_identity_leaves_the_child_off_the_refused_organisations_cme_list(world):
    """The list names children as a lookup does: a child a refusal hides from the social worker's
    lookups (purpose cme) is not listed to her, and nothing in the answer says one was left out;
    the DPO is told. Safeguarding still lists the child."""
    def listed(purpose: str, who: str = "sw") -> tuple[dict, dict]:
        r = call(world, who, "GET", "/v1/cme?page=1&page_size=100", purpose)
        assert r.status_code == 200, r.text
        return r.json(), audit(world)[-1]

    before, before_entry = listed("cme")
    child = before["children"][0]
    same = [c for c in listed("cme", "officer")[0]["children"] if (c["name"], c["age"]) == (child["name"], child["age"])]
    assert len(same) == 1
    deny = call(world, "officer", "POST", "/v1/consents", json={
        "child_id": same[0]["child_id"], "category": "identity", "recipient": {"type": "social_care"},
        "purpose": "cme", "provision": "deny", "given_by": "parent", "method": "written",
        "evidence_ref": "Letter 2026-11-03", "given_on": date.today().isoformat()})
    assert deny.status_code == 201, deny.text
    after, after_entry = listed("cme")
    assert child["child_id"] not in {c["child_id"] for c in after["children"]}
    assert after["total"] == before["total"] - 1 and set(after) == set(before)
    withheld = audit(world)[-2]
    assert withheld["action"] == "list_cme.withheld" and withheld["reason"] == "consent_refused", withheld
    assert len(withheld["children"]) == 1 and withheld["fields"] == []
    gone = withheld["children"][0]
    assert gone in before_entry["children"] and gone not in after_entry["children"]
    safeguarding, _ = listed("safeguarding")                              # a refusal for cme: not for safeguarding
    assert child["child_id"] in {c["child_id"] for c in safeguarding["children"]}
    assert withdraw(world, "officer", deny.json()["consent_id"]).status_code == 200
    assert child["child_id"] in {c["child_id"] for c in listed("cme")[0]["children"]}


# ---------------------------------------------------------------- what is recorded

def test_every_consent_write_is_audited_and_its_evidence_sealed(world):
    made = consent(world, "nurse", "health.contacts", {"type": "school"}, "admission",
                   given_by="young_person", method="electronic")
    assert made.status_code == 201, made.text
    c = made.json()
    assert c["given_by"] == "young_person" and c["method"] == "electronic"
    assert c["recorded_by"] == {"organisation": org(world, ROLES["nurse"][0]), "organisation_type": "health",
                                "client_id": world["creds"]["nurse"][0].client_id}
    entry = audit(world)[-1]
    assert entry["action"] == "consent.record" and entry["consent_id"] == c["consent_id"]
    assert entry["recipient"] == {"type": "school"} and entry["children"] == [world["children"][0][0]]
    assert withdraw(world, "nurse", c["consent_id"]).status_code == 200
    entry = audit(world)[-1]
    assert entry["action"] == "consent.withdraw" and entry["consent_id"] == c["consent_id"]
    raw = (world["home"] / "audit" / "log.jsonl").read_text() + b"".join(
        p.read_bytes() for p in world["home"].glob("service.sqlite*")).decode("latin-1")
    assert "Mrs Example" not in raw


@pytest.mark.parametrize("change", [
    {"recipient": {"organisation": OAK, "type": "ap_school"}},
    {"recipient": {}},
    {"recipient": {"organisation": "No Such Academy"}},
    {"evidence_ref": "=HYPERLINK(\"http://evil\")"},
    {"evidence_ref": "x" * 201},
    {"evidence_ref": ""},
    {"given_by": "neighbour"},
    {"method": "telepathy"},
    {"purpose": "audit"},
    {"category": "health.dreams"},
], ids=lambda c: next(iter(c)) + ":" + str(next(iter(c.values())))[:20])
def test_malformed_consent_is_refused(world, change):
    good = body(world, "nurse", "health", {"organisation": OAK}, "admission")
    r = call(world, "nurse", "POST", "/v1/consents", json={**good, **change})
    assert r.status_code == 422, r.text
    assert "gp_registrations" not in view(world, "oak")["sections"]
    made = call(world, "nurse", "POST", "/v1/consents", json=good)         # the same, well formed, is taken
    assert made.status_code == 201, made.text
    assert withdraw(world, "nurse", made.json()["consent_id"]).status_code == 200


def test_consents_recorded_before_recipients_were_checked_are_set_aside(tmp_path):
    """The old table let anyone record consent for a whole type: its rows are kept apart, never evaluated."""
    import sqlite3

    from linkage.store.state import ServiceState

    con = sqlite3.connect(tmp_path / "service.sqlite")
    con.executescript("""
        CREATE TABLE consents (consent_id TEXT PRIMARY KEY, child_id TEXT NOT NULL, category TEXT NOT NULL,
          actor TEXT NOT NULL, purpose TEXT NOT NULL, provision TEXT NOT NULL, given_by TEXT NOT NULL,
          given_on TEXT NOT NULL, expires_on TEXT, recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL,
          withdrawn_at TEXT, withdrawn_by TEXT);
        CREATE INDEX consents_child ON consents(child_id);
        INSERT INTO consents VALUES ('CN-1', 'C1', 'health', 'ap_school', 'admission', 'permit', 'parent',
          '2026-01-01', NULL, 'Oak AP Academy', '2026-01-01T00:00:00', NULL, NULL);""")
    con.close()
    state = ServiceState(tmp_path)
    assert state.execute("SELECT count(*) FROM consents").fetchone()[0] == 0
    assert state.execute("SELECT consent_id FROM consents_unverified").fetchone()[0] == "CN-1"
    assert "recipient_kind" in {r[1] for r in state.execute("PRAGMA table_info(consents)")}
