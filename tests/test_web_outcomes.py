"""The AP outcomes page in a real browser (Debian chromium) against a real ``linkage serve``.

A linked synthetic population with AP trajectories: a commissioner sees published aggregates
(charts drawn on the server with a table behind each, ``c`` where suppressed, filters, a CSV),
an AP leader sees its own pupils and is refused another setting's, and a role without the
task is refused. Each page is checked with axe-core and photographed (`make screenshots` keeps the photographs in docs/screenshots/).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from apiserver import Server
from browserpages import ENV, Profile, accessible, add_user, shot, sign_in, through
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

COMMISSIONER, LEADER, CME = ("kim@northshire.example", "lee@ap-setting.example", "cam@northshire.example")


@pytest.fixture(scope="module")
def world(tmp_path_factory, chromium, trained_model):
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.run import import_model
    from linkage.outcomes.nccis import load_nccis
    from linkage.reference import KINDS, load_reference, sample_path
    from linkage.store import Store
    from linkage.synth import synthesise

    base = tmp_path_factory.mktemp("web-outcomes")
    extracts, home = base / "extracts", base / "data"
    when = date.fromisoformat(synthesise(2000, 11, extracts, ap_trajectories=True)["extract_date"])
    store = Store(home, memory_limit="2GB")
    try:
        for kind in KINDS:
            load_reference(store, kind, sample_path(kind))
        for source in ("education", "social_care", "health"):
            ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
        load_nccis(store, extracts / "nccis.csv")
        import_model(store, trained_model)       # the session's month 1 model: these pages are not about training
        run_link(store)
        # The AP settings with the most placed children (as the outcome measures count them).
        settings = store.rows("""SELECT e.urn, count(DISTINCT i.child_id) AS n FROM store.edu_enrolment e
            JOIN store.identity i USING (record_key) JOIN store.ref_establishment r USING (urn)
            WHERE r.is_ap GROUP BY e.urn ORDER BY n DESC, e.urn LIMIT 2""")
        canonical = {r[0] for r in store.rows("SELECT DISTINCT child_id FROM store.identity")}
    finally:
        store.close()
    (own, _), (other, _) = settings
    ids = {COMMISSIONER: add_user(home, COMMISSIONER, "Kim Osei", "Northshire Education", "la_education", "802",
                                  "commissioner"),
           LEADER: add_user(home, LEADER, "Lee Marsh", "The AP setting", "ap_school", own, "ap_leader"),
           CME: add_user(home, CME, "Cam Price", "Northshire Education", "la_education", "802", "cme_officer")}
    server = Server(home, env=ENV)
    pages = Profile(chromium, server.url)
    yield {"home": home, "server": server, "ids": ids, "pages": pages, "own": own, "other": other,
           "canonical": canonical}
    pages.close()
    server.stop()


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def open_page(world):
    return world["pages"].page()


def table_values(p, key: str) -> list[str]:
    return [c.strip() for c in p.get_by_test_id(f"table-{key}").locator("td").all_inner_texts()]


def test_commissioner_sees_published_aggregates_charts_tables_and_csv(world):
    with open_page(world) as p:
        sign_in(p, COMMISSIONER)
        assert "AP outcomes" in p.get_by_test_id("tasks").inner_text()
        through(p, p.get_by_role("link", name="AP outcomes"))
        assert p.url.endswith("/app/outcomes")
        # The headline survives suppression: a published total, rounded to the nearest 10.
        headline = p.get_by_test_id("headline").locator("strong").inner_text()
        assert headline.isdigit() and int(headline) % 10 == 0 and int(headline) > 0, headline
        # Three charts, each an SVG drawn on the server with a text label on every bar; a table behind each.
        for key in ("attendance", "exclusions", "next_place"):
            svg = p.get_by_test_id(f"chart-{key}")
            assert svg.get_attribute("role") == "img" and svg.locator("title").count() == 1
            assert svg.locator("text").count() > 0
        # A bar for each published mean. Every breakdown and cohort is protected together, so this
        # world (about 120 placements, 9 settings, 6 cohorts) may publish none by setting; then
        # each is written as suppressed, never drawn (docs/outcomes.md, "Disclosure control").
        att = p.get_by_test_id("chart-attendance")
        assert att.locator("rect").count() > 0 or "c (suppressed)" in att.inner_html()
        for key in ("attendance", "suspended_1term", "excluded_1year", "next_place"):
            assert p.get_by_test_id(f"table-{key}").is_visible()
        # Small counts are shown as c, in the tables and as "c (suppressed)" on the charts (never as a bar).
        values = [v for k in ("next_place", "excluded_1year") for v in table_values(p, k)]
        assert "c" in values
        assert all(v in ("c", "", "0") or float(v.split(" ")[0]) > 5 or "." in v for v in values), values
        assert "c (suppressed)" in p.get_by_test_id("chart-next_place").inner_html()
        # What the figures cannot say: the comparison's limits, and attainment not measured.
        assert "not measured" in p.get_by_test_id("attainment").inner_text()
        assert "What this cannot prove" in p.locator("main").inner_text()
        html = p.content()          # once: read again for each of 2,000 children it cost 15 CPU s
        assert not any(child in html for child in world["canonical"])
        accessible(p)
        shot(p, "outcomes-commissioner")

        # Filters: by placement type, one cohort; the URL carries them and the page keeps them.
        p.get_by_label("Break the figures down by").select_option("placement_type")
        cohort = p.locator("#cohort option").nth(2).get_attribute("value")
        p.get_by_label("Cohort (academic year the placement began)").select_option(cohort)
        through(p, p.get_by_role("button", name="Show figures"))
        assert "by=placement_type" in p.url and p.get_by_label("Break the figures down by").input_value() == \
            "placement_type"
        groups = p.get_by_test_id("table-next_place").locator("tbody th").all_inner_texts()
        from linkage.outcomes.release import TYPE_WORDS     # the placement types in words, as the page says them
        assert groups and set(groups) <= {TYPE_WORDS[t] for t in ("short", "long", "new")} | {"Total"}
        accessible(p)

        # The CSV: every published figure, formula-safe, no child; the same aggregate access, audited.
        with p.expect_download() as got:
            p.get_by_test_id("csv").click()
        text = open(got.value.path(), encoding="utf-8").read()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["table", "breakdown", "group", "column", "value", "rule", "as_at", "cohort"]
        assert {r[1] for r in rows[1:]} == {"placement_type"} and {r[7] for r in rows[1:]} == {cohort}
        assert any(r[0] == "placements_total" for r in rows[1:])
        assert not any(child in text for child in world["canonical"])

        r = p.goto("/app/outcomes/pupils")          # child-level is for an AP setting's leader only
        assert r.status == 403
        r = p.goto("/app/outcomes?by=child_id")
        assert r.status == 400 and "Select how to break the figures down" in p.locator(".govuk-error-summary").inner_text()
    entries = [e for e in audit(world) if e.get("person") == COMMISSIONER and e["action"] == "read_outcomes"]
    assert len(entries) >= 3 and all(e["scope"] == "aggregate" and e["children"] == [] for e in entries)
    assert [e for e in entries if e.get("export") == "csv" and e["by"] == "placement_type"]
    assert entries[0]["client_id"] == f"user:{world['ids'][COMMISSIONER]}"
    assert all(e["purpose"] == "outcomes" and e["lawful_basis"] for e in entries)


def test_ap_leader_sees_its_own_pupils_and_is_refused_another_settings(world):
    with open_page(world) as p:
        sign_in(p, LEADER)
        through(p, p.get_by_role("link", name="AP outcomes"))
        assert p.get_by_test_id("headline").is_visible()          # aggregates, as for a commissioner
        through(p, p.get_by_role("link", name="Your own pupils' outcomes, child by child"))
        assert p.get_by_test_id("urn").inner_text() == world["own"]
        refs = p.get_by_test_id("pupils").locator("tbody th").all_inner_texts()
        assert refs and not set(refs) & world["canonical"]        # the setting's own pseudonyms, not our ids
        accessible(p)
        shot(p, "outcomes-ap-leader-pupils")

        r = p.goto(f"/app/outcomes/pupils?urn={world['other']}")   # another setting's children: refused
        assert r.status == 403
        expect(p.get_by_role("heading", name="You cannot see this page")).to_be_visible()
        assert p.goto(f"/app/outcomes/pupils?urn={world['own']}").status == 200
    entries = [e for e in audit(world) if e.get("person") == LEADER and e["action"] == "read_outcome_children"]
    allowed = [e for e in entries if e["decision"] == "allow"]
    assert allowed and all(e["scope"] == "own pupils" and e["urn"] == world["own"] for e in allowed)
    assert len(allowed[0]["children"]) == len(set(refs))      # the children shown, and only those, recorded
    refused = [e for e in entries if e["decision"] == "deny"]
    assert refused and refused[0]["asked_urn"] == world["other"] and refused[0]["children"] == []


def test_a_role_without_the_task_is_refused(world):
    with open_page(world) as p:
        sign_in(p, CME)
        assert "AP outcomes" not in p.locator("main").inner_text()
        for path in ("/app/outcomes", "/app/outcomes.csv", "/app/outcomes/pupils"):
            assert p.goto(path).status == 403, path
    denied = [e for e in audit(world) if e.get("person") == CME and e["action"].startswith("read_outcome")]
    assert denied and all(e["decision"] == "deny" for e in denied)


# Every text of a chart (group headings, series labels, values), as Chromium lays it out, against
# the chart's own box: the ones that run past an edge, with how far.
_OUTSIDE = """svg => { const box = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()])
    .filter(([, r]) => r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.left < 0)
    .map(([text, r]) => `${text}: ${Math.round(r.left - box.left)} to ${Math.round(r.right - box.right)}`); }"""


def test_every_label_of_every_chart_lies_inside_it_however_long(world):
    """The longest destination ("not in education, employment or training") fits its chart, at a
    desk's width and a phone's, by every breakdown; the label is whole, not cut."""
    with open_page(world) as p:
        sign_in(p, COMMISSIONER)
        for width, by in ((1024, "setting"), (1024, "placement_type"), (375, "sen_status")):
            p.set_viewport_size({"width": width, "height": 800})
            assert p.goto(f"/app/outcomes?by={by}").status == 200
            for key in ("attendance", "exclusions", "next_place"):
                assert p.get_by_test_id(f"chart-{key}").evaluate(_OUTSIDE) == [], (key, width, by)
            labels = p.get_by_test_id("chart-next_place").locator("text.linkage-chart__label")
            words = [" ".join(t.split()) for t in labels.evaluate_all(
                "ts => ts.map(t => [...t.childNodes].map(n => n.textContent).join(' '))")]
            assert "not in education, employment or training" in words, words
        shot(p, "outcomes-next-place-narrow")
