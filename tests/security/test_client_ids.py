"""No organisation learns another's API client id: with it, five wrong secrets lock that client out.

A consent's ``recorded_by`` carried the recording client's id to every party that may read the
consent: the AP school a refusal named learned the consent officer's (or a health trust's) client
id from its own consent list. The token endpoint locks a client out after five wrong secrets, in
every worker, for 15 minutes: so the school could keep the consent officer's system out of the
service, five requests every quarter of an hour. The id is now shown only to those who may read
the consent's evidence (its recorder, the consent officer, the DPO).
"""

from __future__ import annotations

import pytest

from apiserver import Server
from test_consent_merge import call, consent, linked_world, lookup

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    w, per_child = linked_world(tmp_path_factory, synth_month1, "client-ids")
    w["child"] = next(c[3] for c in per_child if c[1] == ["education"])
    w["server"] = Server(w["home"])
    yield w
    w["server"].stop()


def test_a_consents_recipient_does_not_learn_the_recorders_client_id(world):
    officer_client = world["creds"]["officer"][0].client_id
    r = consent(world, world["child"], "oak", provision="permit", category="education")
    assert r.status_code == 201, r.text
    assert r.json()["recorded_by"]["client_id"] == officer_client           # the recorder sees its own
    mine = lookup(world, "oak", world["child"])
    listed = call(world, "oak", "GET", "/v1/consents", params={"child_id": mine["child_id"]})
    assert listed.status_code == 200 and len(listed.json()) == 1, listed.text
    assert officer_client not in listed.text, listed.json()
