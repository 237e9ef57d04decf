"""Whose rows a data manager saw in the quarantine is in each child's subject access report.

A row held back at ingest is often a linked child's own record with one field set aside (a
postcode that is not one, an NHS number failing its check): listing the quarantine shows the
agency's id for that record, and the export sent back to the agency carries the value. Both were
audited with no children, so the child's subject access report never said that anyone had seen
them (session 19 closed the same gap for the review of pairs).
"""

from __future__ import annotations

import csv
import json
from datetime import date

import httpx
import pytest

from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from registry import register

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    from linkage.connectors import ingest_file
    from linkage.store import Store

    work = tmp_path_factory.mktemp("quarantine_audit")
    home = work / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    with open(synth_month1 / "education.csv", newline="", encoding="utf-8") as fh:
        first = next(csv.DictReader(fh))
    fix = work / "fix.csv"               # the school's correction: its postcode is not one, and is set aside
    with open(fix, "w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, list(first))
        out.writeheader()
        out.writerow({**first, "Postcode": "NOT KNOWN YET"})
    store = Store(home)
    try:
        result = ingest_file(store, "education", fix, extract_date=date.today(), amend=True)
        assert result.accepted == 1 and result.warned == 1, result
        child = store.scalar("SELECT child_id FROM store.identity WHERE record_key = ?",
                             [f"education:{first['AdNo']}"])
    finally:
        store.close()
    manager = register(home, "dm", "la_education", "data_manager", org="Northshire Education", code="933")
    server = Server(home)
    yield {"home": home, "server": server, "child": child, "record_id": first["AdNo"],
           "manager": {"Authorization": f"Bearer {server.token(*manager)}", "X-Purpose": "data_management"}}
    server.stop()


def entries(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def test_listing_or_exporting_a_childs_quarantined_row_names_the_child(world):
    url, mine = world["server"].url, world["manager"]
    listed = httpx.get(url + "/v1/quarantine", params={"source": "education", "page_size": 200}, headers=mine)
    assert listed.status_code == 200, listed.text
    assert world["record_id"] in {i["record_id"] for i in listed.json()["items"]}
    exported = httpx.get(url + "/v1/quarantine/export", params={"source": "education"}, headers=mine)
    assert exported.status_code == 200 and "NOT KNOWN YET" in exported.text
    for action in ("quarantine.list", "quarantine.export"):
        entry = [e for e in entries(world) if e["action"] == action][-1]
        assert world["child"] in entry["children"], (action, entry)
