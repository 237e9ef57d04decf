"""The input cache written beside the run (``inputcache._write_beside``): complete when the run
ends, and a write that fails saves nothing of the run and leaves the cache as it was.

Each fresh store is given the session's month 1 model (``trained_model``: what training on these
very records makes) before its first run: the cache is what is tested, not training, which cost
each first run ten seconds of u estimation (docs/benchmarks.md "Suite time (s28-suite-link)")."""

from __future__ import annotations

import threading

import pytest

from conftest import EXTRACT_DATE, killed_link
from linkage.connectors import ingest_file
from linkage.link import inputcache, run_link
from linkage.link.guards import cotwin_pairs_sql
from linkage.link.run import import_model
from linkage.store import Store


def _cache(store: Store) -> tuple[list, list]:
    rows = store.rows(f"SELECT unique_id, raw_sha, content_sha FROM {inputcache.CACHE} ORDER BY ALL")
    pairs = store.rows(f"SELECT unique_id, twin_id FROM {inputcache.PAIRS} ORDER BY ALL")
    return rows, pairs


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "input-cache-write"]


def _month1(store: Store, synth_month1, trained_model) -> None:
    """Month 1 ingested into ``store``, with the model its first run will use."""
    for source in ("education", "social_care", "health"):
        ingest_file(store, source, synth_month1 / f"{source}.csv", extract_date=EXTRACT_DATE)
    import_model(store, trained_model)


def test_a_first_run_leaves_every_row_and_pair_in_the_cache(tmp_path, synth_month1, trained_model):
    store = Store(tmp_path / "first", memory_limit="2GB")
    _month1(store, synth_month1, trained_model)
    steps = []
    first = run_link(store, step=lambda stage, detail: steps.append(detail))
    assert not _writers()
    rows, pairs = _cache(store)
    assert len(rows) == first.records == store.scalar("SELECT count(*) FROM memory.link_hash")
    # The pairs written are those of every cached row against every other, as found from the store.
    current = f"(SELECT * EXCLUDE (content_sha, raw_sha) FROM {inputcache.CACHE})"
    assert pairs == sorted(store.rows(f"SELECT unique_id, twin_id FROM ({cotwin_pairs_sql(current, current)})"))
    assert len(pairs) > 0
    # The run's input is the store's again, its copy in memory freed.
    assert store.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'memory' "
                        "AND table_name IN ('link_derived', 'link_pairs')") == 0
    identity = store.rows("SELECT record_key, child_id FROM store.identity ORDER BY 1")
    # The next run finds every row it needs kept, derives none, and links the same children.
    steps.clear()
    again = run_link(store, full=True, step=lambda stage, detail: steps.append(detail))
    assert f"{first.records} records (0 derived, the rest as kept from the last run)" in steps
    assert again.children == first.children
    assert store.rows("SELECT record_key, child_id FROM store.identity ORDER BY 1") == identity
    assert _cache(store) == (rows, pairs)
    store.close()


@pytest.mark.parametrize("linked", [True, False], ids=["over-a-cache", "first-run"])
def test_a_failed_cache_write_saves_nothing_and_leaves_the_cache_as_it_was(tmp_path, synth_month1, monkeypatch,
                                                                          linked, trained_model):
    from apiserver import linked_home

    home = tmp_path / "a"
    if linked:
        linked_home(home, synth_month1, EXTRACT_DATE, children=0)
    store = Store(home, memory_limit="2GB")
    if not linked:
        _month1(store, synth_month1, trained_model)
    before = _cache(store) if linked else None
    identity = store.rows("SELECT record_key, child_id FROM store.identity ORDER BY 1")
    runs = store.scalar("SELECT count(*) FROM store.runs")
    real = inputcache.PAIRS
    # The pairs go to a database that is not attached: the write fails after writing the rows,
    # inside its transaction (and, as that table is not found, every row is derived again).
    monkeypatch.setattr(inputcache, "PAIRS", "nowhere.link_cotwin_cache")
    with pytest.raises(Exception, match="nowhere"):
        run_link(store, full=True)
    assert not _writers()
    monkeypatch.setattr(inputcache, "PAIRS", real)
    store.close()

    store = Store(home, memory_limit="2GB")
    assert store.scalar("SELECT count(*) FROM store.runs") == runs
    assert store.rows("SELECT record_key, child_id FROM store.identity ORDER BY 1") == identity
    if linked:
        assert _cache(store) == before
    else:
        assert store.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'store' "
                            "AND table_name = 'link_input_cache'") == 0
    # ... and the next run links as if the failed one had never been.
    result = run_link(store, full=True)
    assert result.records == len(_cache(store)[0])
    store.close()


