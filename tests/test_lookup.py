"""The lookup's fast scorer gives exactly what Splink's score_pairs gives."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.link.lookup import BLOCKS, INDEX, Candidate, LookupIndex, LookupQuery, key_hash
from linkage.link.scoring import match_weight


@pytest.fixture(scope="module")
def index(linked_store):
    return linked_store, LookupIndex(linked_store)


def test_fast_scores_equal_splink_score_pairs(index):
    store, idx = index
    rows = store.rows("SELECT forename, surname, date_of_birth, postcode, upn, nhs_number FROM store.records "
                      "USING SAMPLE 60 ROWS (reservoir, 7)")
    compared = 0
    for f, s, dob, pc, upn, nhs in rows:
        for q in (LookupQuery(f, s, dob, pc), LookupQuery(f[:-1] + "y", s.upper(), dob, None, upn, nhs),
                  LookupQuery(s, f, dob, pc)):
            fast = {c.child_id: c for c in idx.search(q, limit=100, min_probability=0.0)}
            ref = {c.child_id: c for c in idx.search(q, limit=100, min_probability=0.0, reference=True)}
            assert fast.keys() == ref.keys()
            for cid, c in fast.items():
                assert c.match_probability == pytest.approx(ref[cid].match_probability, abs=1e-6)
                assert (c.agreed, c.disagreed) == (ref[cid].agreed, ref[cid].disagreed)
                compared += 1
    assert compared > 200


def test_lookup_finds_the_child_despite_a_surname_typo(index):
    store, idx = index
    f, s, dob, pc, child = store.rows(
        "SELECT r.forename, r.surname, r.date_of_birth, r.postcode, i.child_id FROM store.records r "
        "JOIN store.identity i USING (record_key) WHERE r.source = 'education' ORDER BY r.record_key LIMIT 1")[0]
    best = idx.search(LookupQuery(f, s + "e", dob, pc))[0]
    assert best.child_id == child and best.match_probability > 0.5 and best.agreed["dob"] == "exact"


def _sql_features(idx, q: LookupQuery) -> dict:
    cur = idx._cursor()
    idx._sql_query_table(cur, q)
    res = cur.execute("SELECT * EXCLUDE (unique_id, source_dataset) FROM lk_q")
    row = res.fetchone()
    return {d[0]: sorted(v) if isinstance(v, list) else v for d, v in zip(res.description, row)}


def test_query_features_equal_the_features_sql(index):
    """The query row gets exactly the features linked records get in SQL (no NULL read as '')."""
    store, idx = index
    rows = store.rows("SELECT forename, surname, date_of_birth, postcode, upn, nhs_number, address "
                      "FROM store.records USING SAMPLE 40 ROWS (reservoir, 3)")
    for f, s, dob, pc, upn, nhs, address in rows:
        for q in (LookupQuery(f, s, dob, pc, upn, nhs, address=address),
                  LookupQuery(f"{f} {s}", "O'Brien-Smith", dob, None, sex="F", middle_names="Mary Jo",
                              address="  12,  Long-Lane!! "),
                  LookupQuery("Dr", "!!", dob)):
            assert q.features() == _sql_features(idx, q)
    assert LookupQuery("Ann", "Lee", rows[0][2]).features()["preferred_forename"] is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(forename=st.text(max_size=12), surname=st.text(max_size=12), middle=st.none() | st.text(max_size=12),
       address=st.none() | st.text(max_size=20), postcode=st.none() | st.sampled_from(["AB1 2CD", "", "XY"]))
def test_query_features_equal_the_features_sql_for_any_text(index, forename, surname, middle, address, postcode):
    _, idx = index
    q = LookupQuery(forename, surname, date(2012, 2, 29), postcode, middle_names=middle, address=address)
    assert q.features() == _sql_features(idx, q)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.text(max_size=40))
def test_key_hash_is_duckdbs_md5_number_lower(index, text):
    store, _ = index
    assert key_hash(text) == store.connection.execute("SELECT md5_number_lower(?)", [text]).fetchone()[0]


def test_candidates_are_exactly_the_records_the_blocking_rules_find_in_sql(index):
    store, idx = index
    rows = store.rows("SELECT forename, surname, date_of_birth, postcode, upn, nhs_number FROM store.records "
                      "USING SAMPLE 30 ROWS (reservoir, 11)")
    cur = store.connection.cursor()
    for f, s, dob, pc, upn, nhs in rows:
        for q in (LookupQuery(f, s, dob, pc, upn, nhs), LookupQuery(f[:-1] + "y", s, dob)):
            feats = q.features()
            rules = [(cols, [feats[c] for c in cols]) for cols in BLOCKS
                     if all(feats[c] is not None for c in cols)]
            where = " OR ".join("(" + " AND ".join(f"{c} = ?" for c in cols) + ")" for cols, _ in rules)
            want = sorted(r[0] for r in cur.execute(f"SELECT rid FROM memory.{INDEX} WHERE {where}",
                                                     [v for _, vals in rules for v in vals]).fetchall())
            assert idx.candidates(feats) == want


def test_a_model_the_python_scorer_cannot_read_is_scored_by_splinks_sql(index):
    """An imported model may use SQL the compiler does not know: it falls back, not guesses."""
    import copy
    import json

    from splink import Linker

    from linkage.link.scoring import FastScorer

    store, idx = index
    model = copy.deepcopy(idx.model)
    sex = next(c for c in model["comparisons"] if c["output_column_name"] == "sex")
    exact = next(lv for lv in sex["comparison_levels"] if lv["sql_condition"] == '"sex_l" = "sex_r"')
    exact["sql_condition"] = 'regexp_full_match("sex_l", "sex_r")'
    engine = idx.engine
    frame = engine.db_api.register(f"SELECT * EXCLUDE (child_id, rid) FROM memory.{INDEX} LIMIT 10")
    scorer = FastScorer(Linker(frame, json.loads(json.dumps(model))), idx.scorer.tf)
    assert not scorer.compiled

    f, s, dob, pc = store.rows("SELECT forename, surname, date_of_birth, postcode FROM store.records "
                               "WHERE sex IS NOT NULL ORDER BY record_key LIMIT 1")[0]
    q = LookupQuery(f, s, dob, pc)
    fast = idx.search(q, min_probability=0.0)
    original = idx.scorer
    try:
        idx.scorer = scorer                 # same levels and weights, gammas from SQL only
        fallback = idx.search(q, min_probability=0.0)
    finally:
        idx.scorer = original
    assert [(c.child_id, c.agreed) for c in fallback] == [(c.child_id, c.agreed) for c in fast]
    assert [c.match_probability for c in fallback] == pytest.approx([c.match_probability for c in fast], abs=1e-6)


def _every_candidate_scored(idx, q: LookupQuery, limit: int, min_probability: float):
    """The search as it was before candidates could be given up: every one scored in full."""
    features = q.features()
    left = tuple(features[c] for c in idx.scorer.columns)
    scored = []
    for rid in idx.candidates(features):
        right = idx._rows[rid]
        gammas = idx.scorer.gammas(left, right)
        scored.append((idx.scorer.weight(gammas, left, right)[1], right[-1], gammas))
    best = {}
    for p, cid, gammas in sorted(scored, key=lambda x: -x[0]):
        if cid not in best and p >= min_probability:
            best[cid] = (cid, round(p, 6), *idx.scorer.labels(gammas))
    return list(best.values())[:limit]


def _queries(store, n: int, seed: int) -> list[LookupQuery]:
    """Real demographics, and the same mixed up (a typo, a swap, another child's surname or
    postcode, no postcode), so that many queries meet several children, twins and near misses."""
    import random

    rows = store.rows("SELECT forename, surname, date_of_birth, postcode, upn, nhs_number FROM store.records "
                      f"USING SAMPLE {n} ROWS (reservoir, {seed})")
    rnd, out = random.Random(seed), []
    for f, s, dob, pc, upn, nhs in rows:
        other = rnd.choice(rows)
        out += [LookupQuery(f, s, dob, pc), LookupQuery(f, s, dob), LookupQuery(s, f, dob, pc),
                LookupQuery(f[:-1] + "e", s, dob, pc), LookupQuery(f, other[1], dob, other[3]),
                LookupQuery(other[0], s, dob, pc), LookupQuery(f[:1] + "a", other[1], dob, pc, upn, nhs)]
    return out


def test_candidates_given_up_never_change_the_answer(index):
    """Scoring stops on a candidate once a bound shows it cannot be in the answer; every answer,
    for every limit, floor and margin, is still exactly the one scoring every candidate gives."""
    store, idx = index
    # The fast path, not the SQL fallback: the trained model's every level compiles to Python
    # (Splink runs a narrowed form of some levels: the lookup reads them as written).
    assert idx.scorer.compiled and len(idx._rows) == idx.size
    given_up = []
    bounded = idx.scorer.bounded

    def counting(*args):
        result = bounded(*args)
        given_up.append(result is None)
        return result

    idx.scorer.bounded = counting
    try:
        for q in _queries(store, 60, 5):
            for limit, floor in ((1, 0.0), (2, 0.0), (3, 0.05), (10, 0.5), (100, 0.0)):
                want = _every_candidate_scored(idx, q, limit, floor)
                got = idx.search(q, limit=limit, min_probability=floor)
                assert [(c.child_id, c.match_probability, c.agreed, c.disagreed) for c in got] == want
                for bits in (1.0, 6.0, 25.0):
                    near = idx.search(q, limit=limit, min_probability=floor, within_bits=bits)
                    top = match_weight(want[0][1]) if want else 0.0
                    assert [(c.child_id, c.match_probability, c.agreed, c.disagreed) for c in near] == \
                        [w for i, w in enumerate(want) if i == 0 or top - match_weight(w[1]) < bits]
    finally:
        del idx.scorer.bounded
    assert sum(given_up) > 100, "the bound never ruled a candidate out: nothing was tested"


def test_the_lookup_names_the_child_scoring_every_candidate_names(index):
    """The service's rule (confident, unambiguous) over the margin-cut search is the same rule over
    the full list it was written for."""
    from types import SimpleNamespace

    from linkage.config import Settings
    from linkage.service.lookup import best_match, confident
    from linkage.service.schemas import LookupRequest

    store, idx = index
    settings = Settings()
    services = SimpleNamespace(lookup=idx, settings=settings)
    named = 0
    for q in _queries(store, 80, 9):
        full = [Candidate(c, p, a, d) for c, p, a, d in _every_candidate_scored(idx, q, 2, 0.0)]
        want = confident(full, settings.match_threshold, settings.lookup_margin_bits)
        req = LookupRequest(forename=q.forename, surname=q.surname, date_of_birth=q.date_of_birth,
                            postcode=q.postcode, upn=q.upn, nhs_number=q.nhs_number)
        got = best_match(services, req)
        assert (got and (got.child_id, got.match_probability, got.agreed)) == \
            (want and (want.child_id, want.match_probability, want.agreed))
        named += want is not None
    assert named > 100


def test_the_reference_sql_is_compiled_only_when_a_search_asks_for_it(linked_store):
    """Every server start built it (Splink's score_pairs SQL, ~0.5 CPU s) for a path only tests take
    while the fast scorer compiles; asked for after the index has dropped its working tables, it
    still scores as the fast path does."""
    idx = LookupIndex(linked_store)
    assert idx.scorer.compiled and idx._score_sql is None
    f, s, dob, pc = linked_store.rows("SELECT forename, surname, date_of_birth, postcode FROM store.records "
                                      "ORDER BY record_key LIMIT 1")[0]
    q = LookupQuery(f, s, dob, pc)
    fast = idx.search(q, limit=5, min_probability=0.0)
    assert idx._score_sql is None
    ref = idx.search(q, limit=5, min_probability=0.0, reference=True)
    assert idx._score_sql is not None and fast and [c.child_id for c in fast] == [c.child_id for c in ref]
