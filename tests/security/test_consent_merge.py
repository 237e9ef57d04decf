"""A consent recorded about a child follows the child when a later run merges its identifier.

Consents are kept by the canonical child id they were recorded under. When the next link run
found that child to be one with another (a school's record now carrying the health record's
details), one identifier survived and the other became its alias: relationships followed the
merge, but consents did not. A parent's refusal recorded under the retired identifier stopped
applying: the school it was addressed to found the child again, and the consent officer's list
of the child's consents no longer showed it. Here each of the two children carries a refusal to
a different AP school, so whichever identifier survives, one refusal was under the retired one.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from datetime import date, timedelta

import httpx
import pytest

from apiserver import Server, linked_home
from browserpages import Profile, accessible, add_user, shot, sign_in
from conftest import EXTRACT_DATE
from registry import register
from test_changes import _demographics, _rewrite, apart, children_by_source, school_row

pytestmark = pytest.mark.e2e

DPO = "dee@northshire.example"

ORGS = {"oak": ("Oak AP Academy", "ap_school", "admissions", "admission"),
        "elm": ("Elm AP Academy", "ap_school", "admissions", "admission"),
        "birch": ("Birch AP Academy", "ap_school", "admissions", "admission"),
        "officer": ("Northshire Education", "la_education", "consent_officer", "cme"),
        "cme": ("Northshire Education", "la_education", "cme_officer", "cme"),
        "commissioner": ("Northshire Education", "la_education", "commissioner", "cme"),
        "manager": ("Northshire Education", "la_education", "data_manager", "cme"),
        "sw": ("Northshire Children's Services", "social_care", "social_worker", "safeguarding"),
        "dpo": ("Northshire DPO", "dpo", "dpo", "audit")}


def call(w, who: str, method: str, path: str, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {w['server'].token(*w['creds'][who])}", "X-Purpose": ORGS[who][3]}
    return httpx.request(method, w["server"].url + path, headers=headers, timeout=30, **kw)


def lookup(w, who: str, d: dict) -> dict | None:
    r = call(w, who, "POST", "/v1/lookup", json={"forename": d["forename"], "surname": d["surname"],
                                                 "date_of_birth": d["dob"].isoformat(), "postcode": d["postcode"]})
    assert r.status_code == 200, r.text
    return r.json()["match"]


def consent(w, child: dict, to: str, given_on: date | None = None, provision: str = "deny",
            category: str = "identity") -> httpx.Response:
    """The consent officer finds ``child`` (its details) and records a parent's refusal (or
    permission) of ``category`` to organisation ``to``."""
    found = lookup(w, "officer", child)
    assert found
    return call(w, "officer", "POST", "/v1/consents", json={
        "child_id": found["child_id"], "category": category, "purpose": "admission",
        "recipient": {"organisation": w["creds"][to][0].org.org_id}, "provision": provision,
        "given_by": "parent", "method": "written", "evidence_ref": "Signed form, case file 42",
        "given_on": (given_on or date.today()).isoformat()})


def school_consent(w, who: str, ref: str, given_on: date) -> httpx.Response:
    """``who`` records a parent's refusal of SEN data to health for the child it knows as ``ref``."""
    return call(w, who, "POST", "/v1/consents", json={
        "child_id": ref, "category": "education.sen", "purpose": "admission", "recipient": {"type": "health"},
        "provision": "deny", "given_by": "parent", "method": "written", "evidence_ref": "Form 7",
        "given_on": given_on.isoformat()})


def linked_world(tmp_path_factory, synth_month1, name: str) -> tuple[dict, list]:
    """A linked data directory with every organisation of ORGS registered (no server yet), and its
    children with their sources and record ids (``children_by_source``)."""
    from linkage.store import Store

    home = tmp_path_factory.mktemp(name) / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    try:
        per_child = [(*c, _demographics(store, c[1][0], c[2][0])) for c in children_by_source(store)]
    finally:
        store.close()
    return {"home": home, "creds": {k: register(home, f"{k} client", t, role, org=org)
                                    for k, (org, t, role, _) in ORGS.items()}}, per_child


def serve_published(home) -> Server:
    """A server on ``home``'s store published as a snapshot, switching only on SIGHUP: the next
    month is then linked beside it and switched to (``relink``), as production does, not
    restarted (a start cost the module ~2-3 CPU s)."""
    from linkage.config import get_settings
    from linkage.store import Store
    from linkage.store.snapshots import publish

    store = Store(home, memory_limit="2GB")
    try:
        publish(store, get_settings().snapshot_keep)
    finally:
        store.close()
    return Server(home, {"LINKAGE_SNAPSHOT_POLL_SECONDS": "0", "LINKAGE_WEB_COOKIE_SECURE": "false"})


@contextmanager
def dpo_page(w, chromium):
    """A page signed in as the DPO (staff user ``DPO``) on ``w``'s server."""
    pages = Profile(chromium, w["server"].url)
    try:
        with pages.page() as p:
            sign_in(p, DPO)
            yield p
    finally:
        pages.close()


