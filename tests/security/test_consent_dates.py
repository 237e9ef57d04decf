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
from test_consent_merge import ORGS, call, consent, linked_world, lookup

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1):
    w, per_child = linked_world(tmp_path_factory, synth_month1, "consent-dates")
    alone = [c[3] for c in per_child if c[1] == ["education"]]
    w["kids"], w["more"] = alone[:4], alone[4:16]
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
    before) learnt the date of birth from a dozen consents, each refusal saying "later". Session 32
    checked the date only against a caller who may see it, and so took a consent dated before the
    child's birth from any other (a consent for another child, a mistyped year). Now it is checked
    against every caller; one who may not see the date is refused without a word of why, once, and
    held: every later consent it sends for the child is refused alike (one bit, once, and the DPO
    sees each refusal with its reason)."""
    import json

    child = world["kids"][3]
    found = lookup(world, "oak", child)                 # Oak found the child, then the refusal came
    assert found and refuse(world, child, date.today()).status_code == 201
    assert lookup(world, "oak", child) is None
    before, after = (oak_records(world, found["child_id"], child["dob"] + timedelta(days=d)) for d in (-1, 1))
    assert (before.status_code, after.status_code) == (403, 403), (before.text, after.text)
    assert before.json() == after.json() and not any(w in before.text for w in ("birth", "date", "given_on"))
    entries = audit(world)
    oak = world["creds"]["oak"][0].client_id
    refusals = [e for e in entries if e["action"] == "consent.record" and e["client_id"] == oak]
    assert [(e["decision"], e["reason"]) for e in refusals] == [("refused", "given_on_before_birth"),
                                                                ("refused", "held")]
    assert all(e["birth_date_withheld"] and len(e["children"]) == 1 for e in refusals)
    # The consent officer, who found the child and may see its date of birth, is still told.
    assert refuse(world, child, child["dob"] - timedelta(days=1)).status_code == 422
    last = audit(world)[-1]
    assert (last["action"], last["decision"], last["reason"]) == ("consent.record", "refused", "given_on_before_birth")
    assert last["client_id"] == world["creds"]["officer"][0].client_id and len(last["children"]) == 1
    assert not any(e["action"] == "security.invalid_request" and e["request_id"] == last["request_id"]
                   for e in audit(world))            # one entry for the refusal, naming the child
    report = call(world, "dpo", "GET", f"/v1/audit/subject/{last['children'][0]}").json()["entries"]
    assert any(e["action"] == "consent.record" and e["decision"] == "refused" for e in report)
    assert json.dumps(report)


def audit(world) -> list[dict]:
    import json

    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def oak_records(world, ref: str, given_on: date, who: str = "oak", purpose: str | None = None,
                recipient: dict | None = None, category: str = "education.sen") -> httpx.Response:
    headers = {"Authorization": f"Bearer {world['server'].token(*world['creds'][who])}",
               "X-Purpose": purpose or ORGS[who][3]}
    return httpx.post(world["server"].url + "/v1/consents", headers=headers, timeout=30, json={
        "child_id": ref, "category": category, "purpose": "admission",
        "recipient": recipient or {"type": "health"}, "provision": "deny", "given_by": "parent",
        "method": "written", "evidence_ref": "Form 7", "given_on": given_on.isoformat()})


def test_a_caller_that_may_record_no_consent_is_not_told_which_recipients_are_registered(world):
    """The recipient organisation was looked up before the policy was asked: the LA's commissioner
    (who records no consent) was told 422 "not registered" for a made-up organisation id and 403 for
    a registered one, a way to list the organisations (and ids) the service holds. Now each is the
    policy's 403, audited naming the child and the recipient asked for; a caller the policy lets
    record it is told the organisation is not registered, and that refusal is audited too."""
    child = world["more"][0]
    ref = lookup(world, "officer", child)["child_id"]          # the LA's pseudonym, the commissioner's too
    today = date.today()
    answers = [oak_records(world, ref, today, "commissioner", "cme", recipient)
               for recipient in ({"organisation": "org_0000000000000000"},
                                 {"organisation": world["creds"]["elm"][0].org.org_id}, {"type": "ap_school"})]
    assert [r.status_code for r in answers] == [403] * 3, [r.text for r in answers]
    assert len({r.text for r in answers}) == 1
    commissioner = world["creds"]["commissioner"][0].client_id
    denied = [e for e in audit(world) if e["client_id"] == commissioner and e["action"] == "record_consent"]
    assert [(e["decision"], e["recipient"]) for e in denied] == [
        ("deny", {"organisation": "org_0000000000000000"}),
        ("deny", {"organisation": world["creds"]["elm"][0].org.org_id}), ("deny", {"type": "ap_school"})]
    assert all(len(e["children"]) == 1 for e in denied)
    unknown = oak_records(world, ref, today, "officer", "cme", {"organisation": "org_0000000000000000"},
                          category="identity")
    assert unknown.status_code == 422 and "not registered" in unknown.text
    entries = audit(world)
    last = next(e for e in reversed(entries) if e["action"] == "consent.record")
    assert (last["decision"], last["reason"], last["request_id"]) == (
        "refused", "recipient_not_registered", unknown.headers["X-Request-ID"])
    assert not any(e["action"] == "security.invalid_request" and e["request_id"] == last["request_id"]
                   for e in entries)


def _pseudonym(world, who: str, child: dict) -> str:
    """A pseudonym ``who``'s organisation holds for ``child`` with no reason to open it (kept from
    an old lookup, say): the form the service itself would give."""
    from linkage.access.pseudonyms import Pseudonyms
    from linkage.store.state import ServiceState

    ref = lookup(world, "officer", child)["child_id"]
    state = ServiceState(world["home"])
    try:
        forms = Pseudonyms(world["home"], state)
        canonical = forms.resolve(world["creds"]["officer"][0].org.org_id, ref)
        return forms.form(world["creds"][who][0].org.org_id, canonical)
    finally:
        state.close()


# (who, purpose, how the caller holds the child): whether it may see the date of birth is the record's
# decision, and the consent's date check follows it, whichever it is.
SIGHT_CASES = [("oak", "admission", "lookup"), ("oak", "care", "lookup"), ("oak", "admission", "refused"),
               ("elm", "admission", "kept"), ("officer", "cme", "lookup"), ("officer", "admission", "lookup")]


def test_the_record_and_the_consent_date_check_decide_who_sees_the_date_of_birth_alike(world):
    """``GET /v1/children`` and a consent's date check each decided, in steps of their own, whether
    the caller may see the child's date of birth (session 32's ``_birth_seen`` repeated ``_view``'s):
    one shared decision now (``service.children.may_view``). For each case the record shows the date
    of birth exactly when a consent dated the day before it is refused saying so (422); otherwise
    the consent is held (403, saying nothing of why)."""
    seen = []
    for (who, purpose, how), child in zip(SIGHT_CASES, world["more"][1:], strict=False):
        if how == "kept":
            ref = _pseudonym(world, who, child)
        else:
            ref = lookup(world, who, child)["child_id"]
            if how == "refused":
                assert refuse(world, child, date.today()).status_code == 201
        headers = {"Authorization": f"Bearer {world['server'].token(*world['creds'][who])}", "X-Purpose": purpose}
        view = httpx.get(world["server"].url + f"/v1/children/{ref}", headers=headers, timeout=30)
        shows = view.status_code == 200 and child["dob"].isoformat() in view.text
        answer = oak_records(world, ref, child["dob"] - timedelta(days=1), who, purpose,
                             category="identity" if who == "officer" else "education.sen")
        assert answer.status_code == (422 if shows else 403), (who, purpose, how, shows, answer.text)
        seen.append(shows)
    assert True in seen and False in seen, seen
