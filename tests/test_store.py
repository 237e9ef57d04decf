"""The store: encrypted at rest, keys made on first run, all-or-nothing runs."""

from __future__ import annotations

import os

import pytest

from conftest import EXTRACT_DATE
from linkage.connectors import ingest_file
from linkage.errors import StoreError
from linkage.store import Store


def test_no_name_from_the_data_appears_in_the_database_file(tmp_path, synth_month1):
    from apiserver import linked_home

    home = tmp_path / "enc"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)      # ingested and linked
    names = set()
    import csv
    with open(synth_month1 / "health.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            names.add(row["name.family"])
            names.add(row["address.postalCode"])
    files = [p for p in home.rglob("*") if p.is_file() and p.name != "db.key"]
    blob = b"".join(p.read_bytes() for p in files)
    assert len(blob) > 100_000
    assert occurring(blob, [n.encode() for n in names if n and len(n) >= 5]) == []


def occurring(blob: bytes, words: list[bytes]) -> list[bytes]:
    """The ``words`` (each of four bytes or more) found anywhere in ``blob``. A search of the
    whole blob a word (``word in blob``) took 8.6 CPU s for two thousand words in 9 MB; here
    every position's four bytes are looked up among the words' first four at once, and only
    the few positions that match are compared whole."""
    import numpy as np

    if len(blob) < 4 or not words:
        return []
    windows = np.empty(len(blob) - 3, dtype=np.uint32)
    for offset in range(4):         # the four bytes at offset, offset + 4, ... read as one word each
        windows[offset::4] = np.frombuffer(blob, dtype="<u4", count=(len(blob) - offset) // 4, offset=offset)
    heads = np.unique(np.array([int.from_bytes(w[:4], "little") for w in words], dtype=np.uint32))
    at = np.searchsorted(heads, windows).clip(max=len(heads) - 1)
    return sorted({w for p in np.flatnonzero(heads[at] == windows).tolist() for w in words if blob.startswith(w, p)})


def test_key_is_created_with_0600_and_a_wrong_key_is_refused(tmp_path):
    Store(tmp_path / "k", memory_limit="1GB").close()
    assert ((tmp_path / "k").stat().st_mode & 0o777) == 0o700
    key = tmp_path / "k" / "keys" / "db.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    with pytest.raises(StoreError, match="key"):
        Store(tmp_path / "k", key="x" * 43, memory_limit="1GB")


def test_key_from_environment_is_used_and_not_written(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKAGE_DB_KEY", "k" * 40)
    Store(tmp_path / "e", memory_limit="1GB").close()
    assert not (tmp_path / "e" / "keys" / "db.key").exists()


def test_failed_run_leaves_previous_state_intact(tmp_path, synth_month1, monkeypatch):
    from apiserver import linked_home
    from linkage.link import run_link

    linked_home(tmp_path / "a", synth_month1, EXTRACT_DATE, children=0)     # month 1, linked
    store = Store(tmp_path / "a", memory_limit="2GB")
    before = store.rows("SELECT record_key, child_id FROM store.identity ORDER BY 1")
    runs = store.scalar("SELECT count(*) FROM store.runs")

    calls = {"n": 0}
    real = Store.insert_df

    def dies_half_way(self, table, frame):
        calls["n"] += 1
        if calls["n"] == 2:         # the queue saved, the term frequencies not: mid-transaction
            raise KeyboardInterrupt("killed")
        return real(self, table, frame)

    monkeypatch.setattr(Store, "insert_df", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        run_link(store, full=True)
    monkeypatch.setattr(Store, "insert_df", real)
    store.close()
    reopened = Store(tmp_path / "a", memory_limit="2GB")
    assert reopened.rows("SELECT record_key, child_id FROM store.identity ORDER BY 1") == before
    assert reopened.scalar("SELECT count(*) FROM store.runs") == runs
    reopened.close()


def _link_killed_at_insert(home, table: str):
    """``run_link`` on ``home`` in a child process that SIGKILLs itself as it inserts a frame into
    ``table`` (inside the saving transaction); it prints each stage as it starts. A table, not the
    nth insert: which tables are saved from Python frames changes as the save does."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from linkage.store import Store
        from linkage.link import run_link
        s = Store(Path({str(home)!r}), memory_limit="2GB")
        real = Store.insert_df
        def insert(self, table, frame):
            if table.rsplit(".", 1)[-1] == {table!r}:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, table, frame)
        Store.insert_df = insert
        run_link(s, step=lambda stage, detail: print(stage, detail, flush=True))
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ})


def test_killed_process_leaves_previous_state_intact(tmp_path, synth_month1, linked_store):
    """A real SIGKILL in the middle of the saving transaction (of a first run, with month 1's
    saved model: the save is what is killed, not training)."""
    import signal

    from linkage.link.run import export_model, import_model

    home = tmp_path / "kill"
    store = Store(home, memory_limit="2GB")
    ingest_file(store, "health", synth_month1 / "health.csv", extract_date=EXTRACT_DATE)
    (tmp_path / "model").mkdir()
    import_model(store, export_model(linked_store, tmp_path / "model"))
    store.close()
    proc = _link_killed_at_insert(home, "child_ids")      # the save's last frame
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "saving" in proc.stdout and "skipped: using the saved model" in proc.stdout
    after = Store(home, memory_limit="2GB")
    assert after.scalar("SELECT count(*) FROM store.runs") == 0
    assert after.scalar("SELECT count(*) FROM store.identity") == 0
    assert after.scalar("SELECT count(*) FROM store.records") > 0
    after.close()


def test_killed_incremental_run_leaves_previous_state_intact(tmp_path, synth_month1, synth_month2):
    """A real SIGKILL in the middle of an incremental run's save, after its deletes and updates of
    pairs, hashes and queue rows: every table the run writes as a delta is as it was."""
    import json
    import signal
    from datetime import date

    from apiserver import linked_home
    from linkage.link import run_link

    home = tmp_path / "killincr"
    linked_home(home, synth_month1, EXTRACT_DATE, children=0)      # month 1, linked (run 1)
    store = Store(home, memory_limit="2GB")
    month2 = date.fromisoformat(json.loads((synth_month2 / "manifest.json").read_text())["extract_date"])
    ingest_file(store, "health", synth_month2 / "health.csv", extract_date=month2)
    tables = {"identity": "record_key, child_id, run_id", "link_edges": "*", "linked_records": "*",
              "review_queue": "*", "child_ids": "*", "identity_history": "*", "runs": "*",
              "term_frequencies": "*"}

    def snapshot(s: Store) -> dict:
        return {name: sorted(map(repr, s.rows(f"SELECT {cols} FROM store.{name}"))) for name, cols in tables.items()}

    before = snapshot(store)
    store.close()
    proc = _link_killed_at_insert(home, "review_queue")   # after the pairs' and hashes' deltas
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "new or changed records against" in proc.stdout        # it was the incremental path
    after = Store(home, memory_limit="2GB")
    assert snapshot(after) == before
    result = run_link(after)                                     # and the next run completes
    assert result.mode == "incremental" and result.run_id == 2
    after.close()


def test_a_store_opens_after_a_process_was_killed_while_spilling(tmp_path):
    """DuckDB refuses encrypted spilling while old spill files exist; a killed server must
    still start again, and a live process's spill files are left alone."""
    import signal
    import subprocess
    import sys

    home = tmp_path / "spill"
    Store(home, memory_limit="1GB").close()
    # The child holds its spill files until it is killed: it waits on its stdin, which the test never
    # closes (after a 60 s sleep it exited, removing them, had a loaded machine slowed the test that
    # long). Its stderr comes back through a pipe, so a child that dies before spilling says why: at
    # load 26 (session 29) the test saw only an empty line, and pytest's capture showed no stderr.
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys\n"
        "from linkage.store import Store\n"
        f"s = Store({str(home)!r}, memory_limit='64MB', threads=1, read_only=True)\n"
        "s.execute('SET enable_progress_bar = false')\n"     # a slow (loaded) machine would print it here
        "s.execute(\"CREATE TABLE memory.big AS SELECT range AS i, md5(range::VARCHAR) AS h FROM range(1500000)\")\n"
        "print('spilled', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = child.stdout.readline().strip()
        if said != "spilled":
            child.kill()
            pytest.fail(f"the child did not spill (exit {child.wait()}): {said!r} {child.stderr.read()[-2000:]!r}")
        spill = home / "tmp" / f"{child.pid}.0"          # its first (and only) store
        assert any(spill.iterdir())                         # real spill files, in its own directory
        Store(home, memory_limit="1GB", read_only=True).close()   # a second live process: no clash
        assert any(spill.iterdir())
        child.send_signal(signal.SIGKILL)
        child.wait()
        (home / "tmp" / "duckdb_temp_storage_S32K-0.tmp").write_bytes(b"left by an older version")
        store = Store(home, memory_limit="1GB")
        assert not spill.exists() and not (home / "tmp" / "duckdb_temp_storage_S32K-0.tmp").exists()
        store.execute("SELECT 1")
        store.close()
    finally:
        child.kill()
        child.wait()


def test_sealed_text_round_trips_and_is_bound_to_its_row(tmp_path):
    from linkage.errors import StoreError
    from linkage.store.sealed import Sealer

    sealer = Sealer(tmp_path / "s")
    value = sealer.seal("Mum says Jo is at her aunt's in Leeds", "BG-1")
    assert "Leeds" not in value and sealer.open(value, "BG-1") == "Mum says Jo is at her aunt's in Leeds"
    assert Sealer(tmp_path / "s").open(value, "BG-1").startswith("Mum")      # same key on restart
    for bad in (lambda: sealer.open(value, "BG-2"), lambda: sealer.open(value[:-4] + "AAAA", "BG-1"),
                lambda: Sealer(tmp_path / "other").open(value, "BG-1"), lambda: sealer.open("plain", "BG-1")):
        with pytest.raises(StoreError):
            bad()


def test_memory_limited_holds_duckdb_to_the_limit_and_restores_it(tmp_path):
    """A linkage run holds DuckDB to ``link_memory_limit`` (it spills beyond), then gives back the
    store's own limit; a size that is not one is refused rather than put into SQL."""
    store = Store(tmp_path / "m", memory_limit="3GB")
    try:
        limit = lambda: store.scalar("SELECT current_setting('memory_limit')")  # noqa: E731
        before = limit()
        with store.memory_limited("128MB"):
            inside = limit()
            # A sort bigger than the limit (232 MB of text) spills instead of failing.
            assert store.scalar("SELECT count(*) FROM (SELECT md5(i::VARCHAR) || repeat('x', 200) AS s "
                                "FROM range(1000000) t(i) ORDER BY s)") == 1_000_000
        assert limit() == before and inside != before and inside.endswith("MiB")
        with pytest.raises(StoreError):
            with store.memory_limited("1GB'; DROP TABLE x; --"):
                pass
        assert limit() == before
    finally:
        store.close()


def test_registered_frames_are_gone_after_the_block_also_on_an_error():
    """``store.registered``: frames readable by name inside the block and unregistered after it,
    also when the query fails or a later frame cannot be registered (a name left registered
    keeps its frame alive and shadows the next frame given that name)."""
    import duckdb
    import pandas as pd

    from linkage.store import registered

    con = duckdb.connect()

    def gone(name: str) -> bool:
        try:
            con.execute(f"SELECT * FROM {name}")
        except duckdb.CatalogException:
            return True
        return False

    with registered(con, _reg_a=pd.DataFrame({"k": ["x", "y"]}), _reg_b=pd.DataFrame({"k": ["y"]})) as c:
        assert c.execute("SELECT k FROM _reg_a SEMI JOIN _reg_b USING (k)").fetchall() == [("y",)]
    assert gone("_reg_a") and gone("_reg_b")
    with pytest.raises(duckdb.BinderException):
        with registered(con, _reg_a=pd.DataFrame({"k": ["x"]})):
            con.execute("SELECT no_such_column FROM _reg_a")
    assert gone("_reg_a")
    with pytest.raises(duckdb.InvalidInputException):
        with registered(con, _reg_a=pd.DataFrame({"k": ["x"]}), _reg_b=object()):
            pass
    assert gone("_reg_a") and gone("_reg_b")
    with registered(con, _reg_a=pd.DataFrame({"k": ["new"]})):     # the name is free for the next frame
        assert con.execute("SELECT k FROM _reg_a").fetchall() == [("new",)]