def relink(w, link):
    """``link(store)`` run on ``w``'s store while its server serves the last snapshot, then published
    and the server told by SIGHUP (``systemctl reload``); returns once it serves the new run."""
    from linkage.config import get_settings
    from linkage.store import Store
    from linkage.store.snapshots import publish

    server = w["server"]
    before = httpx.get(server.url + "/readyz", timeout=10).json()["run_id"]
    store = Store(w["home"], memory_limit="2GB")
    try:
        out = link(store)
        run_id = publish(store, get_settings().snapshot_keep).run_id
    finally:
        store.close()
    assert run_id > before, (run_id, before)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 120
    while (state := httpx.get(server.url + "/readyz", timeout=10).json())["run_id"] != run_id:
        assert time.time() < deadline and server.proc.poll() is None, (state, server.printed()[-2000:])
        time.sleep(0.2)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.store import Store

    work = tmp_path_factory.mktemp("consent-merge")
    home = work / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    a, b, demo = apart(store)           # known to health only; known to a school only
    store.close()
    w = {"home": home, "a": a[0], "b": b[0], "demo": demo,
         "creds": {k: register(home, f"{k} client", t, role, org=org) for k, (org, t, role, _) in ORGS.items()}}
    add_user(home, DPO, "Dee Okafor", "Northshire DPO", "dpo", "801", "dpo")      # the DPO's staff pages
    w["server"] = serve_published(home)
    w["refusals"], w["pseudonyms"] = {}, {}
    try:
        # The consent officer records a parent's refusal of identity data: about a, to Oak; about b, to Elm,
        # each of which had found its child before. Each school, which may no longer see the date of birth,
        # then sends a consent dated before it: refused, and held (session 33) under the child's identifier.
        for name, school in (("a", "oak"), ("b", "elm")):
            w["pseudonyms"][school] = lookup(w, school, demo[name])["child_id"]
            r = consent(w, demo[name], school)
            assert r.status_code == 201, r.text
            w["refusals"][school] = r.json()["consent_id"]
            assert lookup(w, school, demo[name]) is None             # the refusal applies before the merge
            r = school_consent(w, school, w["pseudonyms"][school], demo[name]["dob"] - timedelta(days=1))
            assert r.status_code == 403, r.text
            # A social worker breaks glass on each child: one use is then under the retired identifier.
            r = call(w, "sw", "POST", f"/v1/children/{lookup(w, 'sw', demo[name])['child_id']}/break-glass",
                     json={"justification": "Police report a child at immediate risk tonight"})
            assert r.status_code == 200, r.text

        m2 = work / "month2"
        m2.mkdir()
        # Month 2's school file: the school's record of b now carries a's details (one child: a merge).
        _rewrite(synth_month1 / "education.csv", m2 / "education.csv", "AdNo", {b[2][0]: school_row(demo["a"])})

        def month2(store):
            ingest_file(store, "education", m2 / "education.csv", extract_date=date(2026, 11, 1))
            return run_link(store), store.rows("SELECT child_id, other_child_id FROM store.identity_history "
                                               "WHERE run_id = 2 AND change = 'merged'")

        result, merged = relink(w, month2)
        assert result.merges == 1 and {*merged[0]} == {a[0], b[0]}, merged
        w["survivor"], w["retired"] = merged[0]
    except BaseException:
        w["server"].stop()
        raise
    yield w
    w["server"].stop()


def test_a_refusal_recorded_before_a_merge_still_applies_after_it(world):
    child = world["demo"]["a"]                        # the merged child's details, as both records now hold
    assert lookup(world, "birch", child)              # a school no one refused finds the child
    for school in ("oak", "elm"):                     # one refusal was recorded under the retired identifier
        assert lookup(world, school, child) is None, school


def test_the_consent_officer_lists_every_consent_of_the_merged_child(world):
    found = lookup(world, "officer", world["demo"]["a"])
    r = call(world, "officer", "GET", "/v1/consents", params={"child_id": found["child_id"]})
    assert r.status_code == 200, r.text
    assert {c["consent_id"] for c in r.json()} == set(world["refusals"].values())


def test_the_merged_childs_subject_access_report_shows_who_saw_it_under_either_identifier(world):
    """The API's report (the DPO's page already followed merges): each refusal's recording named
    one of the two identifiers; both are the child's."""
    r = call(world, "dpo", "GET", f"/v1/audit/subject/{world['survivor']}")
    assert r.status_code == 200, r.text
    recorded = [e for e in r.json()["entries"] if e["action"] == "consent.record"]
    assert {e["child_id"] for e in recorded} == {world["survivor"], world["retired"]}, recorded