def test_a_process_killed_while_the_cache_is_written_leaves_no_cache_and_no_run(tmp_path, synth_month1,
                                                                                trained_model):
    """A real SIGKILL from the writing thread, its rows written and its pairs not, inside its transaction."""
    home = tmp_path / "k"
    store = Store(home, memory_limit="2GB")
    _month1(store, synth_month1, trained_model)
    store.close()
    killed_link(home, 'threading.current_thread().name == "input-cache-write" and "link_cotwin_cache" in sql')
    store = Store(home, memory_limit="2GB")
    assert store.scalar("SELECT count(*) FROM store.runs") == 0
    assert store.scalar("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'store' "
                        "AND table_name IN ('link_input_cache', 'link_cotwin_cache', 'link_input_extracts')") == 0
    result = run_link(store)
    assert result.records == len(_cache(store)[0]) > 3000
    store.close()


def test_a_first_run_reads_the_records_from_the_store_once(tmp_path, synth_month1):
    """With no cache, ``inputcache.build`` reads its records relation once (the store's join of
    records and extracts at a million rows costs seconds a time): every record is derived."""
    from linkage.connectors.ingest import LINK_RECORDS_SQL
    from linkage.link.engine import LinkEngine

    store = Store(tmp_path / "d", memory_limit="2GB")
    ingest_file(store, "social_care", synth_month1 / "social_care.csv", extract_date=EXTRACT_DATE)
    seen: list[str] = []
    store.connection.create_function("seen", lambda key: seen.append(key) is None, ["VARCHAR"], "BOOLEAN",
                                     side_effects=True)
    records = f"SELECT * FROM ({LINK_RECORDS_SQL}) WHERE seen(record_key)"
    engine = LinkEngine(store, records, cache=True)
    engine.settle()
    n = store.scalar(f"SELECT count(*) FROM ({LINK_RECORDS_SQL})")
    assert n > 100
    assert sorted(seen) == sorted(r[0] for r in store.rows(f"SELECT record_key FROM ({LINK_RECORDS_SQL})"))
    assert engine.derived == n
    store.close()


def test_a_month_hashes_only_the_rows_of_extracts_the_cache_was_not_brought_to(tmp_path, synth_month1, synth_month2,
                                                                                trained_model):
    """A stored row never changes: a month hashes only the rows of its new extract (the other
    sources' rows are the cache's), and leaves the very cache that deriving every row anew gives,
    also when rows of a known extract are missing from the cache (they are hashed and derived)."""
    import json
    from datetime import date

    from linkage.connectors.ingest import LINK_RECORDS_SQL
    from linkage.link.engine import LinkEngine

    from test_registercounts import _month1 as linked_month1

    store = linked_month1(tmp_path / "m", synth_month1, trained_model)
    when = date.fromisoformat(json.loads((synth_month2 / "manifest.json").read_text())["extract_date"])
    ingest_file(store, "health", synth_month2 / "health.csv", extract_date=when)
    health = store.scalar(f"SELECT count(*) FROM ({LINK_RECORDS_SQL}) WHERE source = 'health'")
    month = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    month.settle()
    assert 0 < month.hashed == health < month.count()
    assert month.derived < health / 5
    kept = _cache(store)
    # Rows of a known extract lost from the cache: found, hashed and derived again.
    store.execute(f"DELETE FROM {inputcache.CACHE} WHERE unique_id IN (SELECT unique_id FROM {inputcache.CACHE} "
                  "WHERE unique_id LIKE 'education:%' ORDER BY unique_id LIMIT 7)")
    again = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    again.settle()
    assert again.hashed == again.derived == 7
    assert _cache(store)[0] == kept[0]
    # The same cache as every row derived anew.
    for table in (inputcache.CACHE, inputcache.PAIRS, inputcache.EXTRACTS):
        store.execute(f"DROP TABLE {table}")
    fresh = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    fresh.settle()
    assert fresh.hashed == fresh.derived == fresh.count()
    assert _cache(store) == kept
    store.close()
