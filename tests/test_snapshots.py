"""Published snapshots: written atomically, encrypted, checked on load, pruned."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest
from typer.testing import CliRunner

from linkage.cli import app
from linkage.config import Settings
from linkage.service.container import load_published
from linkage.store import Store
from linkage.store.snapshots import SnapshotError, current_id, load_manifest, manifest_key, publish, snapshot_dir


@pytest.fixture
def home(tmp_path, linked_store):
    """A private copy of the linked month-1 data directory."""
    home = tmp_path / "data"
    linked_store.checkpoint()
    shutil.copytree(linked_store.home, home, ignore=shutil.ignore_patterns("tmp", "snapshots"))
    return home


def _publish(home, keep=3):
    store = Store(home, memory_limit="1GB")
    try:
        return publish(store, keep)
    finally:
        store.close()


def test_a_published_snapshot_is_what_the_servers_load(home):
    m = _publish(home)
    assert current_id(home) == m.snapshot and m.run_id >= 1
    path = snapshot_dir(home) / m.file
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(duckdb.Error):                                # encrypted: useless without the key
        duckdb.connect(str(path), read_only=True).execute("SHOW TABLES").fetchall()
    data = load_published(home, Settings(home=home))
    try:
        assert data.snapshot == m.snapshot and data.run_id == m.run_id
        assert data.lookup is not None and len(data.documents) > 1000
    finally:
        data.store.close()


def test_a_tampered_partial_or_foreign_snapshot_is_refused_in_one_line(home):
    m = _publish(home)
    path = snapshot_dir(home) / m.file
    original = path.read_bytes()

    def refused(match: str):
        with pytest.raises(SnapshotError, match=match) as exc:
            load_published(home, Settings(home=home))
        assert "\n" not in str(exc.value)

    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    path.write_bytes(bytes(flipped))
    refused("does not match its digest")
    path.write_bytes(original[: len(original) // 2])
    refused("partial or altered")
    path.write_bytes(original)
    manifest = snapshot_dir(home) / f"{m.snapshot}.json"
    body = json.loads(manifest.read_text())
    body["sha256"] = "0" * 64                                    # re-pointed at other content
    manifest.write_text(json.dumps(body))
    refused("fails its check")
    body = json.loads(manifest.read_text())
    body["sha256"] = m.sha256
    manifest.write_text(json.dumps(body))
    load_manifest(home, m.snapshot, manifest_key(home))          # restored: accepted again
    (snapshot_dir(home) / "current").write_text("../../etc/passwd\n")
    refused("does not name a snapshot")
    started = CliRunner().invoke(app, ["serve", "--data-dir", str(home)])    # refused before it listens
    assert started.exit_code == 2 and "does not name a snapshot" in started.output
    assert "Traceback" not in started.output
    with pytest.raises(SnapshotError, match="fails its check"):  # a manifest made with another key
        load_manifest(home, m.snapshot, manifest_key(home, "another key entirely, 32 characters long"))


def test_a_pointer_moved_back_or_an_older_snapshot_restored_is_refused(home):
    """An older snapshot is genuine: its manifest, size and digest pass. Pointed back at one still
    kept (or at one restored from a backup), a server loaded it at start and a running one
    switched to it: last month's linkage served again, a split that parted two children's records
    undone. The newest snapshot served is now kept in the shared service state, and an older one
    is refused by a starting server (in one line, before it listens) and by a running one (which
    keeps serving the newer)."""
    from linkage.service.container import Services
    from linkage.service.switch import SnapshotWatcher

    older, newer = _publish(home).snapshot, _publish(home).snapshot
    services = Services.open(home, Settings(home=home))
    try:
        assert services.snapshot == newer
        (snapshot_dir(home) / "current").write_text(older + "\n")
        swapped = []
        watcher = SnapshotWatcher(home, lambda: services, swapped.append, 0, 0)
        assert watcher.check() is False and watcher.refused == older and not swapped
    finally:
        services.close()
        services.state.close()
    with pytest.raises(SnapshotError, match="older than snapshot"):
        Services.open(home, Settings(home=home))
    started = CliRunner().invoke(app, ["serve", "--data-dir", str(home)])    # refused before it listens
    assert started.exit_code == 2 and "older than snapshot" in started.output, started.output
    # A name alone, dated far ahead, is refused by its checks and leaves no mark: a later genuine
    # snapshot is served.
    (snapshot_dir(home) / "current").write_text(older[:7] + "29991231T235959000000\n")
    with pytest.raises(SnapshotError, match="no manifest"):
        Services.open(home, Settings(home=home))
    (snapshot_dir(home) / "current").write_text(newer + "\n")
    _publish(home)                                       # a new publication is served as before
    services = Services.open(home, Settings(home=home))
    services.close()
    services.state.close()


def test_old_snapshots_are_pruned_and_the_current_one_kept(home):
    made = [_publish(home, keep=2).snapshot for _ in range(3)]
    kept = sorted(p.stem for p in snapshot_dir(home).glob("*.json"))
    assert kept == made[1:] and current_id(home) == made[-1]
    assert sorted(p.stem for p in snapshot_dir(home).glob("*.duckdb")) == made[1:]
    assert not list(snapshot_dir(home).glob("*.tmp"))


def test_a_snapshot_holds_every_table_but_the_link_runs_working_caches(home):
    """The input caches are the link run's own (no server reads them): a snapshot has them empty,
    every other table row for row as the live database has it, and the live caches stay."""
    from linkage.store.schema import UNPUBLISHED

    m = _publish(home)
    live = Store(home, memory_limit="1GB", read_only=True)
    snap = Store(home, memory_limit="1GB", read_only=True, file=snapshot_dir(home) / m.file)
    try:
        tables = [r[0] for r in live.rows("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store'")]
        assert set(UNPUBLISHED) <= set(tables)
        for table in tables:
            rows = live.scalar(f"SELECT count(*) FROM store.{table}")
            if table in UNPUBLISHED:     # a small store may hold no two-UPN group or twin family
                assert rows > 0 or table in ("link_two_upns", "link_twin_families")
                assert snap.scalar(f"SELECT count(*) FROM store.{table}") == 0
            else:
                assert sorted(map(repr, snap.rows(f"SELECT * FROM store.{table}"))) == sorted(
                    map(repr, live.rows(f"SELECT * FROM store.{table}"))), table
    finally:
        snap.close()
        live.close()


def test_a_snapshot_reuses_the_live_files_encrypted_blocks_unless_the_file_is_mostly_free_space(home):
    """Publishing copies the checkpointed file's bytes (``Store.clone_to``): the blocks of every
    published table are the live file's own, not rows read back, compressed and encrypted again
    (which, at a million records, was most of a snapshot's seconds). Encrypted blocks carry their
    own nonces, so a re-encoded copy shares none with the live file. A file mostly free space
    (blocks of runs that never committed) would carry it into every snapshot: that one is copied
    row by row, compacted. A store opened read-only publishes the same tables, the caches empty."""
    from linkage.store.schema import UNPUBLISHED

    m = _publish(home)
    block = 1 << 18
    live = (home / "linkage.duckdb").read_bytes()
    snap = (snapshot_dir(home) / m.file).read_bytes()
    same = sum(live[i:i + block] == snap[i:i + block] for i in range(block, min(len(live), len(snap)), block))
    assert same >= (len(live) // block - 1) // 2
    store = Store(home, memory_limit="1GB", read_only=True)
    try:
        names = {r[0] for r in store.rows("SELECT surname FROM store.records WHERE length(surname) >= 6 LIMIT 200")}
    finally:
        store.close()
    assert names and not [n for n in names if n.encode() in snap]      # encrypted, as the live file is

    store = Store(home, memory_limit="1GB")
    try:
        store.execute("CREATE TABLE store.big_scratch AS SELECT range AS i, md5(range::VARCHAR) AS h "
                      "FROM range(3000000)")
        store.checkpoint()
        store.execute("CREATE TABLE store.after_scratch AS SELECT range AS i FROM range(300000)")
        store.checkpoint()
        store.execute("DROP TABLE store.big_scratch")
        store.checkpoint()
        total, free = store.rows("SELECT total_blocks, free_blocks FROM pragma_database_size() "
                                 "WHERE database_name = 'store'")[0]
        assert 4 * free > total         # the case this is about: most of the file is free
        m = publish(store, 3)
    finally:
        store.close()
    assert (snapshot_dir(home) / m.file).stat().st_size < 0.75 * (home / "linkage.duckdb").stat().st_size
    reader = Store(home, memory_limit="1GB", read_only=True)
    try:
        m = publish(reader, 3)
    finally:
        reader.close()
    snap = Store(home, memory_limit="1GB", read_only=True, file=snapshot_dir(home) / m.file)
    try:
        assert all(snap.scalar(f"SELECT count(*) FROM store.{t}") == 0 for t in UNPUBLISHED)
        assert snap.scalar("SELECT count(*) FROM store.records") > 1000
    finally:
        snap.close()
