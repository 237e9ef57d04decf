"""Issue 11: training may not make one field's disagreement a veto (``link/bounds.py``).

On the independent generator's extracts EM put m at 1e-52 and below for an address, a sex or a
date of birth that differs, so one mistyped field kept two records of one child apart however
much else agreed. The trained model of the synthetic month (the session's one training run) and a
pair of its own records are checked, and the bound itself on a model written out by hand.
"""

from __future__ import annotations

import json
import math

import pytest

from linkage.link.bounds import M_FLOOR, bounded_model
from linkage.link.explain import Waterfall
from linkage.link.review import model_features
from linkage.store.schema import t


def _trained_levels(model: dict):
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and not level.get("fix_m_probability") \
                    and isinstance(level.get("m_probability"), (int, float)):
                yield comparison["output_column_name"], level


def _vetoes(model: dict) -> list:
    return [(name, level["label_for_charts"], level["m_probability"]) for name, level in _trained_levels(model)
            if level["m_probability"] < M_FLOOR * (1 - 1e-9)]


def test_training_on_an_authoritys_own_extracts_leaves_no_field_a_veto(tmp_path):
    """benchmarks/la_extracts at 5,000 children (four files): EM put a differing address at
    m = 5e-33 there (110 bits against a child who moved).

    The model is trained as ``linkage link`` trains it the first time (``LinkEngine.train`` over
    the run's records), without the prediction and clustering that follow: they read the model
    and do not change it."""
    from conftest import LA_FILES, ingest_la, la_extracts
    from linkage.link.engine import LinkEngine
    from linkage.link.run import LINK_RECORDS_SQL
    from linkage.store import Store

    data = la_extracts(tmp_path / "la", 61, 5000)
    store = Store(tmp_path / "home", memory_limit="2GB")
    try:
        ingest_la(store, data, files=LA_FILES[:4])
        engine = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
        try:
            model = json.loads(engine.train())
        finally:
            engine.settle()
    finally:
        store.close()
    assert not _vetoes(model), f"levels EM drove below {M_FLOOR}"


def test_the_synthetic_months_model_has_no_veto_either(trained_model):
    assert not _vetoes(json.loads(trained_model.read_text()))


def test_one_child_with_a_mistyped_sex_still_links(linked_store):
    """The strongest pair of one child's records, with one record's sex typed the other way, is
    still one child: the sex is one field of many, not a veto."""
    store = linked_store
    a, b = store.rows(
        f"SELECT e.record_key_l, e.record_key_r FROM {t('link_edges')} e "
        "JOIN store.records l ON l.record_key = e.record_key_l JOIN store.records r ON r.record_key = e.record_key_r "
        "WHERE l.sex IN ('M', 'F') AND l.sex = r.sex AND l.replaced_by IS NULL AND r.replaced_by IS NULL "
        "ORDER BY e.match_weight DESC, 1, 2 LIMIT 1")[0]
    features, types = model_features(store, [a, b])
    model = store.rows(f"SELECT settings_json FROM {t('model')} ORDER BY created_at DESC LIMIT 1")[0][0]
    tf = store.df(f"SELECT column_name, value, tf FROM {t('term_frequencies')}")
    left, right = features[a], dict(features[b])
    right["sex"] = "F" if left["sex"] == "M" else "M"
    waterfall = Waterfall(model, types, tf)
    as_typed = waterfall.explain(left, features[b])
    mistyped = waterfall.explain(left, right)
    sex = next(s for s in mistyped.steps if s.comparison == "sex")
    assert sex.level == "different"
    assert mistyped.match_probability > 0.99, (as_typed.match_weight, mistyped.match_weight, sex.match_weight)


def _model(levels: list[dict]) -> str:
    return json.dumps({"comparisons": [{"output_column_name": "x", "comparison_levels": [
        {"is_null_level": True, "label_for_charts": "null"}, *levels]}]})


def test_a_collapsed_level_is_raised_to_the_floor_and_the_rest_still_sum_as_before():
    levels = [{"label_for_charts": "exact", "m_probability": 0.95, "u_probability": 0.01},
              {"label_for_charts": "close", "m_probability": 0.05, "u_probability": 0.04},
              {"label_for_charts": "different", "m_probability": 1e-52, "u_probability": 0.95}]
    out = json.loads(bounded_model(_model(levels)))["comparisons"][0]["comparison_levels"][1:]
    m = {lv["label_for_charts"]: lv["m_probability"] for lv in out}
    assert m["different"] == M_FLOOR and m["close"] == 0.05
    assert math.isclose(sum(m.values()), 1.0 + 1e-52, rel_tol=1e-12)
    assert math.isclose(m["exact"], 0.95 - M_FLOOR + 1e-52, rel_tol=1e-12)


def test_agreement_is_never_evidence_against():
    # EM put a shared middle name at m = 0 (258 bits against): agreement becomes no evidence.
    levels = [{"label_for_charts": "exact", "m_probability": 1e-80, "u_probability": 0.25},
              {"label_for_charts": "different", "m_probability": 1.0, "u_probability": 0.75}]
    out = json.loads(bounded_model(_model(levels)))["comparisons"][0]["comparison_levels"][1:]
    assert out[0]["m_probability"] == pytest.approx(0.25) and out[1]["m_probability"] == pytest.approx(0.75)


def test_fixed_and_unobserved_levels_and_sane_models_are_left_alone():
    levels = [{"label_for_charts": "agrees", "m_probability": 0.5, "u_probability": 0.5, "fix_m_probability": True},
              {"label_for_charts": "exact", "m_probability": 0.9, "u_probability": 0.01},
              {"label_for_charts": "never seen", "u_probability": 0.02},
              {"label_for_charts": "different", "m_probability": 0.1, "u_probability": 0.97}]
    text = _model(levels)
    assert bounded_model(text) == text
