"""The AP admissions officer's and the CME officer's pages, in a real browser against a real ``linkage serve``.

Two monthly link runs, so the worklist can say who is new since the last run; every page is
checked with axe-core and photographed (`make screenshots` keeps the photographs in docs/screenshots/); every access is audited
naming the person. Also the absence rule and the CME membership each run records.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from apiserver import Server, linked_home
from browserpages import ENV, Profile, accessible, add_user, csrf_token, fill_lookup, shot, sign_in, through
from conftest import EXTRACT_DATE
from linkage.access.orgs import OrgRegistry
from linkage.access.pseudonyms import Pseudonyms
from linkage.connectors import ingest_file
from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.link import run_link
from linkage.link.run import resolve_aliases
from linkage.reference import KINDS, label, load_reference, sample_path
from linkage.store import Store
from linkage.store.state import ServiceState
from linkage.synth.population import base_date
from linkage.views.cme import ABSENT, cme_rows, record_membership
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

AMY, CAM, SAM = "amy@oak-ap.example", "cam@northshire.example", "sam@northshire-csc.example"
MONTH2 = base_date(2)
ALL_AGES = {"min_age": 0, "max_age": 26}
# Absence thresholds the "new since the last run" check is made with (None: off roll only).
THRESHOLDS = (None, 10)


def _listed(store: Store, on: date, absent_days: int | None) -> set[str]:
    return {r[0] for r in cme_rows(store.connection, on, absent_days=absent_days, **ALL_AGES)}


def _demo(store: Store) -> tuple[str, tuple]:
    """A child known to all three agencies, with a suspension or exclusion and a social care team,
    and its education demographics, to look up as an AP school would."""
    child = store.scalar("""
        SELECT i.child_id FROM store.identity i JOIN store.records r USING (record_key)
        WHERE i.child_id IN (SELECT i2.child_id FROM store.identity i2 JOIN store.edu_exclusion x USING (record_key))
          AND i.child_id IN (SELECT i3.child_id FROM store.identity i3 JOIN store.sc_allocation a USING (record_key))
        GROUP BY i.child_id HAVING count(DISTINCT r.source) = 3 ORDER BY min(r.record_key) LIMIT 1""")
    demo = store.rows("""SELECT forename, surname, date_of_birth, postcode FROM store.records r
        JOIN store.identity i USING (record_key) WHERE i.child_id = ? AND source = 'education'
        ORDER BY extract_id DESC LIMIT 1""", [child])[0]
    return child, tuple(demo)


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_month1, synth_month2, chromium):
    home = tmp_path_factory.mktemp("webapcme") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)     # month 1's run (linking reads no reference data)
    store = Store(home, memory_limit="2GB")
    for kind in KINDS:
        load_reference(store, kind, sample_path(kind))
    record_membership(store, store.scalar("SELECT max(run_id) FROM store.runs"), EXTRACT_DATE)  # as `linkage link` does
    before = {n: _listed(store, EXTRACT_DATE, n) for n in THRESHOLDS}   # the lists as the first run drew them
    for source in ("education", "social_care", "health"):
        ingest_file(store, source, synth_month2 / f"{source}.csv", extract_date=MONTH2)
    run = run_link(store)
    record_membership(store, run.run_id, MONTH2)
    aliases = resolve_aliases(store)
    now = {n: _listed(store, date.today(), n) for n in THRESHOLDS}
    new = {n: now[n] - {aliases.get(c, c) for c in before[n]} for n in THRESHOLDS}
    child, demo = _demo(store)
    store.close()
    ids = {AMY: add_user(home, AMY, "Amy Adeyemi", "Oak AP Academy", "ap_school", "140001", "admissions"),
           CAM: add_user(home, CAM, "Cam Price", "Northshire Education", "la_education", "802", "cme_officer"),
           SAM: add_user(home, SAM, "Sam Osei", "Northshire Children's Services", "social_care", "803",
                         "social_worker")}
    server = Server(home, env=ENV)
    pages = Profile(chromium, server.url)
    yield {"home": home, "server": server, "pages": pages, "ids": ids, "child": child, "demo": demo,
           "new": new, "now": now}
    pages.close()
    server.stop()


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def pseudonym(world, org_name: str, child_id: str) -> str:
    """The child's reference as an organisation's pages show it."""
    state = ServiceState(world["home"])
    return Pseudonyms(world["home"], state).form(OrgRegistry(state).by_name(org_name).org_id, child_id)


def open_page(world):
    return world["pages"].page()


def rows_of(p) -> list[dict]:
    """The worklist's rows as shown: name, age, days, school, address (text), new. Read in one call
    (a call per cell was 150 round trips to the browser a page)."""
    out = []
    for cells in p.get_by_test_id("worklist").locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => c.innerText))"):
        out.append({"name": cells[0].split("\n")[0], "why": cells[0], "age": cells[1], "days": cells[2],
                    "school": cells[3], "address": cells[4], "new": cells[5].strip() == "New"})
    return out


def download(p) -> list[dict]:
    """Press the worklist's CSV button; the file's rows."""
    with p.expect_download() as got:
        p.get_by_role("button", name="Download the list as CSV").click()
    return list(csv.DictReader(io.StringIO(got.value.path().read_text(encoding="utf-8"))))


def find_the_child(p, demo: tuple) -> None:
    """From the start page, look the child up by its details; one child matches."""
    through(p, p.get_by_role("link", name="Find a child"))
    fill_lookup(p, *demo)
    assert p.get_by_test_id("outcome").inner_text() == "One child matches"


# ---------------------------------------------------------------- the AP admissions officer

def test_ap_officer_looks_up_a_pupil_and_opens_the_record(world):
    forename, surname, dob, postcode = world["demo"]
    with open_page(world) as p:
        sign_in(p, AMY)
        assert "Children missing education" not in p.get_by_test_id("tasks").inner_text()
        find_the_child(p, world["demo"])
        ref = p.get_by_test_id("child-ref").inner_text()
        through(p, p.get_by_role("link", name="Open the child's record"))

        assert p.get_by_test_id("child-ref").inner_text() == ref
        assert p.get_by_test_id("child-name").inner_text().casefold() == f"{forename} {surname}".casefold()
        schools = p.get_by_test_id("schools").inner_text()
        assert "URN" in schools and "Not in the establishment register" not in schools    # names, not codes
        assert p.get_by_test_id("attendance").locator("tbody tr").count() >= 1
        assert p.locator("svg[role=img] rect.linkage-chart__bar").count() >= 1            # the chart
        exclusions = p.get_by_test_id("exclusions").inner_text()
        assert any(label("exclusion_category", c) in exclusions for c in ("SUSP", "PERM", "LNCH"))
        assert "SUSP" not in exclusions and "PERM" not in exclusions                      # DfE words, not codes
        assert "Education, health and care (EHC) plan" in p.get_by_test_id("sen").inner_text()
        assert "is involved" in p.get_by_test_id("social-care").inner_text()
        assert p.get_by_test_id("who-to-call").locator("a[href^='tel:']").count() >= 1
        # Health needs a parent's consent for a school; which agencies know the child too.
        health = p.get_by_test_id("withheld-health.gp").inner_text()
        assert "needs consent from a parent or carer" in health
        assert "not shared with your organisation's role" in p.get_by_test_id(
            "withheld-social_care.episodes").inner_text()
        assert p.get_by_test_id("timeline").count() == 0            # one agency's view: no cross-agency timeline
        accessible(p)
        shot(p, "child-ap")
    viewed = [e for e in audit(world) if e["action"] == "view" and e.get("person") == AMY]
    assert viewed and viewed[-1]["decision"] == "allow" and viewed[-1]["relationship"] == "lookup"
    assert viewed[-1]["purpose"] == "admission" and world["child"] in viewed[-1]["children"]
    assert not [f for f in viewed[-1]["fields"] if f.startswith("health.")]


def test_ap_officer_cannot_reach_the_worklist_or_other_childrens_records_by_editing_urls(world):
    other = next(iter(world["now"][None]))                     # a child Amy's school never found
    with open_page(world) as p:
        sign_in(p, AMY)
        r = p.goto("/app/cme")
        assert r.status == 403
        expect(p.get_by_role("heading", name="You cannot see this page")).to_be_visible()
        r = p.request.post("/app/cme/export", form={"csrf_token": csrf_token(p.content()), "purpose": "cme"})
        assert r.status == 403 and "text/csv" not in r.headers["content-type"]
        # Another organisation's reference for a child means nothing here.
        r = p.goto(f"/app/children/{pseudonym(world, 'Northshire Education', other)}")
        assert r.status == 404
        # Its own reference for a child it has no reason to open: refused.
        r = p.goto(f"/app/children/{pseudonym(world, 'Oak AP Academy', other)}?purpose=admission")
        assert r.status == 403
        accessible(p)
    entries = [e for e in audit(world) if e.get("person") == AMY]
    assert {"list_cme", "view"} <= {e["action"] for e in entries if e["decision"] == "deny"}
    assert [e for e in entries if e["action"] == "view" and e["decision"] == "not_found"]


# Text nodes holding any of the given words, in the page's body, that no <bdi> isolates.
_UNISOLATED = r"""(values) => {
  const esc = v => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const words = values.filter(Boolean).map(v => new RegExp("(^|\\W)" + esc(v) + "($|\\W)", "i"));
  const out = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode())
    if (words.some(w => w.test(n.textContent)) && !n.parentElement.closest("bdi")) out.push(n.textContent.trim());
  return out;
}"""


def test_names_and_addresses_are_isolated_from_the_text_around_them(world):
    """A right-to-left name (Arabic, Hebrew, Urdu) shown beside a date, a number or another name
    takes the neutral text next to it into its own direction: "Amy, 12 Oak Road" can read as
    another order. Every name, school, address and person the pages show from the data now sits in
    its own ``<bdi>``; before, none did."""
    forename, surname, dob, postcode = world["demo"]
    with open_page(world) as p:
        sign_in(p, AMY)
        assert p.evaluate(_UNISOLATED, ["Amy Adeyemi", "Oak AP Academy"]) == []      # the header, the start page
        find_the_child(p, world["demo"])
        assert p.evaluate(_UNISOLATED, [forename, surname]) == []
        through(p, p.get_by_role("link", name="Open the child's record"))
        schools = [s.split("\n")[0].strip() for s in p.get_by_test_id("schools").locator("tbody td:first-child")
                   .all_inner_texts()]
        assert p.evaluate(_UNISOLATED, [forename, surname, *schools]) == []
    with open_page(world) as p:
        sign_in(p, CAM)
        through(p, p.get_by_role("link", name="Children missing education"))
        rows = [r for r in rows_of(p) if not r["name"].startswith("Name not shown")]
        assert rows
        shown = [r["name"] for r in rows]
        shown += [r["address"].split("\n")[0].strip() for r in rows if r["address"] != "Not shown"]
        shown += [r["school"].removesuffix("AP").strip() for r in rows if r["school"] not in ("None",)
                  and not r["school"].startswith("URN")]
        assert p.evaluate(_UNISOLATED, shown) == []


# ---------------------------------------------------------------- the CME officer

def test_cme_officer_sorts_filters_opens_and_exports_the_worklist(world):
    with open_page(world) as p:
        sign_in(p, CAM)
        through(p, p.get_by_role("link", name="Children missing education"))
        total = int(p.get_by_test_id("count").inner_text().split()[0].replace(",", ""))
        assert total > 25 and len(rows_of(p)) == 25
        accessible(p)
        shot(p, "cme-worklist")

        # Absent at least 5 days: children on roll but absent join those off roll.
        p.get_by_label("Days absent this term, at least").fill("5")
        through(p, p.get_by_role("button", name="Apply filters"))
        assert int(p.get_by_test_id("count").inner_text().split()[0].replace(",", "")) > total

        through(p, p.get_by_role("link", name="Name"))
        assert p.locator("th[aria-sort=ascending]").inner_text().startswith("Name")
        listed = download(p)
        keys = [(r["Last name"].casefold(), r["First name"].casefold()) for r in listed]
        assert keys == sorted(keys)
        assert [r["name"] for r in rows_of(p)] == [f"{r['First name']} {r['Last name']}" for r in listed[:25]]
        through(p, p.get_by_role("link", name="Name"))
        keys = [(r["Last name"].casefold(), r["First name"].casefold()) for r in download(p)]
        assert keys == sorted(keys, reverse=True)
        through(p, p.get_by_role("link", name="Days since last on a school roll"))
        days = [int(r["days"].split()[0].replace(",", "")) for r in rows_of(p)
                if r["days"].split()[0].replace(",", "").isdigit()]
        assert days and days == sorted(days)

        # One postcode district, within ages 7 to 12.
        district = rows_of(p)[0]["address"].split("\n")[0].split(", ")[-1].split()[0]
        p.get_by_label("Area").fill(district)
        p.get_by_label("From").fill("7")
        p.get_by_label("To").fill("12")
        through(p, p.get_by_role("button", name="Apply filters"))
        shown = rows_of(p)
        assert shown and all(r["address"].split("\n")[0].split(", ")[-1].split()[0] == district for r in shown)
        assert all(7 <= int(r["age"]) <= 12 for r in shown)
        accessible(p)
        shot(p, "cme-worklist-filtered")

        p.get_by_label("From").fill("twelve")
        through(p, p.get_by_role("button", name="Apply filters"))
        assert "Age from must be a whole number" in p.locator(".govuk-error-summary").inner_text()
        accessible(p)
        p.get_by_label("From").fill("5")
        p.get_by_label("To").fill("15")
        p.get_by_label("Area").fill("")
        through(p, p.get_by_role("button", name="Apply filters"))

        rows = download(p)
        count = int(p.get_by_test_id("count").inner_text().split()[0].replace(",", ""))
        assert len(rows) == count and rows[0]["Last name"]
        assert all(not (cell or "").startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
        assert {r["Why listed"] for r in rows} <= {"off roll", "never on a school roll", ABSENT}

        first = p.get_by_test_id("worklist").locator("tbody tr").first.get_by_role("link")
        name = first.inner_text()
        through(p, first)
        assert p.get_by_test_id("child-name").inner_text() == name
        assert p.get_by_test_id("timeline").locator("tbody tr").count() >= 1     # every agency, one timeline
        assert "withheld-health.contacts" in p.content()                          # a CME officer: no health contacts
        accessible(p)
        shot(p, "child-cme")
    exported = [e for e in audit(world) if e["action"] == "export_cme"]
    assert exported and exported[-1]["person"] == CAM and exported[-1]["count"] == len(rows)
    assert exported[-1]["decision"] == "allow" and len(exported[-1]["children"]) == len(rows)
    assert exported[-1]["agency"] == "Northshire Education" and exported[-1]["format"] == "csv"


def test_a_social_worker_sees_every_agency_on_one_timeline(world):
    with open_page(world) as p:
        sign_in(p, SAM)
        through(p, p.get_by_role("link", name="Children missing education"))
        p.get_by_label("Who knows the child").select_option("social_care")
        through(p, p.get_by_role("button", name="Apply filters"))
        assert p.get_by_label("Purpose").input_value() == "safeguarding"
        through(p, p.get_by_test_id("worklist").locator("tbody tr").first.get_by_role("link"))
        agencies = {t.inner_text() for t in p.get_by_test_id("timeline").locator("tbody tr td:nth-child(2)").all()}
        assert "Children's social care" in agencies and len(agencies) >= 2
        assert p.locator(".linkage-withheld").count() == 0           # safeguarding: nothing withheld
        accessible(p)
        shot(p, "child-social-worker")
    viewed = [e for e in audit(world) if e["action"] == "view" and e.get("person") == SAM]
    assert viewed and viewed[-1]["purpose"] == "safeguarding" and viewed[-1]["relationship"] == "cme worklist"
    assert "social_care.episodes" in viewed[-1]["fields"]


def test_new_since_the_last_run_is_the_children_the_previous_run_did_not_list(world):
    """The worklist's "new" filter against the two runs' lists, computed directly from the store."""
    with open_page(world) as p:
        sign_in(p, CAM)
        for threshold in THRESHOLDS:
            p.goto(f"/app/cme?age_from=0&age_to=25&new=1&absent_days={threshold or ''}")
            assert all(r["new"] for r in rows_of(p))
            refs = {r["Reference"] for r in download(p)}
            expected = {pseudonym(world, "Northshire Education", c) for c in world["new"][threshold]}
            assert expected and refs == expected, threshold
            assert len(world["new"][threshold]) < len(world["now"][threshold])    # not everyone is new
        shot(p, "cme-worklist-new")


def test_the_absence_rule_lists_a_child_absent_n_days_not_only_one_who_never_attended(world):
    """A child on roll absent k sessions of the latest term is listed for N <= k/2 days, and not above."""
    store = Store(world["home"], read_only=True)
    try:
        row = store.rows(f"""
            WITH t AS (
              SELECT i.child_id, a.term, sum(a.sessions_possible) AS possible,
                     sum(a.sessions_authorised + a.sessions_unauthorised) AS absent
              FROM store.identity i JOIN ({CURRENT_RECORDS_SQL}) r USING (record_key)
              JOIN store.edu_attendance a ON a.record_key = r.record_key AND a.extract_id = r.extract_id
              GROUP BY i.child_id, a.term
              QUALIFY row_number() OVER (PARTITION BY i.child_id ORDER BY a.term DESC) = 1)
            SELECT child_id, absent, possible FROM t WHERE absent >= 20 AND absent < possible
            ORDER BY absent DESC""")
        on_roll = [(c, a, n) for c, a, n in row if c not in world["now"][None]]
        known = _listed(store, date.today(), 1)                  # known to social care or health, absent a day
        candidates = [(c, a, n) for c, a, n in on_roll if c in known][:4]
        assert candidates, "no child on roll, known to an agency, with absence"
        for child, absent, possible in candidates:
            days = absent // 2
            assert child in _listed(store, date.today(), days), (absent, possible)   # attended some, still listed
            assert child not in _listed(store, date.today(), days + 1), (absent, possible)
    finally:
        store.close()


# ---------------------------------------------------------------- why a section is withheld

@pytest.mark.parametrize("who,purpose,consent,expected", [
    # A school: health needs a parent's consent, the case detail is not for its role at all.
    (("ap_school", "admissions"), "admission", ({}, {}),
     {"health.gp": "needs_consent", "health.contacts": "needs_consent", "identity.known_to": "needs_consent",
      "social_care.episodes": "role"}),
    # A refusal on record is said as such, not as missing consent.
    (("ap_school", "admissions"), "admission", ({}, {"health.gp": True}),
     {"health.gp": "consent_refused", "health.contacts": "needs_consent", "identity.known_to": "needs_consent",
      "social_care.episodes": "role"}),
    # A CME officer: health contacts never (no consent, purpose or break-glass opens them).
    (("la_education", "cme_officer"), "cme", ({}, {}), {"health.contacts": "role"}),
    # A social worker under CME, where a refusal stands; under safeguarding it would not. Health
    # contacts are for safeguarding, not for finding a child missing education (session 33).
    (("social_care", "social_worker"), "cme", ({}, {"education.sen": True}),
     {"education.sen": "consent_refused", "health.contacts": "other_purpose"}),
])
def test_withheld_sections_say_why_as_the_policy_decides(who, purpose, consent, expected):
    from linkage.consent import ConsentState
    from linkage.policy import PolicyEngine, Principal
    from linkage.service.withheld import REASONS, withheld_reasons

    policy = PolicyEngine()
    caller = Principal("c", "Org", who[0], who[1], "org_1", "140001")
    state = ConsentState(*consent)
    decision = policy.decide(caller, "view", purpose, list(policy.categories), state.permit, state.deny)
    reasons = withheld_reasons(policy, caller, purpose, decision, state)
    assert reasons == expected and set(reasons) == set(decision.denied)
    assert set(reasons.values()) <= set(REASONS)
