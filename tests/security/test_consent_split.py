"""A refusal recorded about a child follows every part of it when a later run splits its identifier.

A school's record carried another child's details for a month, so the two were one child; a
parent's refusal of identity data to an AP school was recorded then, on that merged child. When
the school's corrected file came back, the next run split the school's record out under a new
identifier, and the refusal stayed with the identifier the larger part kept. Whose refusal it was
(the parent of the child the school knows, or of the other) nobody can tell: before, the school it
refused found the split-off child at once by lookup, and the consent officer's list for that child
was empty. A refusal now speaks for every part of the child it was recorded on, until the consent
officer records it again on the right one; a permission stays with the identifier (giving it to a
child who may not be the one who consented would disclose).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from browserpages import accessible, add_user, shot
from test_changes import _rewrite, school_row
from test_consent_merge import (DPO, call, consent, dpo_page, linked_world, lookup, relink, school_consent,
                                serve_published)

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.store import Store

    w, per_child = linked_world(tmp_path_factory, synth_month1, "consent-split")
    home, work = w["home"], w["home"].parent
    a = next(c for c in per_child if c[1] == ["health", "social_care"])     # two records, no school's
    b = next(c for c in per_child if c[1] == ["education"])                # a school's record only
    w["demo"] = demo = {"a": a[3], "b": b[3]}

    def month(n: int, edits: dict):
        """Link month ``n`` (the school's file with ``edits``): beside the server and switched to
        (``relink``) once one serves."""
        folder = work / f"month{n}"
        folder.mkdir()
        _rewrite(synth_month1 / "education.csv", folder / "education.csv", "AdNo", edits)

        def link(store):
            ingest_file(store, "education", folder / "education.csv", extract_date=date(2026, 11, 1 + 14 * (n - 2)))
            return run_link(store), store.rows("SELECT change, child_id, other_child_id FROM store.identity_history "
                                               f"WHERE run_id = {n} AND change IN ('merged', 'split')")
        if "server" in w:
            return relink(w, link)
        store = Store(home, memory_limit="2GB")
        try:
            return link(store)
        finally:
            store.close()

    # Month 2: the school's record of b carries a's details: one child of three records.
    result, history = month(2, {b[2][0]: school_row(demo["a"])})
    assert result.merges == 1, history
    add_user(home, DPO, "Dee Okafor", "Northshire DPO", "dpo", "801", "dpo")      # the DPO's staff pages
    w["server"] = serve_published(home)
    try:
        # Two schools look the child up (each is given a pseudonym) before the parent refuses one.
        w["held"] = {who: lookup(w, who, demo["a"])["child_id"] for who in ("oak", "elm")}
        r = consent(w, demo["a"], "oak")
        assert r.status_code == 201, r.text
        w["refusal"] = r.json()["consent_id"]
        assert lookup(w, "oak", demo["a"]) is None
        # Oak, which may no longer see the date of birth, sends a consent dated before it: held.
        assert school_consent(w, "oak", w["held"]["oak"], demo["a"]["dob"] - timedelta(days=1)).status_code == 403
        # A social worker breaks glass on the child of three records: the use is then every part's.
        r = call(w, "sw", "POST", f"/v1/children/{lookup(w, 'sw', demo['a'])['child_id']}/break-glass",
                 json={"justification": "Police report a child at immediate risk tonight"})
        assert r.status_code == 200, r.text

        # Month 3: the school's record has b's details again: it leaves the child (the larger part keeps the id).
        result, history = month(3, {b[2][0]: school_row(demo["b"])})
        assert result.splits == 1 and [h[0] for h in history] == ["split"], history
        w["kept"], w["new"] = history[0][2], history[0][1]
    except BaseException:
        w["server"].stop()
        raise
    yield w
    w["server"].stop()


def test_a_refusal_recorded_before_a_split_applies_to_every_part(world):
    for part in ("a", "b"):
        assert lookup(world, "birch", world["demo"][part]), part        # each part is found by others
        assert lookup(world, "oak", world["demo"][part]) is None, part  # and by no school it refused
    # Only what was one child when the refusal was given: a refusal after the split is one child's.
    r = consent(world, world["demo"]["a"], "birch")
    assert r.status_code == 201, r.text
    assert lookup(world, "birch", world["demo"]["a"]) is None
    assert lookup(world, "birch", world["demo"]["b"])


def test_the_consent_officer_sees_the_refusal_on_the_split_off_child(world):
    found = lookup(world, "officer", world["demo"]["b"])
    r = call(world, "officer", "GET", "/v1/consents", params={"child_id": found["child_id"]})
    assert r.status_code == 200, r.text
    assert [c["consent_id"] for c in r.json()] == [world["refusal"]]


def test_the_split_off_childs_subject_access_report_shows_who_saw_it_before_the_split(world):
    """Its records were the merged child's then: the consent officer's lookup and the refusal named it."""
    for child in (world["new"], world["kept"]):
        r = call(world, "dpo", "GET", f"/v1/audit/subject/{child}")
        assert r.status_code == 200, r.text
        seen = {e["action"] for e in r.json()["entries"]}
        assert {"lookup", "consent.record"} <= seen, (child, seen)


def test_a_school_refused_the_child_is_not_told_the_split_off_childs_pseudonym(world):
    """``GET /v1/identity/changes`` named every new child of a split the caller held a pseudonym
    for, whatever refusal stood: the school the parent refused learned the split-off child's
    pseudonym (and that it exists). Now a child hidden from the caller's lookups is hidden from
    its changes too; the DPO and the child's report see what was withheld."""
    import json

    elm = call(world, "elm", "GET", "/v1/identity/changes").json()["changes"]
    assert [(c["change"], c["pseudonym"], len(c["new_pseudonyms"])) for c in elm] == [
        ("split", world["held"]["elm"], 1)]
    r = call(world, "oak", "GET", "/v1/identity/changes")
    assert r.status_code == 200, r.text
    assert r.json()["changes"] == [], r.text
    oak = world["creds"]["oak"][0].client_id
    entries = [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]
    mine = [e for e in entries if e["client_id"] == oak][-2:]
    assert [e["action"] for e in mine] == ["identity.changes.withheld", "identity.changes"], mine
    assert mine[0]["children"] == sorted([world["kept"], world["new"]]) and mine[0]["fields"] == []
    assert mine[1]["children"] == [] and mine[1]["fields"] == []
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{world['new']}").json()["entries"]
    assert "identity.changes.withheld" in {e["action"] for e in report if e["client_id"] == oak}


def test_the_refused_school_is_not_told_the_split_off_childs_pseudonym_under_another_purpose(world):
    """A refusal is given for a purpose (here ``admission``), and hid the split-off child from the
    school's changes under that purpose only. Any of five purposes would do for following changes:
    naming ``care``, ``safeguarding``, ``cme`` or ``data_management`` instead, the school learnt the
    split and the new child's pseudonym. Changes are now followed only under a purpose the role
    finds children for (a school: admission), where the refusal applies; another is a 403."""
    import httpx

    server = world["server"]
    tok = server.token(*world["creds"]["oak"])
    for purpose in ("care", "safeguarding", "cme", "data_management"):
        r = httpx.get(server.url + "/v1/identity/changes", timeout=30,
                      headers={"Authorization": f"Bearer {tok}", "X-Purpose": purpose})
        assert r.status_code == 403, (purpose, r.text)
        assert world["held"]["oak"] not in r.text


def test_the_las_other_roles_find_list_and_open_no_child_by_naming_the_cme_purpose(world):
    """``X-Purpose`` is the caller's to name, and the CME permit named the organisation type only:
    a commissioner (published aggregates only) or the data manager sent ``cme``, looked a child
    up, listed the CME worklist (a reason to open each child on it) and opened the record, social
    care episodes and GP included. Each is now a policy refusal, on the DPO's record; the consent
    officer still finds and reads the child whose consent it records."""
    import json

    child = world["demo"]["b"]
    for who in ("commissioner", "manager"):
        r = call(world, who, "POST", "/v1/lookup", json={
            "forename": child["forename"], "surname": child["surname"],
            "date_of_birth": child["dob"].isoformat(), "postcode": child["postcode"]})
        assert r.status_code == 403, (who, r.text)
        assert call(world, who, "GET", "/v1/cme").status_code == 403, who
    found = lookup(world, "officer", child)
    assert found
    assert call(world, "officer", "GET", f"/v1/children/{found['child_id']}").status_code == 200
    entries = [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]
    for who in ("commissioner", "manager"):
        mine = {e["action"] for e in entries
                if e["client_id"] == world["creds"][who][0].client_id and e["decision"] == "deny"}
        assert {"lookup", "list_cme"} <= mine, (who, mine)


def test_a_refusal_of_identity_ends_the_reason_the_refused_schools_lookup_gave_it(world):
    """The school the parent refused still holds the pseudonym its lookup gave it before the
    refusal. That lookup's reason to open the record ran on for ``relationship_days``: the record
    opened (education, social care's contact) to a school the refusal takes the child out of the
    lookups of. A refusal of identity data now ends a reason the service gave by naming the child
    (a lookup, the CME list) while it stands: 403 as with no reason at all, and the DPO's entry
    names the refusal. A school the parent did not refuse still opens it."""
    import json

    r = call(world, "oak", "GET", f"/v1/children/{world['held']['oak']}")
    assert r.status_code == 403, r.text
    assert "refus" not in r.text.lower() and "consent" not in r.text.lower(), r.text
    entry = json.loads((world["home"] / "audit" / "log.jsonl").read_text().splitlines()[-1])["entry"]
    assert (entry["action"], entry["decision"], entry["reason"]) == ("view", "deny", "no_relationship"), entry
    assert entry["consent_refused"] and all(c.startswith("identity.") for c in entry["consent_refused"]), entry
    assert call(world, "elm", "GET", f"/v1/children/{world['held']['elm']}").status_code == 200


def test_withdrawing_a_refusal_that_followed_a_split_is_on_every_part_s_record(world):
    """The consent officer withdraws the refusal recorded before the split: it stops applying to
    both parts (whose refusal it was nobody can tell, so both lose it). The audit entry named only
    the identifier it was recorded under: the split-off child's subject access report never said
    its refusal was withdrawn, nor by whom. Now the entry names every child it spoke for. (Last in
    this module: the refusal is gone after it.)"""
    import json

    r = call(world, "officer", "POST", f"/v1/consents/{world['refusal']}/withdraw")
    assert r.status_code == 200, r.text
    entries = [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]
    withdrawn = entries[-1]
    assert withdrawn["action"] == "consent.withdraw" and withdrawn["decision"] == "allow", withdrawn
    assert withdrawn["children"] == sorted([world["kept"], world["new"]]), withdrawn
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{world['new']}").json()["entries"]
    assert "consent.withdraw" in {e["action"] for e in report}
    assert call(world, "oak", "GET", f"/v1/children/{world['held']['oak']}").status_code == 200   # its reason is back


def test_a_hold_recorded_before_a_split_holds_for_every_part_until_the_dpo_lifts_it(world, chromium):
    """Oak was held (a consent dated before a date of birth it may not see) on the merged child. With
    the refusal withdrawn, its changes name the split-off child's pseudonym, a child it has no reason
    to open. The hold stayed with the identifier the larger part kept: Oak's consents for the split-off
    child were checked against its date of birth again, one more bit each time (201 after it, 403 and
    a new hold before it). A hold now speaks for every part split from its child since it began, as a
    refusal does; the DPO sees the part beside the child and lifts it for both. (After the withdrawal.)"""
    changes = call(world, "oak", "GET", "/v1/identity/changes").json()["changes"]
    assert [(c["change"], c["pseudonym"]) for c in changes] == [("split", world["held"]["oak"])], changes
    part = changes[0]["new_pseudonyms"][0]
    assert call(world, "oak", "GET", f"/v1/children/{part}").status_code == 403    # no reason to open it
    for given_on in (date.today(), world["demo"]["b"]["dob"] - timedelta(days=1)):
        r = school_consent(world, "oak", part, given_on)
        assert r.status_code == 403 and "consent officer" in r.text, (given_on, r.text)
    oak = world["creds"]["oak"][0].org.org_id
    holds = [h for h in call(world, "dpo", "GET", "/v1/audit/consent-holds").json()
             if h["status"] == "held" and h["organisation_id"] == oak]
    kept = next(h for h in holds if h["child_id"] == world["kept"])
    assert kept["also_held_for"] == [world["new"]] and kept["reason"] == "given_on_before_birth", holds
    with dpo_page(world, chromium) as p:          # the DPO's page says so, beside the child
        p.goto("/app/dpo/consent-holds")
        card = p.get_by_test_id(f"hold-{oak}-{world['kept']}").inner_text()
        assert "Also held for" in card and world["new"] in card, card
        again = p.get_by_test_id(f"hold-{oak}-{world['new']}").inner_text()      # Oak's try on the part
        assert "while already held" in again, again
        accessible(p)
        shot(p, "dpo-consent-hold-after-a-split")
    r = call(world, "dpo", "POST", "/v1/audit/consent-holds/lift",
             json={"organisation": oak, "child_id": world["new"], "note": "The wrong child; checked by phone"})
    assert r.status_code == 200, r.text
    assert [h for h in call(world, "dpo", "GET", "/v1/audit/consent-holds").json()
            if h["status"] == "held" and h["organisation_id"] == oak] == []
    import json
    entry = json.loads((world["home"] / "audit" / "log.jsonl").read_text().splitlines()[-2])["entry"]
    assert entry["action"] == "consent.hold_lift" and entry["children"] == sorted([world["kept"], world["new"]]), entry
    assert school_consent(world, "oak", part, date.today()).status_code == 201     # lifted for every part
    assert lookup(world, "oak", world["demo"]["b"])          # the school it refused finds either part now


def test_the_dpo_reads_a_break_glass_use_and_a_refusal_as_every_part_of_the_child_since_split(world, chromium):
    """Before the split, a break-glass use opened (and a refusal spoke for) records that are now the
    split-off child's: the DPO's break-glass list and consent register said only the identifier the
    larger part kept. Each now names the part split off since, as the DPO's holds page does."""
    sw = world["creds"]["sw"][0].client_id
    uses = [u for u in call(world, "dpo", "GET", "/v1/audit/break-glass").json() if u["client_id"] == sw]
    assert [(u["child_id"], u["recorded_as"], u["also_for"]) for u in uses] == [(world["kept"], None, [world["new"]])]
    with dpo_page(world, chromium) as p:
        p.goto("/app/dpo/break-glass")
        card = p.get_by_test_id(f"pending-{uses[0]['review_id']}").inner_text()
        assert "Also opened" in card and world["new"] in card, card
        p.goto("/app/dpo/consents")
        said = p.locator("tr", has_text=world["refusal"]).get_by_test_id("consent-child").inner_text()
        assert "also for" in said, said
        accessible(p)
