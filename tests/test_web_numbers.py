"""Counts read as numbers and charts whose words are not covered, in a real browser against a real
``linkage serve``.

A count of a thousand or more is written with a comma every three digits on every page (GOV.UK
style: the CME worklist said "15361 children" at a million records); and on every chart the pages
draw, no label runs under a bar or off the chart (the attendance bar covered the end of a term
label such as "2025/26 Summer"). The small outcomes world (``outcomes_world``) with 1,200 more
children known only to health, each off every school roll, so the worklist counts over a thousand.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

import outcomes_world
from apiserver import Server
from browserpages import ENV, Profile, accessible, add_user, shot, sign_in, through
from linkage.web.charts import EM_PER_LETTER, FONT, LABEL, fitted
from linkage.web.render import count, lowered
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

CAM, DEE, KIM = "cam@la.example", "dee@la.example", "kim@la.example"
MORE = 1200
# Every text of every chart on the page: (chart, text, overlaps a bar rect, outside the chart).
CHART_TEXT = """() => [...document.querySelectorAll('svg')].flatMap((svg, i) => {
  const box = svg.getBoundingClientRect();
  const bars = [...svg.querySelectorAll('rect')].filter(r => !r.closest('defs')
                 && !/track/.test(r.getAttribute('class') || '')).map(r => r.getBoundingClientRect());
  return [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).map(t => {
    const b = t.getBoundingClientRect();
    const under = bars.some(r => r.width > 0 && Math.min(b.right, r.right) - Math.max(b.left, r.left) > 1
                                 && Math.min(b.bottom, r.bottom) - Math.max(b.top, r.top) > 1);
    const off = b.left < box.left - 1 || b.right > box.right + 1;
    return [i, t.textContent.trim(), under, off];
  });
})"""


@pytest.fixture(scope="module")
def world(tmp_path_factory, chromium):
    home = tmp_path_factory.mktemp("numbers") / "data"
    store = outcomes_world.build(home)
    try:
        store.execute("INSERT INTO store.extracts (extract_id, source, file_name, sha256, mapping, extract_date, "
                      "ingested_at, rows_read, accepted, quarantined, superseded_by, amends, blank_rows, warned, "
                      f"forced) VALUES (3, 'health', 'h.csv', 'c', 'm', DATE '2026-09-30', now()::TIMESTAMP, {MORE}, "
                      f"{MORE}, 0, NULL, NULL, 0, 0, false)")
        keys = [f"health:H{i:04d}" for i in range(MORE)]
        store.insert_df("store.records", pd.DataFrame({
            "record_key": keys, "extract_id": 3, "source": "health", "source_record_id": [k[7:] for k in keys],
            "forename": "H", "surname": "Test", "date_of_birth": date(2015, 1, 1),
            "extract_date": date(2026, 9, 30)}))
        store.insert_df("store.identity", pd.DataFrame({"record_key": keys, "child_id": [f"child-{k}" for k in keys],
                                                         "run_id": 1}))
    finally:
        store.close()
    add_user(home, CAM, "Cam Price", "Northshire Education", "la_education", "933", "cme_officer")
    add_user(home, DEE, "Dee Shah", "Northshire Education", "la_education", "933", "data_manager")
    add_user(home, KIM, "Kim Osei", "Northshire Education", "la_education", "933", "commissioner")
    server = Server(home, env=ENV)
    pages = Profile(chromium, server.url)
    yield pages
    pages.close()
    server.stop()


def _charts_clear(p) -> None:
    """No chart text under a bar or off its chart."""
    texts = p.evaluate(CHART_TEXT)
    assert not [t for t in texts if t[2] or t[3]], [t for t in texts if t[2] or t[3]]


def test_the_worklist_counts_with_thousands_separators(world):
    with world.page() as p:
        sign_in(p, CAM)
        p.goto("/app/cme?purpose=cme&absent_days=1")
        total = MORE + 1          # child A, absent ten days of its latest term, and the 1,200
        expect(p.get_by_test_id("count")).to_have_text(f"{total:,} children")
        expect(p.get_by_text(f"Page 1 of {-(-total // 25)}")).to_be_visible()
        expect(p.get_by_role("button", name=f"Download the list as CSV ({total:,} children)")).to_be_visible()
        accessible(p)
        shot(p, "cme-worklist-thousands")


def test_the_attendance_chart_labels_are_not_covered(world):
    # Child A has six terms of attendance, three of them Summer terms, the longest season's name.
    with world.page() as p:
        sign_in(p, CAM)
        p.goto("/app/cme?purpose=cme&absent_days=1")
        through(p, p.get_by_role("link", name="A Test"))
        chart = p.locator("figure.linkage-chart svg")
        expect(chart.locator("text", has_text="2024/25 Summer")).to_have_count(1)
        schools = p.locator("main").inner_text()       # the setting in words, as the outcomes pages say it
        assert "Pupil referral unit" in schools and "pupil_referral_unit" not in schools, schools
        _charts_clear(p)
        accessible(p)
        shot(p, "child-attendance-terms")


def test_a_purpose_in_a_sentence_keeps_its_initialism(world):
    # The data manager's task list named each task's purposes lower-cased: "measuring ap outcomes".
    with world.page() as p:
        sign_in(p, DEE)
        p.goto("/app/")
        expect(p.locator("#task-outcomes-hint")).to_contain_text("For: measuring AP outcomes.")


def test_the_outcomes_name_each_setting_in_words(world):
    # The commissioner's tables and charts named the AP settings by their codes ("pupil_referral_unit").
    with world.page() as p:
        sign_in(p, KIM)
        p.goto("/app/outcomes")
        groups = set(p.locator("[data-testid^=table-] tbody th").all_inner_texts()) - {""}
        assert groups and groups <= {"Pupil referral unit", "AP academy", "AP free school", "Hospital school", "Total"}
        assert "_" not in " ".join(p.locator("svg text").all_text_contents())


def test_the_outcomes_name_placement_types_and_every_group_in_words(world):
    """By placement type the commissioner's tables named the groups and the placements table's
    columns by their codes (``short``, ``long``, ``new``), and by SEN status a row read "no SEN"
    beside "SEN support". Each in words now (the CSV keeps the codes)."""
    words = {"Short (ended within 12 weeks)", "Long (12 weeks or more)", "New (open, under 12 weeks)"}
    with world.page() as p:
        sign_in(p, KIM)
        p.goto("/app/outcomes?by=placement_type")
        groups = set(p.locator("[data-testid^=table-] tbody th").all_inner_texts()) - {"", "Total"}
        assert groups and groups <= words, groups
        columns = [c.strip() for c in p.get_by_test_id("table-placements").locator("thead th").all_text_contents()]
        assert set(columns) >= words and not {"short", "long", "new"} & set(columns), columns
        assert not {"short", "long", "new"} & set(p.locator("svg text").all_text_contents())
        accessible(p)
        shot(p, "outcomes-by-placement-type")
        p.goto("/app/outcomes?by=sen_status")
        groups = set(p.locator("[data-testid^=table-] tbody th").all_inner_texts()) - {"", "Total"}
        assert groups and all(g[:1].isupper() for g in groups), groups
        assert p.get_by_test_id("csv").get_attribute("href").endswith("by=sen_status&cohort=")


def test_a_count_is_written_as_a_reader_reads_it():
    assert [count(v) for v in (7, 1200, 15361, 1234567, 12.5, 1500.0)] == \
        ["7", "1,200", "15,361", "1,234,567", "12.5", "1,500.0"]
    assert count(None) == "" and count("c") == "c" and count(True) is True
    assert count([1200, "c", 3]) == "1,200 / c / 3"
    assert lowered("Measuring AP outcomes") == "measuring AP outcomes"
    assert lowered("Children missing education") == "children missing education"


def test_a_lookup_says_first_and_last_name_as_its_form_does():
    # The lookup form asks for a first and a last name; its answer said "Forename agrees; surname ...".
    from linkage.link.lookup import Candidate
    from linkage.service.lookup import explain
    said = explain(Candidate("C1", 0.99, agreed={"forename": "exact", "household": "same surname, same postcode",
                                                 "dob": "exact"}))
    assert said == "first name agrees; last name and postcode agree; date of birth agrees"


def test_a_chart_label_is_cut_to_the_room_it_has():
    # The review page's waterfall wrote 34 letters whatever their width, in 252 units: the label
    # "Last name and postcode: how common" (315 units in Chromium) ran off the chart's left edge.
    for label in ("Last name and postcode: how common", "Middle name: match weight by level",
                  "Forename and surname swapped, with a typo in one of them"):
        shown = fitted(label)
        assert len(shown) * FONT * EM_PER_LETTER <= LABEL - 8
        assert shown == label or (shown.endswith("…") and label.startswith(shown[:-1]))
    assert fitted("Last name and postcode: how common") == "Last name and postcode: how common"


def test_a_probability_is_never_said_as_certain():
    from linkage.likelihood import percent

    said = [percent(p) for p in (1.0, 0.99999, 0.999, 0.998, 0.995, 0.994, 0.5, 0.004, 0.001, 0.0009, 0.0)]
    assert said == ["over 99.9%", "over 99.9%", "99.9%", "99.8%", "99.5%", "99%", "50%", "0.4%", "0.1%",
                    "under 0.1%", "under 0.1%"]


def test_codes_a_page_shows_are_named_in_words():
    from linkage.web.render import agency, group, org_type, placement, setting

    assert agency("social_care") == "Children's social care" and agency("education") == "School"
    assert placement("short") == "Short (ended within 12 weeks)" and placement("yes") == "yes"
    assert group("no SEN", "sen_status") == "No SEN" and group("long", "placement_type") == "Long (12 weeks or more)"

    assert setting("pupil_referral_unit") == "Pupil referral unit" and setting("mainstream") == "Mainstream school"
    assert org_type("ap_school") == "AP school" and org_type("la_education") == "Local authority education"
    assert setting("a_new_code") == "a_new_code" and setting(None) is None     # unknown codes as they are

