"""The pairs a full predict scores are blocked in the store's DuckDB (``LinkEngine._blocked_pairs``),
not by Splink: they must be exactly Splink's own pairs, keys, orientation and match key, and
score exactly as Splink's would."""

from __future__ import annotations

import pytest

from apiserver import linked_home
from conftest import EXTRACT_DATE
from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.link import spec
from linkage.link.engine import LinkEngine
from linkage.link.run import _load_model
from linkage.store import Store


@pytest.fixture(scope="module")
def engine(tmp_path_factory, synth_month1):
    home = tmp_path_factory.mktemp("blocking") / "data"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    eng = LinkEngine(store, CURRENT_RECORDS_SQL, cache=True)
    eng.linker(_load_model(store)[0])
    yield eng
    store.close()


def _rows(con, table: str) -> set[tuple[str, str, str]]:
    return set(con.execute(f"SELECT match_key, join_key_l, join_key_r FROM {table}").fetchall())


def test_blocked_pairs_are_splinks_own(engine):
    linker = engine.linker()
    rules = linker._settings_obj._blocking_rules_to_generate_predictions
    assert len(rules) == len(spec.PREDICTION_RULES)
    ours = engine._blocked_pairs(linker)
    try:
        got = _rows(engine.con, ours.physical_name)
    finally:
        engine.db_api.remove_splinkdataframe_from_cache(ours)
        engine.con.execute(f"DROP TABLE memory.{ours.physical_name}")
    theirs = linker.inference.compute_blocked_pairs_for_predict()
    want = _rows(engine.con, theirs.physical_name)
    theirs.drop_table_from_database_and_remove_from_cache()
    assert len(got) > 1000
    assert len({k for k, _, _ in got}) > len(rules) / 2        # most rules find pairs of their own
    assert got == want


def test_predict_scores_as_with_splinks_blocking_and_twice_on_one_engine(engine, monkeypatch):
    key = ["unique_id_l", "unique_id_r"]
    ours = engine.predict_full(0.2).sort_values(key).reset_index(drop=True)
    again = engine.predict_full(0.2).sort_values(key).reset_index(drop=True)
    monkeypatch.setattr(LinkEngine, "_blocked_pairs", lambda self, linker: None)
    theirs = engine.predict_full(0.2).sort_values(key).reset_index(drop=True)
    assert len(ours) > 1000
    for other in (again, theirs):
        assert ours[key].equals(other[key])
        assert (ours["match_weight"] - other["match_weight"]).abs().max() < 1e-9
        assert ours["guarded"].equals(other["guarded"])
