"""u estimation counted in one pass (link/uestimate.py): the same model as Splink's own."""

from __future__ import annotations

import json
import logging

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st
from splink import Linker

from exampledb import example_connection
from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.link import spec
from linkage.link.engine import LinkEngine
from linkage.link.uestimate import matching_pairs, narrowed, rule_columns


def _levels() -> list[str]:
    model = spec.settings().get_settings("duckdb").as_dict()
    return [lv["sql_condition"] for c in model["comparisons"] for lv in c["comparison_levels"]]


def test_every_distance_level_of_the_model_is_narrowed():
    distance = [sql for sql in _levels() if "damerau_levenshtein" in sql]
    assert distance
    for sql in distance:
        assert narrowed(sql) != sql and "hamming" in narrowed(sql)
    for sql in _levels():
        if "damerau_levenshtein" not in sql:
            assert narrowed(sql) == sql


_CON = duckdb.connect()
# Short strings over a small alphabet (ASCII and multi-byte letters) meet within one edit often.
_TEXT = st.none() | st.text(alphabet="abAé漢-1 ", max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=30))
def test_narrowed_holds_exactly_where_the_distance_does(pairs):
    """As a level's condition (CASE WHEN), byte-wise: a one-byte change inside a multi-byte
    character, a swap, an insertion, NULLs."""
    sql = 'damerau_levenshtein("a_l", "a_r") <= 1'
    rows = _CON.execute(f"""SELECT CASE WHEN {sql} THEN 1 ELSE 0 END, CASE WHEN {narrowed(sql)} THEN 1 ELSE 0 END
FROM (SELECT unnest(?) AS a_l, unnest(?) AS a_r)""", [[a for a, _ in pairs], [b for _, b in pairs]]).fetchall()
    assert [a for a, _ in rows] == [b for _, b in rows]


def _without_uid(model_json: str) -> dict:
    model = json.loads(model_json)
    model.pop("linker_uid", None)
    return model


def test_u_is_splinks_to_the_bit(linked_store):
    """The engine's u against Splink's ``estimate_u_using_random_sampling`` over the same sample
    (every pair, one chunk): every level's u, "not observed" ones included."""
    engine = LinkEngine(linked_store, CURRENT_RECORDS_SQL)
    ours = _without_uid(engine._estimate_u(2e5))
    n = engine.con.execute("SELECT count(*) FROM memory.u_sample").fetchone()[0]
    linker = Linker(engine._frames_of("memory.u_sample", "check"), spec.settings(), log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=n * n, num_chunks=1, min_count_per_level=None)
    theirs = _without_uid(json.dumps(linker.misc.save_model_to_json(), sort_keys=True))
    assert ours == theirs
    u = [lv.get("u_probability") for c in ours["comparisons"] for lv in c["comparison_levels"]]
    assert sum(isinstance(x, float) and 0 < x < 1 for x in u) > 20      # estimated, not the spec's defaults


def test_model_leaves_the_engine_as_written_and_predicts_the_same(linked_store, trained_model, monkeypatch):
    """Splink is given the narrowed levels; the model the engine hands back is the one it was
    given, and every scored pair (probability and weight) is what the levels as written give."""
    import linkage.link.engine_training as training_module

    model = trained_model.read_text()
    assert "damerau_levenshtein" in model

    def edges(narrow: bool):
        if not narrow:
            monkeypatch.setattr(training_module, "model_narrowed", lambda m: m)
        engine = LinkEngine(linked_store, CURRENT_RECORDS_SQL)
        engine.linker(model)
        if narrow:
            assert "hamming" in json.dumps(engine.linker().misc.save_model_to_json())
            assert _without_uid(engine.model_json()) == _without_uid(model)
        return engine.predict_full(0.2).sort_values(["unique_id_l", "unique_id_r"]).reset_index(drop=True)

    fast, plain = edges(True), edges(False)
    assert len(fast) > 1000
    assert fast.equals(plain)


_RULES = ["l.a = r.a", 'l."b" = r."b" AND l.c = r.c', "l.c = r.c AND l.a = r.a"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.none() | st.sampled_from("xyz")] * 3), max_size=40),
       st.lists(st.sampled_from(_RULES), min_size=1, max_size=3))
def test_matching_pairs_counts_each_pair_any_rule_holds_for_once(rows, rules):
    """Against every pair joined: overlapping rules, rules sharing columns, NULLs (equal to nothing)."""
    con = example_connection(threads=None)
    con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(range(?)) AS id, unnest(?) AS a, unnest(?) AS b, "
                "unnest(?) AS c)", [len(rows), *([r[i] for r in rows] for i in range(3))])
    if not rows:
        con.execute("CREATE OR REPLACE TABLE t (id BIGINT, a VARCHAR, b VARCHAR, c VARCHAR)")
    joined = con.execute(f"SELECT count(*) FROM t l JOIN t r ON l.id < r.id WHERE "
                         f"{' OR '.join(f'coalesce({r}, false)' for r in rules)}").fetchone()[0]
    assert matching_pairs(con, "t", rules) == joined


def test_a_rule_other_than_equalities_is_left_to_splink():
    assert rule_columns("l.upn = r.upn") == ("upn",)
    assert rule_columns('l."dob" = r."dob" and l.surname = r.surname') == ("dob", "surname")
    for rule in ("l.a = r.b", "levenshtein(l.a, r.a) <= 1", "l.a = r.a OR l.b = r.b", "substr(l.a, 1, 2) = substr(r.a, 1, 2)"):
        assert rule_columns(rule) is None
    assert matching_pairs(_CON, "range(3)", ["l.a = r.a", "l.a <> r.a"]) is None


def test_prior_is_splinks_to_the_bit(linked_store):
    """The engine's prior against Splink's ``estimate_probability_two_random_records_match`` over
    the same records and deterministic rules."""
    engine = LinkEngine(linked_store, CURRENT_RECORDS_SQL)
    linker = engine.linker()
    linker.training.estimate_probability_two_random_records_match(spec.DETERMINISTIC_RULES, recall=0.8)
    theirs = linker._settings_obj._probability_two_random_records_match
    assert 0 < theirs < 1e-3
    linker._settings_obj._probability_two_random_records_match = 0.5
    engine._estimate_prior(linker, spec.DETERMINISTIC_RULES, 0.8)
    assert linker._settings_obj._probability_two_random_records_match == theirs
