"""The registers' counts kept beside the input cache (``registercounts``): a month moves them by the
keys of its own records only, and leaves exactly the counts of every cached row counted anew."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from conftest import EXTRACT_DATE, killed_link
from linkage.connectors import ingest_file
from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.link import inputcache, registercounts, run_link
from linkage.link.engine import LinkEngine
from linkage.link.engine_input import HELD_ONCE, MIDDLE_REGISTERS
from linkage.store import Store


def _kept(store: Store) -> list:
    return store.rows(f"SELECT * EXCLUDE (code) FROM {inputcache.COUNTS} ORDER BY ALL")


def _anew(store: Store) -> list:
    """The counts of every cached row, counted from nothing."""
    return store.rows(f"SELECT * FROM ({registercounts.counts_sql(inputcache.CACHE)}) ORDER BY ALL")


def _readings(store: Store) -> tuple[list, list]:
    return tuple(store.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in (MIDDLE_REGISTERS, HELD_ONCE))


def _recounted(store: Store) -> tuple[list, list]:
    return tuple(store.rows(f"SELECT * FROM ({r}) ORDER BY ALL")
                 for r in registercounts.readings(f"({registercounts.counts_sql(inputcache.CACHE)})"))


def _moved(month: Path, out: Path) -> Path:
    """Month 2's GP list with counts to move: 40 patients' second given names left out (a register
    stating them less often), 30 surnames changed (records leaving their keys), 25 patients held
    twice under one NHS number (pairs sharing one)."""
    with month.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in [r for r in rows if " " in r["name.given"]][:40]:
        row["name.given"] = row["name.given"].split(" ")[0]
    for row in rows[100:130]:
        row["name.family"] += "-Ward"
    twice = [{**r, "id": f"{r['id']}T"} for r in rows if r["nhsNumber"]][40:65]
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows + twice)
    return out


def _month1(home: Path, synth_month1, trained_model) -> Store:
    """``home``: month 1 ingested and linked with the session's month 1 model, opened. A copy of
    the session's one such link (``apiserver.linked_home``), not a link run of its own."""
    from apiserver import linked_home

    linked_home(home, synth_month1, EXTRACT_DATE, children=0, model=trained_model)
    return Store(home, memory_limit="2GB")


def _month2(store: Store, synth_month2, tmp_path) -> None:
    when = date.fromisoformat(json.loads((synth_month2 / "manifest.json").read_text())["extract_date"])
    ingest_file(store, "health", _moved(synth_month2 / "health.csv", tmp_path / "health.csv"), extract_date=when)


def test_a_months_counts_moved_by_its_keys_are_the_counts_of_every_row_counted_anew(
        tmp_path, synth_month1, synth_month2, trained_model, monkeypatch):
    store = _month1(tmp_path / "m", synth_month1, trained_model)
    first = _kept(store)
    assert first == _anew(store) and {r[0] for r in first} >= {"health", "education"}
    _month2(store, synth_month2, tmp_path)
    # The month counts only its keys' rows: never the cache as a whole.
    counted = []
    real = registercounts.counts_sql
    monkeypatch.setattr(registercounts, "counts_sql", lambda rows: counted.append(rows) or real(rows))
    month = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    month.settle()
    monkeypatch.undo()
    assert 0 < month.derived < month.count() / 10
    assert len(counted) == 2 and not any(inputcache.CACHE in rows for rows in counted)
    # The month moved the counts (its changed records hold keys that count), to those counted anew.
    kept = _kept(store)
    assert kept != first
    assert kept == _anew(store)
    assert _readings(store) == _recounted(store)
    # Rows of a known extract lost from the cache: the counts no longer describe it, and are counted again.
    store.execute(f"DELETE FROM {inputcache.CACHE} WHERE unique_id IN (SELECT unique_id FROM {inputcache.CACHE} "
                  "WHERE unique_id LIKE 'health:%' ORDER BY unique_id LIMIT 40)")
    LinkEngine(store, LINK_RECORDS_SQL, cache=True).settle()
    assert _kept(store) == kept
    # Counts of other code are counted again, not moved.
    store.execute(f"UPDATE {inputcache.COUNTS} SET code = 'other', stated_of = stated_of + 5")
    LinkEngine(store, LINK_RECORDS_SQL, cache=True).settle()
    assert _kept(store) == kept
    assert store.scalar(f"SELECT count(*) FROM {inputcache.COUNTS} WHERE code <> ?", [registercounts.CODE]) == 0
    store.close()


def test_a_month_killed_after_writing_its_counts_leaves_the_counts_of_the_cache_as_it_was(
        tmp_path, synth_month1, synth_month2, trained_model):
    """A real SIGKILL inside the cache's transaction, the counts moved and the co-twin pairs not yet written."""
    home = tmp_path / "k"
    store = _month1(home, synth_month1, trained_model)
    first, rows = _kept(store), store.scalar(f"SELECT count(*) FROM {inputcache.CACHE}")
    _month2(store, synth_month2, tmp_path)
    store.close()
    killed_link(home, f"sql.startswith('INSERT INTO {inputcache.PAIRS}')")
    store = Store(home, memory_limit="2GB")
    assert store.scalar(f"SELECT count(*) FROM {inputcache.CACHE}") == rows
    assert _kept(store) == first == _anew(store)
    run_link(store)
    assert _kept(store) == _anew(store) != first
    store.close()
