"""A consent's dates: never ahead of today, never before the child was born; a refusal applies at once.

Before, any date was taken. A refusal of identity data typed a year ahead (2027 for 2026) was
stored as "pending": the school it refused found the child by lookup for a year, and the consent
officer's list said the refusal was recorded. A consent "given" before the child was born was
stored as given. Both are refused now (422, the date not repeated), before anything is stored; a
refusal dated tomorrow (a clerk ahead of the server's clock) applies from the moment it is recorded.
"""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from apiserver import Server
from test_consent_merge import call, consent, linked_world, lookup

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    w, per_child = linked_world(tmp_path_factory, synth_month1, "consent-dates")
    w["kids"] = [c[3] for c in per_child if c[1] == ["education"]][:4]
    w["server"] = Server(w["home"])
    yield w
    w["server"].stop()


def refuse(w, child: dict, given_on: date) -> httpx.Response:
    return consent(w, child, "oak", given_on)


def test_a_consent_dated_ahead_or_before_the_child_was_born_is_refused(world):
    child = world["kids"][0]
    for given_on in (date.today() + timedelta(days=400), child["dob"] - timedelta(days=1)):
        r = refuse(world, child, given_on)
        assert r.status_code == 422, (given_on, r.text)
        assert given_on.isoformat() not in r.text
    assert lookup(world, "oak", child)                  # nothing was stored
    found = lookup(world, "officer", child)
    assert call(world, "officer", "GET", "/v1/consents", params={"child_id": found["child_id"]}).json() == []
    assert refuse(world, child, child["dob"]).status_code == 201      # on the day of birth: taken
    assert lookup(world, "oak", child) is None


def test_a_refusal_dated_tomorrow_applies_at_once(world):
    child = world["kids"][1]
    r = refuse(world, child, date.today() + timedelta(days=1))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active"
    assert lookup(world, "oak", child) is None


def test_a_lookup_a_refusal_withheld_is_on_the_childs_record_for_the_dpo(world):
    """The school is told "no single match", as for a child never linked; the audit log and the
    child's subject access report say the child was matched and withheld (before: a lookup naming
    no child, indistinguishable from a miss)."""
    import json

    child = world["kids"][2]
    assert refuse(world, child, date.today()).status_code == 201
    assert lookup(world, "oak", child) is None
    entries = [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]
    refused = next(e for e in reversed(entries) if e["action"] == "consent.record")
    withheld = entries[-1]
    assert withheld["action"] == "lookup.withheld" and withheld["children"] == refused["children"], withheld
    oak = world["creds"]["oak"][0].client_id
    assert withheld["fields"] == [] and withheld["client_id"] == oak
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{refused['children'][0]}").json()["entries"]
    assert [e["action"] for e in report if e["client_id"] == oak][-1] == "lookup.withheld"


def test_consent_dates_do_not_tell_a_date_of_birth_a_refusal_withholds(world):
    """A consent dated before the child's birth was refused (422) and one dated on or after it taken,
    whoever recorded it: an AP school a parent had refused the child's identity to (it found the child
    before) learnt the date of birth from a dozen consents, each refusal saying "later". The date
    of birth is now checked only against a caller who may see it; each refusal is on the child's
    record (``consent.record`` refused, with its reason), for the DPO and the subject access report."""
    import json

    child = world["kids"][3]
    found = lookup(world, "oak", child)                 # Oak found the child, then the refusal came
    assert found and refuse(world, child, date.today()).status_code == 201
    assert lookup(world, "oak", child) is None

    def oak_records(given_on: date) -> httpx.Response:
        return call(world, "oak", "POST", "/v1/consents", json={
            "child_id": found["child_id"], "category": "education.sen", "purpose": "admission",
            "recipient": {"type": "health"}, "provision": "deny", "given_by": "parent", "method": "written",
            "evidence_ref": "Form 7", "given_on": given_on.isoformat()})
    before, after = oak_records(child["dob"] - timedelta(days=1)), oak_records(child["dob"] + timedelta(days=1))
    assert (before.status_code, after.status_code) == (201, 201), (before.text, after.text)
    # The consent officer, who found the child and may see its date of birth, is still told.
    assert refuse(world, child, child["dob"] - timedelta(days=1)).status_code == 422
    entries = [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]
    last = entries[-1]
    assert (last["action"], last["decision"], last["reason"]) == ("consent.record", "refused", "given_on_before_birth")
    assert last["client_id"] == world["creds"]["officer"][0].client_id and len(last["children"]) == 1
    assert not any(e["action"] == "security.invalid_request" and e["request_id"] == last["request_id"]
                   for e in entries)                    # one entry for the refusal, naming the child
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{last['children'][0]}").json()["entries"]
    assert any(e["action"] == "consent.record" and e["decision"] == "refused" for e in report)
