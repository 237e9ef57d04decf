"""No organisation learns another's API client id: with it, five wrong secrets lock that client out.

A consent's ``recorded_by`` carried the recording client's id to every party that may read the
consent: the AP school a refusal named learned the consent officer's (or a health trust's) client
id from its own consent list. The token endpoint locks a client out after five wrong secrets, in
every worker, for 15 minutes: so the school could keep the consent officer's system out of the
service, five requests every quarter of an hour. The id is now shown only to those who may read
the consent's evidence (its recorder, the consent officer, the DPO).
"""

from __future__ import annotations

from datetime import date

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

    home = tmp_path_factory.mktemp("client-ids") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    child = next(_demographics(store, "education", c[2][0]) for c in children_by_source(store)
                 if c[1] == ["education"])
    store.close()
    w = {"home": home, "child": child,
         "creds": {k: register(home, f"{k} client", t, role, org=org) for k, (org, t, role, _) in ORGS.items()}}
    w["server"] = Server(home)
    yield w
    w["server"].stop()


def test_a_consents_recipient_does_not_learn_the_recorders_client_id(world):
    officer_client = world["creds"]["officer"][0].client_id
    found = lookup(world, "officer", world["child"])
    r = call(world, "officer", "POST", "/v1/consents", json={
        "child_id": found["child_id"], "category": "education", "purpose": "admission",
        "recipient": {"organisation": world["creds"]["oak"][0].org.org_id}, "provision": "permit",
        "given_by": "parent", "method": "written", "evidence_ref": "Form 7", "given_on": date.today().isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["recorded_by"]["client_id"] == officer_client           # the recorder sees its own
    mine = lookup(world, "oak", world["child"])
    listed = call(world, "oak", "GET", "/v1/consents", params={"child_id": mine["child_id"]})
    assert listed.status_code == 200 and len(listed.json()) == 1, listed.text
    assert officer_client not in listed.text, listed.json()
