"""A month hashes only the records whose guard can read otherwise (``hashkeep``), keeps the rest as
the last run saved them, and so holds exactly the hashes of every record hashed anew; a run killed
before its save leaves the next one to hash every record. The twin families kept beside the cache
are those of every cached pair found anew."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

from conftest import killed_link
from linkage.connectors import ingest_file
from linkage.connectors.ingest import LINK_RECORDS_SQL
from linkage.link import hashkeep, inputcache, run_link
from linkage.link.engine import LinkEngine
from linkage.link.guards import RARE, twin_families_sql, twin_names_sql
from linkage.store import Store
from linkage.store.schema import t
from linkage.validation.identifiers import upn_check_letter
from test_registercounts import _month1


def _hashes(store: Store) -> list:
    return store.rows("SELECT record_key, content_sha, guard_sha FROM memory.link_hash ORDER BY ALL")


def _saved(store: Store) -> list:
    return store.rows(f"SELECT record_key, content_sha, guard_sha FROM {t('linked_records')} ORDER BY ALL")


def _anew(store: Store) -> list:
    """Every record hashed from nothing (no kept state: the full path)."""
    store.execute(f"DROP TABLE IF EXISTS {hashkeep.STATE}")
    engine = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    engine.settle()
    assert engine.moved is None
    return _hashes(store)


def _upn(upn: str, n: int) -> str:
    """Another valid UPN than ``upn``: its last three digits ``n``, its check letter made again."""
    body = f"{upn[1:-3]}{n:03d}"
    return upn_check_letter(body) + body


def _families(store: Store) -> tuple[list, list]:
    """The kept twin families and the names twins are given from them; and both found anew."""
    kept = store.rows(f"SELECT * FROM {hashkeep.FAMILIES} ORDER BY ALL")
    anew = store.rows(f"SELECT * FROM ({twin_families_sql(inputcache.CACHE, inputcache.PAIRS)}) ORDER BY ALL")
    names = [store.rows(f"SELECT * FROM ({twin_names_sql(inputcache.CACHE, inputcache.PAIRS, f)}) ORDER BY ALL")
             for f in (hashkeep.FAMILIES, None)]
    assert names[0] == names[1]
    return kept, anew


def _month2(store: Store, synth_month1: Path, synth_month2: Path, tmp_path: Path) -> dict[str, set[str]]:
    """The school's list again, moving what a guard reads of other records: 4 pupils who have a
    co-twin left out, a new sister for 4 others, 4 pupils enrolled again under a second UPN (the
    same name, birthday and address), and a new pupil for a forename 2 pupils hold (no longer
    rare). Returns the unchanged records whose guard should read otherwise, by why."""
    with (synth_month1 / "education.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_id = {r["AdNo"]: r for r in rows}
    twins = sorted(k.split(":", 1)[1] for (k,) in store.rows(
        f"SELECT DISTINCT unique_id FROM {inputcache.PAIRS} WHERE unique_id LIKE 'education:%'"))
    twins = [k for k in twins if k in by_id]
    assert len(twins) >= 12
    gone, sisters_of = twins[:4], twins[6:10]
    left = {k for (k,) in store.rows(f"SELECT unique_id FROM {inputcache.PAIRS} WHERE twin_id IN "
                                     f"(SELECT unnest(?))", [[f"education:{g}" for g in gone]])}
    # Sisters named as a slip of their sister's name would be: twin families.
    sisters = [{**by_id[k], "AdNo": f"{k}Z", "UPN": _upn(by_id[k]["UPN"], 901) if by_id[k]["UPN"] else "",
                "Forename": by_id[k]["Forename"] + "e"} for k in sisters_of]
    # Pupils on roll whose UPN social care holds too: its record is no co-twin of a school's record.
    elsewhere = {u for (u,) in store.rows(f"SELECT upn FROM {inputcache.CACHE} WHERE unique_id LIKE 'social_care:%'")}
    plain = [r for r in rows if r["UPN"] and r["AdNo"] not in set(twins)][:40]
    second = [{**r, "AdNo": f"{r['AdNo']}S", "UPN": _upn(r["UPN"], 902)}
              for r in rows if r["UPN"] in elsewhere and r["AdNo"] not in set(twins) and r["EntryDate"]
              and not r["LeavingDate"] and r["EnrolStatus"] not in ("M", "S", "G", "O")][:4]   # on roll
    assert len(second) == 4
    held_twice = {k for (k,) in store.rows(f"SELECT unique_id FROM {inputcache.CACHE} WHERE upn IN (SELECT unnest(?)) "
                                           "AND unique_id LIKE 'social_care:%'", [[by_id[r["AdNo"][:-1]]["UPN"] for r in second]])}
    pair = store.rows(f"SELECT forename FROM {inputcache.CACHE} WHERE forename IS NOT NULL GROUP BY forename "
                      f"HAVING count(*) = {RARE} ORDER BY forename LIMIT 1")
    assert pair
    rare = {k for (k,) in store.rows(f"SELECT unique_id FROM {inputcache.CACHE} WHERE forename = ?", [pair[0][0]])}
    newcomer = {**plain[20], "AdNo": "N1", "UPN": _upn(plain[20]["UPN"], 903), "Forename": pair[0][0].title(),
                "Surname": "Quillfeather"}
    out = tmp_path / "education.csv"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([r for r in rows if r["AdNo"] not in set(gone)] + sisters + second + [newcomer])
    when = date.fromisoformat(json.loads((synth_month2 / "manifest.json").read_text())["extract_date"])
    ingest_file(store, "education", out, extract_date=when)
    (tmp_path / "month1.csv").write_text((synth_month1 / "education.csv").read_text())
    return {"co-twin lost": left - {f"education:{g}" for g in gone},
            "co-twin gained": {f"education:{k}" for k in sisters_of}, "second UPN": held_twice, "rare": rare}


def test_a_months_kept_hashes_are_those_of_every_record_hashed_anew(tmp_path, synth_month1, synth_month2,
                                                                   trained_model):
    store = _month1(tmp_path / "m", synth_month1, trained_model)
    first = _saved(store)
    families, anew = _families(store)
    assert families == anew
    moved_by = _month2(store, synth_month1, synth_month2, tmp_path)
    month = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    month.settle()
    # Only a few records hashed: those derived and those whose guard may read otherwise.
    assert month.moved is not None and 0 < month.moved < month.count() / 10
    kept = _hashes(store)
    kept_families, anew_families = _families(store)
    assert kept_families == anew_families != families
    anew = _anew(store)
    assert kept == anew
    # Each way a record's guard moves without its own row moving did move one here.
    before = {k: g for k, _, g in first}
    now = {k: g for k, _, g in anew}
    for why, keys in moved_by.items():
        assert keys and any(k in before and now.get(k) not in (None, before[k]) for k in keys), why
    # The month's run saves them, and what it saved is every record's hashes as anew.
    run_link(store)
    saved = _saved(store)
    assert saved == _anew(store) != first
    # Month 3: the list of month 1 again, which takes the second UPNs' groups apart (after a run
    # that saves its hashes' state again: ``_anew`` dropped it).
    run_link(store)
    when = date.fromisoformat(json.loads((synth_month2 / "manifest.json").read_text())["extract_date"])
    ingest_file(store, "education", tmp_path / "month1.csv", extract_date=when + timedelta(days=1))
    month = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    month.settle()
    assert month.moved is not None and 0 < month.moved < month.count() / 10
    kept = _hashes(store)
    assert kept == _anew(store)
    kept_families, anew_families = _families(store)
    assert kept_families == anew_families == families
    now = {k: g for k, _, g in kept}
    assert all(now[k] == before[k] != dict((k, g) for k, _, g in saved)[k] for k in moved_by["second UPN"])
    store.close()


def test_a_month_killed_before_its_save_leaves_the_next_run_to_hash_every_record(
        tmp_path, synth_month1, synth_month2, trained_model):
    """A real SIGKILL in the save, after the cache was brought to the month: the hashes saved are
    month 1's and the cache is the month's, so nothing tells which records moved."""
    home = tmp_path / "k"
    store = _month1(home, synth_month1, trained_model)
    first, state = _saved(store), hashkeep.state(store)
    _month2(store, synth_month1, synth_month2, tmp_path)
    store.close()
    killed_link(home, f"sql.startswith('CREATE OR REPLACE TABLE {hashkeep.STATE}')")
    store = Store(home, memory_limit="2GB")
    assert _saved(store) == first and hashkeep.state(store) == state
    after = LinkEngine(store, LINK_RECORDS_SQL, cache=True)
    after.settle()
    assert after.derived == 0 and after.moved is None
    kept = _hashes(store)
    assert kept == _anew(store) != first
    run_link(store)
    assert _saved(store) == _anew(store) == kept
    store.close()
