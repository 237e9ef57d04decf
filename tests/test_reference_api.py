"""A real server shows school and GP practice names beside their codes, from registers loaded before it started."""

from __future__ import annotations

import httpx
import pytest

from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from registry import register

pytestmark = pytest.mark.e2e


def test_the_child_view_names_schools_and_practices(tmp_path, synth_month1):
    from linkage.reference import KINDS, load_reference, sample_path, sample_reference
    from linkage.store import Store

    home = tmp_path / "data"
    ((_, (forename, surname, dob, postcode)),) = linked_home(home, synth_month1, EXTRACT_DATE)
    store = Store(home, memory_limit="2GB")
    try:
        for kind in KINDS:
            load_reference(store, kind, sample_path(kind))
    finally:
        store.close()
    client, secret = register(home, "sw", "social_care", "social_worker", org="Fenmoor Children's Services")
    server = Server(home)
    try:
        tok = server.token(client, secret)
        headers = {"Authorization": f"Bearer {tok}", "X-Purpose": "safeguarding"}
        found = httpx.post(server.url + "/v1/lookup", headers=headers, timeout=30, json={
            "forename": forename, "surname": surname, "date_of_birth": dob.isoformat(), "postcode": postcode})
        assert found.status_code == 200, found.text
        assert found.json()["match"], found.text                    # one confident match
        ref = found.json()["match"]["child_id"]
        r = httpx.get(f"{server.url}/v1/children/{ref}", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        sections = r.json()["sections"]
    finally:
        server.stop()
    registers = sample_reference()
    assert sections["schools"] and sections["gp_registrations"]
    for item in sections["schools"]:
        school = registers.establishment(item["urn"])
        assert item["school_name"] == school.name and item["is_ap"] is school.is_ap
    for item in sections["gp_registrations"]:
        assert item["practice_name"] == registers.gp_practice(item["ods_code"]).name