def test_a_hold_recorded_before_a_merge_still_holds_and_the_dpo_sees_and_lifts_it_under_the_survivor(world):
    """A consent hold (an organisation that may not see the child's date of birth sent a consent dated
    before it) is kept under the identifier it was recorded under. After the merge one of the two was
    retired: the hold still refused its school's consents (``held`` read merged identifiers), but the
    DPO's list named the retired identifier, one no page or report finds, and a lift naming the child
    as it is now was 404 "no such hold". Each hold is now listed, and lifted, under the survivor."""
    survivor, retired = world["survivor"], world["retired"]
    for school in ("oak", "elm"):       # any date, under the pseudonym each school had: refused alike
        for given_on in (date.today(), world["demo"]["a"]["dob"] - timedelta(days=1)):
            r = school_consent(world, school, world["pseudonyms"][school], given_on)
            assert r.status_code == 403 and "consent officer" in r.text, (school, r.text)
    orgs = {world["creds"][s][0].org.org_id: s for s in ("oak", "elm")}
    holds = call(world, "dpo", "GET", "/v1/audit/consent-holds")
    assert holds.status_code == 200, holds.text
    held = [(orgs[h["organisation_id"]], h["child_id"]) for h in holds.json() if h["status"] == "held"]
    assert sorted(held) == [("elm", survivor), ("oak", survivor)], (held, survivor, retired)
    # Each says what it was recorded as where a merge retired that (main: nothing did, one hold's
    # identifier was lost to the DPO), and subject access finds the list under the retired identifier.
    assert sorted(str(h["recorded_as"]) for h in holds.json() if h["status"] == "held") == sorted(["None", retired])
    entries = call(world, "dpo", "GET", f"/v1/audit/subject/{retired}").json()["entries"]
    assert any(e["action"] == "consent.holds" for e in entries), [e["action"] for e in entries]
    for school in ("oak", "elm"):
        r = call(world, "dpo", "POST", "/v1/audit/consent-holds/lift", json={
            "organisation": world["creds"][school][0].org.org_id, "child_id": survivor, "note": "Checked by phone"})
        assert r.status_code == 200, (school, r.text)
        assert r.json()["child_id"] == survivor and r.json()["status"] == "lifted", r.text
    after = call(world, "dpo", "GET", "/v1/audit/consent-holds").json()
    assert [h for h in after if h["status"] == "held"] == [], after
    assert {(orgs[h["organisation_id"]], h["child_id"]) for h in after} == {("oak", survivor), ("elm", survivor)}
    # Lifted, a school that still may not see the date of birth records a consent dated today: taken.
    assert school_consent(world, "oak", world["pseudonyms"]["oak"], date.today()).status_code == 201


def test_the_dpo_reads_each_break_glass_use_and_consent_under_the_child_as_it_is_now(world, chromium):
    """The DPO's break-glass list and consent register named the identifier each was recorded under:
    after the merge, one use and one refusal named the retired identifier, a child no page finds, and
    the register showed one child as two. Each now names the child as it is now, and says what it
    was recorded as where that differs; subject access still finds both."""
    survivor, retired = world["survivor"], world["retired"]
    uses = [u for u in call(world, "dpo", "GET", "/v1/audit/break-glass").json()
            if u["client_id"] == world["creds"]["sw"][0].client_id]
    assert len(uses) == 2 and {(u["child_id"], u["recorded_as"]) for u in uses} == {
        (survivor, None), (survivor, retired)}, uses
    # Subject access still finds both uses' own entries, under either identifier.
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{survivor}").json()["entries"]
    glass = {e["child_id"] for e in report if e["break_glass"] and e["client_id"] == world["creds"]["sw"][0].client_id}
    assert glass == {survivor, retired}, report
    with dpo_page(world, chromium) as p:
        p.goto("/app/dpo/break-glass")
        cards = [p.get_by_test_id(f"pending-{u['review_id']}").inner_text() for u in uses]
        assert sum(f"{survivor} (recorded as {retired}" in c for c in cards) == 1, cards
        assert all(survivor in c for c in cards), cards
        accessible(p)
        p.goto("/app/dpo/consents")
        rows = {c: p.locator("tr", has_text=c).get_by_test_id("consent-child").inner_text()
                for c in world["refusals"].values()}
        now = {r.split(",")[0] for r in rows.values()}
        assert len(now) == 1 and sum("recorded as" in r for r in rows.values()) == 1, rows
        accessible(p)
        shot(p, "dpo-consents-after-a-merge")


def test_withdrawing_a_refusal_recorded_under_the_retired_identifier_names_the_child_as_it_is_now(world):
    """The answer's child_id is the caller's pseudonym for the surviving child (before: a form of the
    retired identifier, a pseudonym the consent officer had never been given)."""
    found = lookup(world, "officer", world["demo"]["a"])
    for school, consent_id in world["refusals"].items():
        r = call(world, "officer", "POST", f"/v1/consents/{consent_id}/withdraw")
        assert r.status_code == 200, r.text
        assert r.json()["child_id"] == found["child_id"], school
