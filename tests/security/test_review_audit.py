"""The clerical review against a real server: whose records a data manager saw, and who decided.

A review pair shows two records side by side (names, date of birth, addresses, NHS number,
UPN), yet ``review.show`` and ``review.decide`` were audited with no children: the child's
subject access report never said that anyone had compared or decided their records. And the
name an API client typed as ``reviewer`` went into the entry's ``person``, the field that
otherwise names the signed-in member of staff, so a client could put the DPO's email (or
anyone's) in the child's report as the person who decided.
"""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from linkage.store import Store
from registry import register

pytestmark = pytest.mark.e2e

FORGED = "dora@dpo.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    home = tmp_path_factory.mktemp("review_audit") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home)
    try:
        child_of = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
    finally:
        store.close()
    manager = register(home, "dm", "la_education", "data_manager", org="Northshire Education", code="933")
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    server = Server(home)
    yield {"home": home, "server": server, "child_of": child_of,
           "manager": {"Authorization": f"Bearer {server.token(*manager)}", "X-Purpose": "data_management"},
           "dpo": {"Authorization": f"Bearer {server.token(*dpo)}", "X-Purpose": "audit"}}
    server.stop()


def entries(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def test_whoever_compares_or_decides_a_pair_is_in_each_childs_subject_access_report(world):
    url, mine = world["server"].url, world["manager"]
    pairs = httpx.get(url + "/v1/review", params={"page_size": 200}, headers=mine).json()["pairs"]
    assert pairs, "the linked population leaves a pair to review"
    pair = pairs[0]
    r = httpx.get(f"{url}/v1/review/{pair['id']}", headers=mine)
    assert r.status_code == 200, r.text
    assert {f["field"] for f in r.json()["fields"]} >= {"forename", "surname", "date_of_birth"}
    r = httpx.post(f"{url}/v1/review/{pair['id']}/decision", headers=mine, json={"decision": "unsure",
                                                                                 "reviewer": "Dana Shah"})
    assert r.status_code == 201, r.text       # "unsure" leaves the pair in the queue for the next test
    for child in {world["child_of"][pair["record_key_l"]], world["child_of"][pair["record_key_r"]]}:
        report = httpx.get(f"{url}/v1/audit/subject/{child}", headers=world["dpo"])
        assert report.status_code == 200, report.text
        seen = {e["action"] for e in report.json()["entries"]}
        assert {"review.show", "review.decide"} <= seen, (child, seen)


def test_the_entry_names_every_category_a_pair_shows(world):
    """A pair shows each record's agency (``source``, and the record key it prefixes): which
    agencies know the child, the category ``identity.known_to`` that a school gets only with
    consent. The entries of ``review.list``, ``review.show`` and ``review.decide`` named only
    demographics and address, so the child's subject access report understated what the data
    manager saw; the audit log's ``fields`` must be the categories of what was served."""
    url, mine = world["server"].url, world["manager"]
    pair = httpx.get(url + "/v1/review", params={"page_size": 200}, headers=mine).json()["pairs"][0]
    assert pair["record_key_l"].split(":")[0] in ("education", "social_care", "health")
    shown = httpx.get(f"{url}/v1/review/{pair['id']}", headers=mine).json()
    assert "source" in {f["field"] for f in shown["fields"]}
    listed, viewed = [e for e in entries(world) if e["action"] in ("review.list", "review.show")][-2:]
    for entry in (listed, viewed):
        assert "identity.known_to" in entry["fields"], entry


def test_an_api_client_cannot_name_the_person_who_decided(world):
    url, mine = world["server"].url, world["manager"]
    pair = httpx.get(url + "/v1/review", params={"page_size": 200}, headers=mine).json()["pairs"][-1]
    note = "Same pupil: the school confirmed the move by phone"
    r = httpx.post(f"{url}/v1/review/{pair['id']}/decision", headers=mine,
                   json={"decision": "unsure", "reviewer": FORGED, "note": note})
    assert r.status_code == 201, r.text
    decided = [e for e in entries(world) if e["action"] == "review.decide" and e["pair_id"] == pair["id"]]
    assert decided and all(e.get("person") != FORGED for e in decided), decided
    assert decided[-1]["reviewer"] == FORGED and decided[-1]["client_id"]      # kept as the client's claim
    # Why it was decided: the note is sealed, its digest in the entry (never the note itself).
    assert decided[-1]["note_sha256"] == hashlib.sha256(note.encode()).hexdigest()
    assert note not in (world["home"] / "audit" / "log.jsonl").read_text()


def test_an_unknown_pair_is_refused_on_the_record(world):
    url, mine = world["server"].url, world["manager"]
    before = len(entries(world))
    for path in ("/v1/review/rv-0000000000000000", "/v1/review/rv-0000000000000000/decision"):
        kwargs = {"json": {"decision": "match", "reviewer": "x"}} if path.endswith("decision") else {}
        r = httpx.request("POST" if kwargs else "GET", url + path, headers=mine, **kwargs)
        assert r.status_code == 404, r.text
    missed = [(e["action"], e["decision"]) for e in entries(world)[before:]]
    assert missed == [("review.show", "not_found"), ("review.decide", "not_found")], missed


def test_a_decision_at_the_command_line_is_audited_as_one_through_the_api(world):
    """``linkage review decide`` wrote its own entry and left out the note's digest (and the
    reviewer), so a decision's note could be checked by the DPO when made through the API or the
    pages but not at the command line. Both entries now say the decision through one function."""
    from test_pipeline_e2e import cli

    url, mine = world["server"].url, world["manager"]
    pair = httpx.get(url + "/v1/review", params={"page_size": 200}, headers=mine).json()["pairs"][0]
    note = "Asked the school: a second UPN for one pupil"
    r = httpx.post(f"{url}/v1/review/{pair['id']}/decision", headers=mine,
                   json={"decision": "unsure", "reviewer": "Dana Shah", "note": note})
    assert r.status_code == 201, r.text
    cli("review", "decide", pair["id"], "--unsure", "--reviewer", "Dana Shah", "--note", note,
        "--data-dir", str(world["home"]))
    api, typed = [e for e in entries(world) if e["action"] == "review.decide" and e.get("pair_id") == pair["id"]][-2:]
    assert typed["channel"] == "cli" and api["client_id"], (api, typed)
    said = ("pair_id", "review_decision", "reviewer", "note_sha256", "children")
    assert {k: typed.get(k) for k in said} == {k: api.get(k) for k in said}, (api, typed)
    assert typed["note_sha256"] == hashlib.sha256(note.encode()).hexdigest()
    assert typed["decision_id"] == api["decision_id"] + 1
