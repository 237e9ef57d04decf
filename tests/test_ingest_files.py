"""``ingest_files``: several extracts, each read while those before are stored beside; the store
ends as ``ingest_file`` one after another leaves it, and a failure stops at that file."""

from __future__ import annotations

import shutil
import threading

import pytest

from conftest import EXTRACT_DATE
from linkage.connectors import ConnectorError, ingest_file, ingest_files
from linkage.store import Store

SOURCES = ("education", "social_care", "health")


def _tables(store: Store) -> dict[str, list]:
    """Every store table's rows but the time each extract was ingested at."""
    names = [r[0] for r in store.rows("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' "
                                      "ORDER BY 1")]
    return {n: store.rows(f"SELECT * EXCLUDE (ingested_at) FROM store.{n} ORDER BY ALL" if n == "extracts"
                          else f"SELECT * FROM store.{n} ORDER BY ALL") for n in names}


def test_the_store_ends_as_ingesting_one_file_after_another_leaves_it(tmp_path, synth_month1):
    one = Store(tmp_path / "one", memory_limit="1GB")
    singly = [ingest_file(one, s, synth_month1 / f"{s}.csv", extract_date=EXTRACT_DATE) for s in SOURCES]
    many = Store(tmp_path / "many", memory_limit="1GB")
    together = ingest_files(many, [(s, synth_month1 / f"{s}.csv") for s in SOURCES], extract_date=EXTRACT_DATE)
    assert together == singly
    assert sum(r.accepted for r in together) > 3000
    assert _tables(many) == _tables(one)
    # ... and ingesting them again stores nothing more.
    again = ingest_files(many, [(s, synth_month1 / f"{s}.csv") for s in SOURCES], extract_date=EXTRACT_DATE)
    assert all(r.already_ingested for r in again)
    assert _tables(many) == _tables(one)
    one.close()
    many.close()


def test_a_file_that_fails_stops_there_with_those_before_stored(tmp_path, synth_month1):
    bad = tmp_path / "health.csv"
    shutil.copy(synth_month1 / "health.csv", bad)
    text = bad.read_text(encoding="utf-8").splitlines(keepends=True)
    bad.write_text("nothing,this,mapping,reads\n" + "".join(text[1:]), encoding="utf-8")     # no header it knows
    store = Store(tmp_path / "h", memory_limit="1GB")
    files = [("education", synth_month1 / "education.csv"), ("health", bad),
             ("social_care", synth_month1 / "social_care.csv")]
    with pytest.raises(ConnectorError):
        ingest_files(store, files, extract_date=EXTRACT_DATE)
    assert not [t for t in threading.enumerate() if t.name.startswith("ingest-store")]
    assert store.rows("SELECT source FROM store.extracts") == [("education",)]
    assert store.scalar("SELECT count(DISTINCT extract_id) FROM store.records") == 1
    store.close()


def test_reading_does_not_wait_for_the_stores_before(tmp_path, synth_month1, monkeypatch):
    """Every file is read while the first is still being stored (the store is the longer half)."""
    from linkage.connectors import ingest

    real_read, real_beside = ingest._read, ingest._beside
    read: list[str] = []
    seen_by_first_store: list[list[str]] = []

    def reading(store, source, path, **kw):
        save = real_read(store, source, path, **kw)
        read.append(source)
        return save

    def storing(store, save):
        if not seen_by_first_store:     # the first store waits (up to 30 s) for the reads after it
            for _ in range(300):
                if len(read) == len(SOURCES):
                    break
                threading.Event().wait(0.1)
            seen_by_first_store.append(list(read))
        return real_beside(store, save)

    monkeypatch.setattr(ingest, "_read", reading)
    monkeypatch.setattr(ingest, "_beside", storing)
    store = Store(tmp_path / "d", memory_limit="1GB")
    results = ingest_files(store, [(s, synth_month1 / f"{s}.csv") for s in SOURCES], extract_date=EXTRACT_DATE)
    assert seen_by_first_store == [list(SOURCES)]           # all three read before the first was stored
    assert [r.source for r in results] == list(SOURCES) and all(r.accepted for r in results)
    assert store.rows("SELECT source FROM store.extracts ORDER BY extract_id") == [(s,) for s in SOURCES]
    store.close()


def test_a_store_that_fails_stores_none_after_it(tmp_path, synth_month1, monkeypatch):
    """A file whose store fails (here: the disk, as DuckDB reports it) stops the files after it,
    though they were read already; the error is the failing file's."""
    from linkage.connectors import ingest
    from linkage.errors import StoreError

    real_beside = ingest._beside
    calls: list[int] = []

    def storing(store, save):
        calls.append(1)
        if len(calls) == 2:
            save.discard()
            raise StoreError("the disk is full")
        return real_beside(store, save)

    monkeypatch.setattr(ingest, "_beside", storing)
    store = Store(tmp_path / "d", memory_limit="1GB")
    with pytest.raises(StoreError, match="disk is full"):
        ingest_files(store, [(s, synth_month1 / f"{s}.csv") for s in SOURCES], extract_date=EXTRACT_DATE)
    assert not [t for t in threading.enumerate() if t.name.startswith("ingest-store")]
    assert store.rows("SELECT source FROM store.extracts") == [("education",)]
    store.close()


