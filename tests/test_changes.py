"""What a linkage run changed, for the data manager (`linkage changes`) and for each organisation
in its own pseudonyms (`GET /v1/identity/changes`), on a real second month that merges two
children and splits another."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import incli
from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from linkage.connectors import ingest_file
from linkage.link import run_link
from linkage.store import Store
from registry import register

pytestmark = pytest.mark.e2e

ORGS = {"ap": ("Oak AP Academy", "ap_school", "admissions", "admission"),
        "nurse": ("Northshire Community Health", "health", "school_nurse", "care"),
        "sw": ("Northshire Children's Services", "social_care", "social_worker", "safeguarding"),
        "dpo": ("Northshire Council", "dpo", "dpo", "audit")}


def _rewrite(src: Path, dst: Path, key: str, edits: dict[str, dict[str, str]]) -> None:
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.update(edits.get(r[key], {}))
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def children_by_source(store: Store) -> list[tuple[str, list[str], list[str]]]:
    """Each child with its records' sources and record ids (sorted by source), in record order."""
    return store.rows("""
        SELECT i.child_id, list(r.source ORDER BY r.source), list(r.source_record_id ORDER BY r.source)
        FROM store.identity i JOIN store.records r USING (record_key) GROUP BY 1 ORDER BY min(r.record_key)""")


def apart(store: Store) -> tuple[tuple, tuple, dict]:
    """A child known to health only (a) and one known to a school only (b), and their details."""
    per_child = children_by_source(store)
    a = next(c for c in per_child if c[1] == ["health"])
    b = next(c for c in per_child if c[1] == ["education"])
    return a, b, {"a": _demographics(store, "health", a[2][0]), "b": _demographics(store, "education", b[2][0])}


def school_row(d: dict) -> dict[str, str]:
    """A school census row's details set to ``d`` (no UPN): the school's record now reads as that child."""
    return {"Forename": d["forename"], "MiddleNames": d["middle"] or "", "Surname": d["surname"],
            "DOB": d["dob"].strftime("%d/%m/%Y"), "Sex": d["sex"], "Postcode": d["postcode"], "UPN": "",
            "FormerUPN": "", "PreferredForename": "", "PreferredSurname": "", "FormerSurname": ""}


def _demographics(store: Store, source: str, record_id: str) -> dict:
    f, m, s, dob, sex, pc = store.rows("SELECT forename, middle_names, surname, date_of_birth, sex, postcode "
                                       "FROM store.records WHERE source = ? AND source_record_id = ?",
                                       [source, record_id])[0]
    return {"forename": f, "middle": m, "surname": s, "dob": dob, "sex": sex, "postcode": pc}


def _token(server: Server, cred) -> str:
    return server.token(*cred)


def call(w, who: str, method: str, path: str, purpose: str | None = None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {_token(w['server'], w['creds'][who])}",
               "X-Purpose": purpose or ORGS[who][3]}
    return httpx.request(method, w["server"].url + path, headers=headers, timeout=30, **kw)


