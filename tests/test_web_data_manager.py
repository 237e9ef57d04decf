"""The local authority's data manager in a real browser (Debian chromium) against a real ``linkage serve``:
the review queue (a decision the next ``linkage link`` honours), the quarantine and linkage quality.

Each page is checked with axe-core and photographed (`make screenshots` keeps the photographs in docs/screenshots/).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import incli
from apiserver import Server, linked_home
from browserpages import ENV, Profile, accessible, add_user, csrf_token, shot, sign_in, through
from conftest import EXTRACT_DATE
from linkage.link.review import Decision
from linkage.link.run import open_decisions

pytestmark = pytest.mark.e2e

DANA, CAM, AMY, DEE = ("dana@northshire.example", "cam@northshire.example", "amy@oak-ap.example",
                       "dee@northshire.example")
# Rows an agency might send that validation holds back: an impossible date, a failed check digit, no name.
BAD_HEALTH = ["Q000000001,9434765919,Ava,Holt,2015-13-01,female,SW1A 1AA,1 Road,2016-01-01,Z90005,2016-01-01,2026-07-25,GP",
              "Q000000002,1234567890,Ben,Holt,2015-02-01,male,SW1A 1AA,1 Road,2016-01-01,Z90005,2016-01-01,2026-07-25,GP",
              "Q000000003,,,Holt,2015-02-01,male,SW1A 1AA,1 Road,2016-01-01,Z90005,2016-01-01,2026-07-25,GP"]


def cli(home: Path, *args: str) -> str:
    """The real command, as the data manager would run it (in this process: tests/incli.py; a
    process of its own cost each of the module's commands a second of CPU before it began)."""
    done = incli.run(*args, "--data-dir", str(home), env={"LINKAGE_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def history(home: Path, pid: str) -> list[Decision]:
    """The decisions on a pair, from the service state opened afresh, as ``linkage link`` opens it
    (tests/test_state_locks.py: a state opened again in a long-lived process once stopped seeing
    other processes' writes)."""
    decisions = open_decisions(home)
    try:
        return decisions.history(pid)
    finally:
        decisions.state.close()


def undecided(world) -> list[str]:
    """The setup's queue less the pairs decided so far (read as ``history``): a test that needs a
    pair nobody has decided takes it from here, not by its place in the queue, which another
    model or queue key reorders (the journey decides the first pairs it is shown)."""
    decisions = open_decisions(world["home"])
    try:
        decided = set(decisions.latest())
    finally:
        decisions.state.close()
    return [pid for pid in world["queue"] if pid not in decided]


def child_of(home: Path) -> dict[str, str]:
    out = home.parent / "ids.csv"
    cli(home, "export-ids", str(out))
    with open(out, newline="") as fh:
        return {f"{r['source']}:{r['source_record_id']}": r["child_id"] for r in csv.DictReader(fh)}


def queue(home: Path) -> dict[str, dict]:
    return {p["id"]: p for p in json.loads(cli(home, "review", "list", "--limit", "0", "--format", "json"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory, synth_realistic, realistic_model, chromium):
    """Realistic difficulty (easy data leaves the queue nearly empty), with a few bad health rows;
    linked with the session's realistic model (the journey is about review, not training)."""
    extracts = tmp_path_factory.mktemp("dm_synth") / "extracts"
    shutil.copytree(synth_realistic, extracts)
    with open(extracts / "health.csv", "a") as fh:
        fh.write("\n".join(BAD_HEALTH) + "\n")
    home = tmp_path_factory.mktemp("web_dm") / "data"
    linked_home(home, extracts, EXTRACT_DATE, model=realistic_model)
    ids = {DANA: add_user(home, DANA, "Dana Shah", "Northshire Education", "la_education", "802", "data_manager"),
           CAM: add_user(home, CAM, "Cam Price", "Northshire Education", "la_education", "802", "cme_officer"),
           AMY: add_user(home, AMY, "Amy Adeyemi", "Oak AP Academy", "ap_school", "140001", "admissions"),
           DEE: add_user(home, DEE, "Dee Okafor", "Northshire Council", "dpo", "801", "dpo")}
    before = queue(home)
    from linkage.store import Store

    store = Store(home, read_only=True)
    try:
        figures = (dict(store.rows("SELECT source, count(*) FROM store.records r JOIN store.identity USING "
                                   "(record_key) GROUP BY source")),
                   store.rows("SELECT count(DISTINCT child_id) FROM store.identity")[0][0],
                   store.rows("SELECT count(*) FROM store.link_edges WHERE match_weight IS NOT NULL")[0][0])
    finally:
        store.close()
    # The journey runs `linkage link` itself; the server keeps serving the run it started on
    # (no snapshot polling), so its figures can be checked against the store as it found it.
    server = Server(home, env={**ENV, "LINKAGE_SNAPSHOT_POLL_SECONDS": "0"})
    pages = Profile(chromium, server.url)
    yield {"home": home, "server": server, "ids": ids, "pages": pages, "queue": before, "figures": figures}
    pages.close()
    server.stop()


def audit(world) -> list[dict]:
    return [json.loads(line)["entry"] for line in (world["home"] / "audit" / "log.jsonl").read_text().splitlines()]


def open_page(world):
    return world["pages"].page()


def shown_pair(p) -> str:
    return p.get_by_test_id("pair-id").inner_text()


def test_decide_a_pair_the_next_loads_and_link_honours_it(world):
    home, before = world["home"], world["queue"]
    children = child_of(home)
    with open_page(world) as p:
        sign_in(p, DANA)
        assert "Review possible matches" in p.get_by_test_id("tasks").inner_text()
        accessible(p)
        shot(p, "data-manager-start")
        through(p, p.get_by_role("link", name="Review possible matches"))
        assert f"Pair 1 of {len(before)}" in p.locator(".govuk-caption-l").inner_text()
        # Only the model's uncertain matches: no twin guard or identifier conflict can refuse a "match".
        p.get_by_label("Only pairs whose reason contains").fill("uncertain")
        through(p, p.get_by_role("button", name="Show these pairs"))
        first = shown_pair(p)
        pair = before[first]
        assert pair["reason"] == "uncertain match" and children[pair["left"]] != children[pair["right"]]
        compare = p.get_by_test_id("compare")
        differing = compare.locator("tr.linkage-differs")
        assert differing.count() >= 1 and "Differs" in differing.first.inner_text()      # in words, not colour alone
        for row in differing.all():             # letter case alone is no difference to the model
            left, right = row.locator("td").all_inner_texts()[:2]
            assert left.casefold() != right.casefold(), (left, right)
        assert compare.locator("tr", has_text="Date of birth").inner_text().endswith("Same")
        steps = p.get_by_test_id("waterfall").locator("tbody tr")
        assert steps.count() >= 5 and "Total match weight" in steps.last.inner_text()
        assert f"{pair['weight']:+.2f}" in steps.last.inner_text()
        svg = p.get_by_test_id("waterfall-chart")
        assert svg.get_attribute("role") == "img" and svg.locator("rect").count() == steps.count()
        accessible(p)
        shot(p, "review-pair")

        p.get_by_label("Note (optional)").fill("Same child: short form of the first name")
        through(p, p.get_by_role("button", name="Match", exact=True))
        assert "Recorded: a match" in p.get_by_test_id("done").inner_text()
        second = shown_pair(p)
        assert second != first and second in before                        # the next pair loaded
        accessible(p)
        shot(p, "review-next-pair")
        through(p, p.get_by_role("button", name="Unsure"))
        assert "Recorded: unsure" in p.get_by_test_id("done").inner_text()
        third = shown_pair(p) if p.get_by_test_id("pair-id").count() else None
        assert third != second                                               # unsure: on to the next
        if third:
            through(p, p.get_by_role("button", name="Skip"))
            assert shown_pair(p) != third if p.get_by_test_id("pair-id").count() else True
        assert "end of the queue" in p.get_by_test_id("queue-empty").inner_text()
        accessible(p)
        through(p, p.get_by_role("link", name="Start again from the first pair"))
        assert shown_pair(p) == second                   # only the unsure pair is left of these

        p.goto("/app/quality")
        labels = p.get_by_test_id("labels").inner_text()
        assert "1 match, 0 not a match" in labels                         # the decision counts at once
        assert "Not known yet: the model linked none of the decided pairs" in labels       # p < threshold

    (d,) = history(home, first)
    assert (d.decision, d.reviewer, d.channel) == ("match", "Dana Shah", "web")
    assert d.note == "Same child: short form of the first name"
    assert [x.decision for x in history(home, second)] == ["unsure"]
    decided = [e for e in audit(world) if e["action"] == "review.decide" and e.get("pair_id") == first]
    assert len(decided) == 1 and decided[0]["person"] == DANA and decided[0]["decision"] == "allow"
    assert decided[0]["client_id"] == f"user:{world['ids'][DANA]}" and decided[0]["review_decision"] == "match"

    out = cli(home, "link")                                    # the next run, as the data manager runs it
    assert "review decisions honoured" in out
    after = child_of(home)
    assert after[pair["left"]] == after[pair["right"]], "a pair decided match must become one child"
    left = queue(home)
    assert first not in left and second in left               # decided leaves; unsure stays to be looked at


def test_the_review_page_names_each_agency_and_never_says_one_child_is_certain(world):
    """The pairs the model is surest of (Splink's probability rounds to 1.0) read "100%" on the
    review page, a certainty no linkage has, and each record's agency was its code ("education",
    "social_care"). Now "over 99.9%", and the agency in words. The queue's last pairs (ordered by
    priority, the surest last) are read."""
    with open_page(world) as p:
        sign_in(p, DANA)
        p.goto("/app/review")
        total = int(p.locator(".govuk-caption-l").inner_text().split(" of ")[1].split()[0].replace(",", ""))
        said = {}
        for position in range(max(total - 10, 0), total):          # the surest last, photographed
            p.goto(f"/app/review?position={position}")
            likely = p.get_by_test_id("pair-summary").locator(".govuk-summary-list__row",
                                                              has_text="How likely one child")
            said[shown_pair(p)] = likely.locator("dd").first.inner_text()
            agencies = p.get_by_test_id("compare").locator("tr", has_text="Agency").locator("td").all_inner_texts()[:2]
            assert set(agencies) <= {"School", "Children's social care", "Health"}, agencies
        assert not [t for t in said.values() if "100%" in t], said
        surest = [pid for pid in said if world["queue"].get(pid, {}).get("probability", 0) > 0.999]
        assert surest and all(said[pid].startswith("over 99.9%") for pid in surest), said
        shot(p, "review-surest-pair")


def test_the_quarantine_by_source_and_reason(world):
    with open_page(world) as p:
        sign_in(p, DANA)
        through(p, p.get_by_role("link", name="Records held back"))
        counts = p.get_by_test_id("quarantine-counts")
        assert "3 rows held back" in counts.locator("caption").inner_text()
        text = counts.inner_text()
        assert "Health" in text and "An NHS number failing its check digit" in text
        rows = p.get_by_test_id("quarantine-rows").locator("tbody tr")
        assert rows.count() == 3 and "Q000000002" in rows.nth(1).inner_text() + rows.nth(0).inner_text() \
            + rows.nth(2).inner_text()
        accessible(p)
        shot(p, "quarantine")
        through(p, counts.get_by_role("link", name="An NHS number failing its check digit"))
        rows = p.get_by_test_id("quarantine-rows").locator("tbody tr")
        assert rows.count() == 1 and "modulus 11" in rows.first.inner_text()
        with p.expect_download() as got:
            p.get_by_test_id("export").click()
        sent = Path(got.value.path()).read_text()
        assert "Q000000002" in sent and "Q000000001" not in sent            # only the rows shown
        accessible(p)
    exported = [e for e in audit(world) if e["action"] == "quarantine.export" and e.get("person") == DANA]
    assert exported and exported[-1]["rows"] == 1


def test_linkage_quality_figures(world):
    with open_page(world) as p:
        sign_in(p, DANA)
        through(p, p.get_by_role("link", name="Linkage quality"))
        run = p.get_by_test_id("last-run").inner_text()
        assert "Merges" in run and "Splits" in run
        # The tables behind the charts are in "details": read without opening them.
        sources = {r.locator("th").text_content(): int(r.locator("td").text_content().replace(",", ""))
                   for r in p.get_by_test_id("sources-table").locator("tbody tr").all()}
        sizes = p.get_by_test_id("sizes-table").locator("tbody td").all_text_contents()
        weights = p.get_by_test_id("weights-table").locator("tbody td").all_text_contents()
        assert p.get_by_test_id("mu-1-table").locator("tbody tr").count() >= 3
        assert p.locator("svg.linkage-chart").count() >= 4
        accessible(p)
        shot(p, "quality")
    # The page's figures are the store's as the server found it: every record in one child, every pair kept.
    by_source, children, edges = world["figures"]
    assert sources == {s.replace("_", " ").capitalize(): n for s, n in by_source.items()}
    assert sum(int(x.replace(",", "")) for x in sizes) == children
    assert sum(int(x.replace(",", "")) for x in weights) == edges
    assert [e for e in audit(world) if e["action"] == "quality.show" and e.get("person") == DANA]


PAGES = ("/app/review", "/app/quarantine", "/app/quality", "/app/quarantine/export")


@pytest.mark.parametrize("who", [CAM, AMY, DEE])
def test_other_roles_cannot_reach_the_data_managers_pages(world, who):
    pid = next(iter(world["queue"]))
    with open_page(world) as p:
        sign_in(p, who)
        tasks = p.locator("main").inner_text()
        assert "Review possible matches" not in tasks and "Linkage quality" not in tasks
        token = csrf_token(p.content())
        for url in PAGES:
            r = p.goto(url)
            assert r.status == 403, url
            assert "You cannot see this page" in p.locator("main").inner_text()
        r = p.request.post(f"/app/review/{pid}", form={"csrf_token": token, "decision": "match", "position": "0"},
                           max_redirects=0)
        assert r.status == 403
    assert history(world["home"], pid) == []                       # nothing was recorded
    refused = [e for e in audit(world) if e.get("person") == who and e["action"] == "manage_data"]
    assert len(refused) >= len(PAGES) + 1 and all(e["decision"] == "deny" for e in refused)


def test_a_decision_without_the_csrf_token_is_refused(world):
    pid = list(world["queue"])[-1]
    with open_page(world) as p:
        sign_in(p, DANA)
        for form in ({}, {"csrf_token": "forged"}):
            r = p.request.post(f"/app/review/{pid}", form={"decision": "not_match", "position": "0", **form},
                               max_redirects=0)
            assert r.status == 403
        r = p.request.post(f"/app/review/{pid}", form={"decision": "maybe", "position": "0",
                                                       "csrf_token": csrf_token(p.content())}, max_redirects=0)
        assert r.status == 400 and "Select whether the records are the same child" in r.text()
    assert history(world["home"], pid) == []
    refused = [e for e in audit(world) if e["action"] == "security.csrf_refused" and e.get("person") == DANA]
    assert len(refused) >= 2


def test_precision_and_recall_from_decisions_count_each_scored_pair_once_at_the_threshold():
    from linkage.link.quality import decision_quality
    from linkage.link.review import Decision

    def d(pid, decision, p):
        return Decision(0, pid, "a", "b", None, None, decision, "pair", None, p, None, "R", "", "web", None, "t")

    q = decision_quality([d("1", "match", 0.9), d("2", "match", 0.3), d("3", "not_match", 0.7),
                          d("4", "not_match", 0.1), d("5", "unsure", 0.6), d("6", "not_match", None)], 0.5)
    assert (q.tp, q.fn, q.fp, q.tn, q.labels, q.positives) == (1, 1, 1, 1, 4, 2)
    assert q.precision == 0.5 and q.recall == 0.5
    assert decision_quality([d("5", "unsure", 0.6)], 0.5) is None


def test_a_second_submission_of_a_pair_never_overwrites_a_decision_made_since(world):
    """The back button after deciding, a double click, or two data managers on the same pair: the
    later form replaced the decision recorded since it was opened (the latest counts), without a
    word. The form carries the decision its reviewer saw: the same one again is one decision, and
    another is refused (409), naming the decision that stands."""
    pid = undecided(world)[-2]
    with open_page(world) as p:
        sign_in(p, DANA)
        p.goto("/app/review")
        assert 'name="seen" value="' in p.content()             # the form names the decision its reviewer saw
        form = {"csrf_token": csrf_token(p.content()), "decision": "match", "position": "0", "seen": "0",
                "note": "Same child"}
        for _ in range(2):                                      # a double click
            assert p.request.post(f"/app/review/{pid}", form=form, max_redirects=0).status == 303
        stale = p.request.post(f"/app/review/{pid}", form={**form, "decision": "not_match", "note": ""},
                               max_redirects=0)
        assert stale.status == 409, stale.status
        assert "Not recorded: the pair you were deciding was decided while you had it open (Match, by Dana Shah" \
            in stale.text()
        (d,) = history(world["home"], pid)
        changed = p.request.post(f"/app/review/{pid}", form={**form, "decision": "not_match",
                                                             "seen": str(d.decision_id)}, max_redirects=0)
        assert changed.status == 303                            # a change made having seen it
    assert [x.decision for x in history(world["home"], pid)] == ["match", "not_match"]


def test_a_note_too_long_comes_back_with_the_reason(world):
    """A note pasted from an email (2,500 characters) was a bare error page, the note lost: it
    comes back in the form with why, and nothing is recorded."""
    pid = undecided(world)[-3]
    long_note = "Spoke to the school office; " * 90
    with open_page(world) as p:
        sign_in(p, DANA)
        p.goto("/app/review")
        r = p.request.post(f"/app/review/{pid}", form={"csrf_token": csrf_token(p.content()), "decision": "match",
                                                       "position": "0", "note": long_note}, max_redirects=0)
        assert r.status == 400, r.status
        assert "Check the note" in r.text() and long_note.strip() in r.text()
    assert history(world["home"], pid) == []