def test_the_files_are_checkpointed_once_after_every_one_is_stored(tmp_path, synth_month1, monkeypatch):
    """A large extract's commit would checkpoint it (DuckDB checkpoints a log past
    ``checkpoint_threshold``), one checkpoint a file while the next waits for the core: here each
    file's commit stays in the log until all are stored, one checkpoint then writes them, and the
    store's threshold is as it was."""
    from linkage.connectors import ingest

    store = Store(tmp_path / "d", memory_limit="1GB")
    store.execute("SET checkpoint_threshold = '1KB'")      # every extract's commit passes it, as a million rows' do
    threshold = store.scalar("SELECT current_setting('checkpoint_threshold')")
    log = store.path.with_name(store.path.name + ".wal")
    logged: list[int] = []
    real_beside = ingest._beside

    def storing(store, save):
        result = real_beside(store, save)
        logged.append(log.stat().st_size if log.exists() else 0)
        return result

    monkeypatch.setattr(ingest, "_beside", storing)
    results = ingest_files(store, [(s, synth_month1 / f"{s}.csv") for s in SOURCES], extract_date=EXTRACT_DATE)
    assert 0 < logged[0] < logged[1] < logged[2]             # no checkpoint between the files
    assert not log.exists() or log.stat().st_size == 0         # one after them
    assert store.scalar("SELECT current_setting('checkpoint_threshold')") == threshold
    assert store.scalar("SELECT count(*) FROM store.records") == sum(r.accepted for r in results) > 3000
    store.close()


def test_two_extracts_of_one_source_are_refused(tmp_path, synth_month1):
    store = Store(tmp_path / "d", memory_limit="1GB")
    with pytest.raises(ConnectorError, match="one extract per source"):
        ingest_files(store, [("health", synth_month1 / "health.csv")] * 2, extract_date=EXTRACT_DATE)
    assert store.scalar("SELECT count(*) FROM store.extracts") == 0
    store.close()


def test_the_cli_ingests_several_files_each_with_its_source(tmp_path, synth_month1):
    from typer.testing import CliRunner

    from linkage.cli import app

    home = tmp_path / "cli"
    args = [str(synth_month1 / f"{s}.csv") for s in SOURCES] + [a for s in SOURCES for a in ("--source", s)]
    out = CliRunner().invoke(app, ["ingest", *args, "--extract-date", EXTRACT_DATE.isoformat(),
                                   "--data-dir", str(home)])
    assert out.exit_code == 0, out.output
    assert [line.split(":")[0] for line in out.output.splitlines() if ": read " in line] == list(SOURCES)
    store = Store(home, memory_limit="1GB")
    assert store.rows("SELECT source FROM store.extracts ORDER BY extract_id") == [(s,) for s in SOURCES]
    store.close()
    for wrong in (["--source", "health"], ["--source", "health", "--source", "education", "--amend"]):
        out = CliRunner().invoke(app, ["ingest", str(synth_month1 / "health.csv"), str(synth_month1 / "education.csv"),
                                       *wrong, "--data-dir", str(home)])
        assert out.exit_code == 2 and "Traceback" not in out.output


def _resident_share(path) -> float:
    """The share of ``path``'s pages in the page cache (mincore over a private mapping of it)."""
    import ctypes
    import mmap
    import os

    size, page = path.stat().st_size, os.sysconf("SC_PAGE_SIZE")
    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY)
    try:
        buf = ctypes.c_char.from_buffer(mm)
        pages = (size + page - 1) // page
        vec = (ctypes.c_ubyte * pages)()
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.mincore(ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_size_t(size), vec) == 0
        del buf
        return sum(v & 1 for v in vec) / pages
    finally:
        mm.close()


def _evict(path) -> None:
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_every_file_is_asked_of_the_disk_before_the_first_is_read(tmp_path, synth_month1):
    """An extract unread for a while is on disk, not in memory; each file's disk read is asked for
    at the start, to overlap the work on those before it. Here the first file is refused, so the
    others are never read: only the read-ahead brought them into memory."""
    import time

    bad = tmp_path / "education.csv"
    text = (synth_month1 / "education.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    bad.write_text("nothing,this,mapping,reads\n" + "".join(text[1:]), encoding="utf-8")
    later = [tmp_path / f"{s}.csv" for s in ("social_care", "health")]
    for path in later:
        shutil.copy(synth_month1 / path.name, path)
        _evict(path)
    if max(_resident_share(p) for p in later) > 0.2:
        pytest.skip("this file system keeps the files in memory (tmpfs)")
    store = Store(tmp_path / "h", memory_limit="1GB")
    with pytest.raises(ConnectorError):
        ingest_files(store, [("education", bad), ("social_care", later[0]), ("health", later[1])],
                     extract_date=EXTRACT_DATE)
    store.close()
    deadline = time.monotonic() + 10
    while min(_resident_share(p) for p in later) < 0.9 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert min(_resident_share(p) for p in later) >= 0.9