def _issued(home: Path) -> dict[str, str]:
    """pseudonym -> canonical child, as the service recorded issuing them."""
    con = sqlite3.connect(home / "service.sqlite")
    try:
        return dict(con.execute("SELECT pseudonym, child_id FROM pseudonyms").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    work = tmp_path_factory.mktemp("changes")
    home = work / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    split = next(c for c in children_by_source(store) if c[1] == ["education", "health"])
    a, b, demo = apart(store)           # known to health only; known to a school only
    demo["split"] = _demographics(store, "education", split[2][0])
    store.close()
    creds = {k: register(home, f"{k} client", t, role, org=org) for k, (org, t, role, _) in ORGS.items()}
    w = {"home": home, "creds": creds, "a": a[0], "b": b[0], "split": split[0]}

    # Month 1: the school looks up two children, health one; the service records the forms it issues.
    w["server"] = Server(home)
    held = {"ap": ["b", "split"], "nurse": ["a"], "sw": []}
    forms: dict[str, set[str]] = {who: set() for who in held}
    for who, names in held.items():
        for name in names:
            d = demo[name]
            r = call(w, who, "POST", "/v1/lookup", json={
                "forename": d["forename"], "surname": d["surname"], "date_of_birth": d["dob"].isoformat(),
                "postcode": d["postcode"]})
            assert r.status_code == 200, r.text
            assert r.json()["match"], r.text                            # one confident match
            forms[who].add(r.json()["match"]["child_id"])
    w["server"].stop()
    issued = _issued(home)
    w["held"] = {who: {issued[p] for p in ps} for who, ps in forms.items()}
    assert w["b"] in w["held"]["ap"] and w["split"] in w["held"]["ap"] and w["a"] in w["held"]["nurse"]
    assert w["a"] not in w["held"]["ap"] and w["b"] not in w["held"]["nurse"]

    # Month 2: the school's record of b now carries a's demographics (they are one child: a merge),
    # and health's record of `split` is someone else entirely (a split).
    m2 = work / "month2"
    m2.mkdir()
    _rewrite(synth_month1 / "education.csv", m2 / "education.csv", "AdNo", {b[2][0]: school_row(demo["a"])})
    _rewrite(synth_month1 / "health.csv", m2 / "health.csv", "id", {split[2][1]: {
        "name.given": "Zebedee", "name.family": "Quillfeather", "birthDate": "2012-12-12",
        "address.postalCode": "TR19 7AA", "nhsNumber": ""}})
    store = Store(home, memory_limit="2GB")
    for source in ("education", "health"):
        ingest_file(store, source, m2 / f"{source}.csv", extract_date=date(2026, 11, 1))
    result = run_link(store)
    w["history"] = store.rows("SELECT change, child_id, other_child_id FROM store.identity_history WHERE run_id = 2")
    w["run1_children"] = store.scalar("SELECT count(*) FROM store.identity_history WHERE run_id = 1")
    store.close()
    assert (result.merges, result.splits) == (1, 1), w["history"]
    (w["survivor"], w["retired"]), = [(c, o) for k, c, o in w["history"] if k == "merged"]
    assert {w["survivor"], w["retired"]} == {w["a"], w["b"]}
    (w["new"], old), = [(c, o) for k, c, o in w["history"] if k == "split"]
    assert old == w["split"]
    w["server"] = Server(home)
    yield w
    w["server"].stop()


def cli(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """The real command, in this process (tests/incli.py): its output, not its process, is the point."""
    p = incli.run(*args, "--data-dir", str(home))
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def piped(home: Path, *args: str) -> str:
    """What the real command prints, in a process of its own, to a pipe (no COLUMNS)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.run([sys.executable, "-m", "linkage.cli", *args, "--data-dir", str(home)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


# ---------------------------------------------------------------- linkage changes

def test_changes_lists_the_last_runs_merge_split_and_moves(world):
    rows = list(csv.DictReader(io.StringIO(cli(world["home"], "changes", "--format", "csv").stdout)))
    got = {(r["change"], r["child"], r["other_child"]) for r in rows}
    assert ("merged", world["survivor"], world["retired"]) in got
    assert ("split", world["new"], world["split"]) in got
    assert {r["run"] for r in rows} == {"2"} and all(r["reason"] for r in rows)
    assert {r["change"] for r in rows} <= {"merged", "split", "moved"}
    table = piped(world["home"], "changes")                             # piped: whole, not cut at 80
    assert "whose larger part keeps that identifier" in table and "…" not in table
    assert "1 split, 1 merged" in table


def test_changes_of_an_earlier_run_and_one_kind(world):
    created = json.loads(cli(world["home"], "changes", "--run", "1", "--change", "created", "--format",
                             "json").stdout)
    assert len(created) == world["run1_children"] and {c["change"] for c in created} == {"created"}
    merged = json.loads(cli(world["home"], "changes", "--change", "merged", "--format", "json").stdout)
    assert [(m["child"], m["other_child"]) for m in merged] == [(world["survivor"], world["retired"])]
    missing = cli(world["home"], "changes", "--run", "99", ok=False)
    assert missing.returncode == 2 and "no linkage run 99" in missing.stderr


# ---------------------------------------------------------------- GET /v1/identity/changes

def _changes(world, who: str, **params) -> dict:
    r = call(world, who, "GET", "/v1/identity/changes", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_each_organisation_learns_only_changes_to_children_it_holds(world):
    for who in ("ap", "nurse", "sw"):
        body = _changes(world, who)
        issued = _issued(world["home"])       # now with the forms this answer issued
        assert body["up_to_run"] == 2
        expected = set()
        if world["retired"] in world["held"][who]:
            expected.add(("merged", world["retired"]))
        if world["split"] in world["held"][who]:
            expected.add(("split", world["split"]))
        assert {(c["change"], issued[c["pseudonym"]]) for c in body["changes"]} == expected, who
        for c in body["changes"]:
            if c["change"] == "merged":
                assert issued[c["surviving_pseudonym"]] == world["survivor"] and c["new_pseudonyms"] == []
            else:
                assert [issued[p] for p in c["new_pseudonyms"]] == [world["new"]]
                assert c["surviving_pseudonym"] is None
        # Nothing else of anyone else's: no canonical id, and no form of a child it never held.
        assert not any(cid in json.dumps(body) for cid in (world["a"], world["b"], world["split"], world["new"]))
    # The organisation that held only the survivor learns nothing about the retired id.
    holder_of_survivor = "nurse" if world["survivor"] == world["a"] else "ap"
    assert not any(c["change"] == "merged" for c in _changes(world, holder_of_survivor)["changes"])
    assert _changes(world, "sw")["changes"] == []


def test_the_new_pseudonyms_work_and_the_answer_is_audited(world):
    body = _changes(world, "ap")
    entry = [json.loads(line)["entry"] for line in
             (world["home"] / "audit" / "log.jsonl").read_text().splitlines()][-1]
    assert entry["action"] == "identity.changes" and entry["decision"] == "allow" and entry["up_to_run"] == 2
    involved = {world["split"], world["new"]} | ({world["retired"], world["survivor"]}
                                                 if world["retired"] in world["held"]["ap"] else set())
    assert set(entry["children"]) == involved and entry["lawful_basis"]
    for c in body["changes"]:
        # A merged child opens on the relationship its old identifier had. A child split off is
        # another child: its pseudonym resolves, but opens only on a reason of its own.
        if c["surviving_pseudonym"]:
            assert call(world, "ap", "GET", f"/v1/children/{c['surviving_pseudonym']}").status_code == 200
        for p in c["new_pseudonyms"]:
            r = call(world, "ap", "GET", f"/v1/children/{p}")
            assert r.status_code in (200, 403), r.text
            if r.status_code == 403:
                assert audit_last(world)["reason"] == "no_relationship"


def audit_last(world) -> dict:
    return json.loads((world["home"] / "audit" / "log.jsonl").read_text().splitlines()[-1])["entry"]


def test_since_a_run_or_a_time(world):
    everything = _changes(world, "ap")
    assert _changes(world, "ap", since="1") == {**everything, "since": "1"}
    assert _changes(world, "ap", since="2")["changes"] == []
    at = datetime.fromisoformat(everything["changes"][0]["changed_at"])
    before = (at - timedelta(seconds=1)).isoformat() + "Z"
    assert _changes(world, "ap", since=before)["changes"] == everything["changes"]
    assert _changes(world, "ap", since=at.isoformat())["changes"] == []
    assert call(world, "ap", "GET", "/v1/identity/changes", params={"since": "last tuesday"}).status_code == 422


def test_who_may_follow_changes(world):
    assert call(world, "dpo", "GET", "/v1/identity/changes").status_code == 403
    assert call(world, "ap", "GET", "/v1/identity/changes", purpose="audit").status_code == 403
    assert call(world, "nurse", "GET", "/v1/identity/changes", purpose="care").status_code == 200
