"""A monthly incremental run gives what a full relink gives on the same data, and touches only
what the delta reaches."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from apiserver import linked_home
from conftest import EXTRACT_DATE
from linkage.connectors import ingest_file
from linkage.link import run_link
from linkage.link.run import open_decisions
from linkage.store import Store

SOURCES = ("education", "social_care", "health")


def _ingest(store: Store, extracts: Path) -> None:
    from datetime import date

    when = date.fromisoformat(json.loads((extracts / "manifest.json").read_text())["extract_date"])
    for source in SOURCES:
        ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)


def _state(home: Path) -> dict:
    store = Store(home, memory_limit="2GB")
    try:
        current = {r[0] for r in store.rows("SELECT record_key FROM store.linked_records")}
        ids = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
        queue = {r[0]: r[1:] for r in store.rows(
            "SELECT pair_id, reason, cluster_size FROM store.review_queue WHERE status = 'open'")}
        runs = store.rows("SELECT run_id, mode, records, children, review_pairs FROM store.runs ORDER BY run_id")
        children = store.rows("SELECT child_id, status, alias_of FROM store.child_ids ORDER BY 1")
        edges = store.scalar("SELECT count(*) FROM store.link_edges")
    finally:
        store.close()
    return {"current": current, "ids": ids, "queue": queue, "runs": runs, "children": children, "edges": edges}


def _partition(ids: dict[str, str], keys: set[str]) -> set[frozenset]:
    groups = defaultdict(set)
    for k in keys:
        groups[ids[k]].add(k)
    return {frozenset(g) for g in groups.values()}


@pytest.fixture(scope="module")
def month1(tmp_path_factory, synth_month1) -> tuple[Path, Path]:
    """Month 1 linked (full, trained), with a reviewer's match and a reviewer's split on record."""
    home = tmp_path_factory.mktemp("incr") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    ids = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
    content = dict(store.rows("SELECT record_key, content_sha FROM store.linked_records"))
    queued = store.rows("SELECT record_key_l, record_key_r FROM store.review_queue ORDER BY pair_id LIMIT 1")
    store.close()
    members = defaultdict(list)
    for k, c in sorted(ids.items()):
        members[c].append(k)
    # By content: the child of three or more whose record keys sort first (child ids are random).
    big = min(keys for keys in members.values() if len(keys) >= 3)
    log = open_decisions(home)
    log.add([(big[0], big[1], content[big[0]], content[big[1]], None, None)], decision="not_match",
            kind="split", reviewer="R. Viewer", channel="cli")
    for a, b in queued:
        log.add([(a, b, content[a], content[b], None, None)], decision="match", reviewer="R. Viewer", channel="cli")
    return home, synth_month1


def test_incremental_equals_a_full_relink_on_the_same_month(month1, synth_month2, tmp_path):
    home1, _ = month1
    before = _state(home1)
    incr, full = tmp_path / "incr", tmp_path / "full"
    shutil.copytree(home1, incr)
    shutil.copytree(home1, full)
    results = {}
    for home, is_full in ((incr, False), (full, True)):
        store = Store(home, memory_limit="2GB")
        _ingest(store, synth_month2)
        results[home] = run_link(store, full=is_full)
        store.close()
    assert results[incr].mode == "incremental" and results[full].mode == "full"
    # The delta is a small share of the records, and only it was scored.
    assert 0 < results[incr].scored_records < results[incr].records / 5
    a, b = _state(incr), _state(full)
    assert a["current"] == b["current"]
    # One partition of the records into children...
    assert _partition(a["ids"], a["current"]) == _partition(b["ids"], b["current"])
    # ...under the same identifiers wherever a child existed before (new ones are minted at random).
    old = set(before["ids"].values())
    same = {k for k in a["current"] if a["ids"][k] in old or b["ids"][k] in old}
    assert same and all(a["ids"][k] == b["ids"][k] for k in same)
    assert {c for c in a["children"] if c[0] in old} == {c for c in b["children"] if c[0] in old}
    # The same open review queue, and the same run summary.
    assert a["queue"] == b["queue"]
    assert a["runs"][-1][2:] == b["runs"][-1][2:]
    # The reviewer's decisions held on both paths.
    log = open_decisions(home1).latest()
    for d in log.values():
        together = a["ids"][d.record_key_l] == a["ids"][d.record_key_r]
        assert together == (d.decision == "match")
    # Records in untouched children kept their rows: identity is written as a delta.
    store = Store(incr, memory_limit="2GB")
    try:
        run = results[incr].run_id
        rewritten = store.scalar("SELECT count(*) FROM store.identity WHERE run_id = ?", [run])
        moved = sum(1 for k in a["current"] if before["ids"].get(k) != a["ids"][k])
        assert rewritten == moved < len(a["current"]) / 5
    finally:
        store.close()


def test_a_second_incremental_run_with_nothing_new_changes_nothing(month1, tmp_path):
    home = tmp_path / "again"
    shutil.copytree(month1[0], home)
    store = Store(home, memory_limit="2GB")
    first = run_link(store)          # honours the decisions made since month 1's run
    store.close()
    before = _state(home)
    store = Store(home, memory_limit="2GB")
    result = run_link(store)
    store.close()
    after = _state(home)
    assert first.mode == result.mode == "incremental" and first.scored_records == result.scored_records == 0
    assert result.new_ids == 0 and result.merges == 0 and result.splits == 0
    assert after["ids"] == before["ids"] and after["queue"] == before["queue"]
    assert after["edges"] == before["edges"]


def test_delta_scoring_blocks_only_candidates_yet_scores_the_same_pairs(month1, synth_month2, tmp_path,
                                                                        monkeypatch):
    """The delta is scored against only the records a blocking rule could pair it with, not the
    whole population; Splink must give exactly the pairs and weights it gives against everyone."""
    from linkage.connectors.ingest import CURRENT_RECORDS_SQL
    from linkage.link.engine import INPUT, LinkEngine
    from linkage.link.run import _load_model

    home = tmp_path / "cand"
    shutil.copytree(month1[0], home)
    store = Store(home, memory_limit="2GB")
    try:
        _ingest(store, synth_month2)
        engine = LinkEngine(store, CURRENT_RECORDS_SQL, cache=True)
        engine.linker(_load_model(store)[0])
        changed = [r[0] for r in store.rows(
            "SELECT h.record_key FROM memory.link_hash h LEFT JOIN store.linked_records p USING (record_key) "
            "WHERE p.record_key IS NULL OR p.content_sha <> h.content_sha ORDER BY 1")]
        everyone = store.scalar(f"SELECT count(*) FROM memory.{INPUT}")
        narrowed = engine.predict_incremental(changed, 0.2)
        far = store.scalar("SELECT count(*) FROM memory.link_near WHERE unique_id NOT IN (SELECT k FROM memory.changed_keys)")
        assert 0 < len(changed) and 0 < far < (everyone - len(changed)) / 2
        monkeypatch.setattr(LinkEngine, "_candidates_sql", lambda self, new: f"SELECT unique_id AS k FROM memory.{INPUT}")
        engine._tag = "whole"          # Splink's second registration of the inputs needs new names
        whole = engine.predict_incremental(changed, 0.2)
        assert store.scalar("SELECT count(*) FROM memory.link_near") == everyone
    finally:
        store.close()
    key = ["unique_id_l", "unique_id_r"]
    assert len(narrowed) > len(changed) / 2
    pd_a = narrowed.sort_values(key).reset_index(drop=True)
    pd_b = whole.sort_values(key).reset_index(drop=True)
    assert pd_a[key].equals(pd_b[key])
    assert (pd_a["match_weight"] - pd_b["match_weight"]).abs().max() < 1e-9
    assert pd_a["guarded"].equals(pd_b["guarded"])


def test_only_plain_equality_rules_are_joined_once_per_direction():
    """A rule ``l.a = r.b AND ...`` read from the other side is ``l.b = r.a``: the candidates join it
    once per distinct direction; any other rule (an inequality, OR, a function) is left as written."""
    from linkage.link.engine_scoring import _column_pairs

    assert _column_pairs('(l."dob" = r."dob") AND (l."postcode" = r."postcode")') == {("dob", "dob"),
                                                                                       ("postcode", "postcode")}
    assert _column_pairs("l.former_upn = r.upn") == {("former_upn", "upn")}
    for rule in ("l.dob < r.dob", "(l.a = r.a) OR (l.b = r.b)", "l.a = r.a AND levenshtein(l.b, r.b) < 2",
                 "(l.a = r.a AND l.b = r.b) OR l.c = r.c", "l.a = r.a AND l.b = 'x'"):
        assert _column_pairs(rule) is None, rule
    # For the candidates, a superset: the top-level equalities, a narrowing clause left out (joined
    # as written, a clause with OR is a nested loop over every record: 59 s a month at 1M).
    assert _column_pairs("l.a = r.a AND levenshtein(l.b, r.b) < 2", superset=True) == {("a", "a")}
    assert _column_pairs("l.dob = r.dob AND l.s = r.s AND ((l.f IS NULL AND r.g = 1) OR l.f = r.f)",
                         superset=True) == {("dob", "dob"), ("s", "s")}
    for rule in ("(l.a = r.a AND l.b = r.b) OR l.c = r.c", "l.dob < r.dob", "(l.a = r.a) OR (l.b = r.b)"):
        assert _column_pairs(rule, superset=True) is None, rule
