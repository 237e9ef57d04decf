"""The DPO lifts a consent hold; a lookup a refusal withheld is counted as withheld, not allowed.

Session 33 held an organisation that may not see a child's date of birth, and sent a consent dated
before it, from recording any consent for that child (``consent_holds``): one bit, once. Nobody could
lift a hold, so a school's mistyped year barred it from that child for good. The DPO now lists the
holds and lifts one, with a note (sealed at rest), under the policy (``lift_consent_hold``): never
the held organisation, nor any role but the DPO's; every attempt audited. And a lookup a refusal of
consent withheld was logged with decision ``allow``: the DPO's counts showed it as an allowed
request, the access page's decisions among them. Its decision is ``withheld`` now.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import pytest

from apiserver import Server
from test_consent_dates import audit, oak_records, refuse
from test_consent_merge import call, linked_world, lookup

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    w, per_child = linked_world(tmp_path_factory, synth_month1, "consent-holds")
    w["kids"] = [c[3] for c in per_child if c[1] == ["education"]][:3]
    w["server"] = Server(w["home"])
    yield w
    w["server"].stop()


def _held(world, child: dict) -> str:
    """Oak finds the child, a refusal of its identity comes, and Oak sends a consent dated before the
    birth: refused (403) and held. Returns Oak's pseudonym for the child."""
    found = lookup(world, "oak", child)
    assert found and refuse(world, child, date.today()).status_code == 201
    assert oak_records(world, found["child_id"], child["dob"] - timedelta(days=1)).status_code == 403
    return found["child_id"]


def test_the_dpo_lifts_a_hold_and_no_one_else_can(world):
    child = world["kids"][0]
    ref = _held(world, child)
    assert oak_records(world, ref, date.today()).status_code == 403             # held: any date
    holds = call(world, "dpo", "GET", "/v1/audit/consent-holds")
    assert holds.status_code == 200, holds.text
    oak_org = world["creds"]["oak"][0].org.org_id
    mine = [h for h in holds.json() if h["organisation_id"] == oak_org and h["status"] == "held"]
    assert len(mine) == 1 and mine[0]["reason"] == "given_on_before_birth" and mine[0]["organisation"] == "Oak AP Academy"
    canonical = mine[0]["child_id"]
    body = {"organisation": oak_org, "child_id": canonical, "note": "Oak typed 2105 for 2015; checked by phone"}
    # The held school itself, another school and the consent officer are refused, and each attempt is
    # audited as a policy refusal naming the child; none of them may list the holds either.
    for who in ("oak", "elm", "officer"):
        assert call(world, who, "POST", "/v1/audit/consent-holds/lift", json=body).status_code == 403, who
        assert call(world, who, "GET", "/v1/audit/consent-holds").status_code == 403, who
    refused = [e for e in audit(world) if e["action"] == "lift_consent_hold"]
    assert [(e["decision"], e["children"]) for e in refused] == [("deny", [canonical])] * 3
    assert oak_records(world, ref, date.today()).status_code == 403             # still held
    lifted = call(world, "dpo", "POST", "/v1/audit/consent-holds/lift", json=body)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["status"] == "lifted" and lifted.json()["note"] == body["note"]
    assert oak_records(world, ref, date.today()).status_code == 201             # Oak records again
    again = call(world, "dpo", "POST", "/v1/audit/consent-holds/lift", json=body)
    assert again.status_code == 404
    entries = [e for e in audit(world) if e["action"] == "consent.hold_lift"]
    assert [(e["decision"], e["children"], e["held_organisation"]) for e in entries] == [
        ("allow", [canonical], oak_org), ("not_found", [canonical], oak_org)]
    assert body["note"] not in json.dumps(entries) and entries[0]["note_sha256"] and entries[0]["lift_id"]
    listed = call(world, "dpo", "GET", "/v1/audit/consent-holds").json()
    done = [h for h in listed if h["child_id"] == canonical]
    assert [h["status"] for h in done] == ["lifted"] and done[0]["note"] == body["note"]
    assert done[0]["lifted_by"].startswith("system: dpo client")
    raw = b"".join(f.read_bytes() for f in world["home"].glob("service.sqlite*"))
    assert body["note"].encode() not in raw                                     # sealed at rest
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{canonical}").json()["entries"]
    assert "consent.hold_lift" in [e["action"] for e in report]
    # The refusals are on the DPO's security page: a policy refusal of lift_consent_hold.
    events = call(world, "dpo", "GET", "/v1/audit", params={"decision": "deny"}).json()["entries"]
    assert sum(e["action"] == "lift_consent_hold" for e in events) == 3


def test_the_command_line_lists_and_lifts_as_the_dpos_client_and_says_what_went_wrong_in_one_line(world):
    child = world["kids"][1]
    _held(world, child)
    dpo = world["creds"]["dpo"]
    env_args = ["--url", world["server"].url, "--client-id", dpo[0].client_id, "--client-secret", dpo[1]]

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "linkage.cli", "consent", *args], capture_output=True,
                              text=True, timeout=120)
    listed = cli("holds", *env_args, "--no-lifted", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    held = [h for h in json.loads(listed.stdout) if h["status"] == "held"]
    assert held, listed.stdout
    oak = world["creds"]["oak"][0]
    wrong = cli("lift", oak.org.org_id, "C-NOSUCHCHILD", "--note", "x", *env_args)
    assert wrong.returncode == 2 and "404" in wrong.stderr and "Traceback" not in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    as_oak = cli("lift", oak.org.org_id, held[0]["child_id"], "--note", "x", "--url", world["server"].url,
                 "--client-id", oak.client_id, "--client-secret", world["creds"]["oak"][1])
    assert as_oak.returncode == 2 and "403" in as_oak.stderr and "Traceback" not in as_oak.stderr
    ok = cli("lift", oak.org.org_id, held[0]["child_id"], "--note", "wrong child: the sibling", *env_args)
    assert ok.returncode == 0 and "lifted" in ok.stdout, ok.stderr


def test_a_lookup_a_refusal_withheld_is_counted_as_withheld_not_as_allowed(world):
    child = world["kids"][2]
    assert refuse(world, child, date.today()).status_code == 201
    assert lookup(world, "oak", child) is None
    last = audit(world)[-1]
    assert (last["action"], last["decision"], last["reason"]) == ("lookup.withheld", "withheld", "consent_refused")
    page = call(world, "dpo", "GET", "/v1/audit", params={"decision": "withheld"}).json()
    assert [e["action"] for e in page["entries"]] == ["lookup.withheld"] and page["entries"][0]["decision"] == "withheld"
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{last['children'][0]}").json()["entries"]
    assert [e["decision"] for e in report if e["action"] == "lookup.withheld"] == ["withheld"]
