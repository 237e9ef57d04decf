"""A consent's dates: never ahead of today, never before the child was born; a refusal applies at once.

Before, any date was taken. A refusal of identity data typed a year ahead (2027 for 2026) was
stored as "pending": the school it refused found the child by lookup for a year, and the consent
officer's list said the refusal was recorded. A consent "given" before the child was born was
stored as given. Both are refused now (422, the date not repeated), before anything is stored; a
refusal dated tomorrow (a clerk ahead of the server's clock) applies from the moment it is recorded.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from registry import register
from test_changes import _demographics, children_by_source
from test_consent_merge import ORGS, call, lookup

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    from linkage.store import Store

    home = tmp_path_factory.mktemp("consent-dates") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    per_child = children_by_source(store)
    kids = [_demographics(store, "education", c[2][0]) for c in per_child if c[1] == ["education"]][:2]
    store.close()
    w = {"home": home, "kids": kids,
         "creds": {k: register(home, f"{k} client", t, role, org=org) for k, (org, t, role, _) in ORGS.items()}}
    w["server"] = Server(home)
    yield w
    w["server"].stop()


def refuse(w, child: dict, given_on: date, to: str = "oak"):
    found = lookup(w, "officer", child)
    assert found
    return call(w, "officer", "POST", "/v1/consents", json={
        "child_id": found["child_id"], "category": "identity", "purpose": "admission",
        "recipient": {"organisation": w["creds"][to][0].org.org_id}, "provision": "deny",
        "given_by": "parent", "method": "written", "evidence_ref": "Signed form", "given_on": given_on.isoformat()})


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
