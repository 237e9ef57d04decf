"""A damaged audit index or log found when `linkage serve` starts, with real servers and the real CLI.

The index (``audit/index.sqlite``) is derived from the log: damaged (not a database, a corrupt
page), the server served on while its sealing thread printed a ``sqlite3.DatabaseError``
traceback every few seconds and the DPO's searches failed. It is now renamed aside (kept:
evidence), rebuilt from the log under a lock, said in one line and recorded as a security event.

The log: a crash mid-append leaves a partial last line, and the next entry was written on the end
of it, so that entry was lost in a line no one could read (and `verify` said the log was broken).
The fragment is now moved into a file of its own and recorded. A line after the last checkpoint
that does not verify is not what a crash leaves: the server refuses to start, in one line, until
the operator has run `linkage audit verify` and acknowledged it with `linkage audit seal --acknowledge`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from apiserver import Server, free_port
from linkage.cli import app
from registry import register

pytestmark = pytest.mark.e2e

CHILD = "C-SEEN000000001"


def _home_with_accesses(tmp_path: Path):
    """A data directory with a DPO client and three sealed views of CHILD, its index built."""
    from linkage.audit import AuditLog

    home = tmp_path / "data"
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    log = AuditLog(home)
    for i in range(3):
        log.append({"request_id": f"r{i}", "client_id": "lk_oak", "agency": "Oak AP Academy", "action": "view",
                    "children": [CHILD], "fields": ["identity.demographics"], "decision": "allow"})
    log.close()
    # The index built by a process that then ends, as a server's would be: one left open here would
    # write its WAL back over the damage made next.
    subprocess.run([sys.executable, "-c", "import sys; from linkage.audit.index import AuditIndex; "
                    "AuditIndex(sys.argv[1]).sync()", str(home / "audit" / "log.jsonl")], check=True)
    return home, dpo


def _audit(server: Server, dpo, **params) -> list[dict]:
    headers = {"Authorization": f"Bearer {server.token(*dpo)}", "X-Purpose": "audit"}
    r = httpx.get(f"{server.url}/v1/audit", params=params, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def _actions(server: Server, dpo, action: str) -> list[dict]:
    return [e for e in _audit(server, dpo, decision="refused", limit=1000) if e["action"] == action]


def _logged(home: Path, action: str) -> list[dict]:
    """The entries of ``action`` in the log file, whole (the API's page shows fewer fields)."""
    import json

    return [r["entry"] for r in map(json.loads, (home / "audit" / "log.jsonl").read_text().splitlines())
            if r["entry"]["action"] == action]


def _verify(home: Path) -> tuple[int, str]:
    done = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(home)])
    return done.exit_code, done.output


def _corrupt_pages(path: Path) -> None:
    """A real SQLite file whose pages past the first are overwritten: opens, then fails as 'malformed'."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for at in range(page, len(data), page):
        data[at:at + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))


DAMAGE = {"not a database": lambda p: p.write_bytes(b"\x13\x37" * 4096), "corrupt pages": _corrupt_pages}


@pytest.mark.parametrize("damage,workers", [("not a database", 1), ("corrupt pages", 2)])
def test_a_damaged_search_index_is_set_aside_rebuilt_and_shown_to_the_dpo(tmp_path, damage, workers):
    home, dpo = _home_with_accesses(tmp_path)
    index = home / "audit" / "index.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    DAMAGE[damage](index)
    damaged = index.read_bytes()
    server = Server(home, workers=workers, env={"LINKAGE_AUDIT_CHECKPOINT_SECONDS": "0.3"})
    try:
        views = [e for e in _audit(server, dpo, child_id=CHILD) if e["action"] == "view"]
        assert len(views) == 3, "rebuilt from the log"
        # The worker that set it aside records it as its sync ends; the other may answer first.
        deadline = time.monotonic() + 10
        while not _actions(server, dpo, "security.audit_index_damaged") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)       # several of the sealing thread's index syncs
        events = _actions(server, dpo, "security.audit_index_damaged")
    finally:
        server.stop()
    printed = server.printed()
    assert "Traceback" not in printed and "DatabaseError" not in printed, printed
    kept = [p.name for p in index.parent.glob("index.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and (index.parent / kept[0]).read_bytes() == damaged, kept    # kept as it was
    assert len(events) == 1, events
    assert [e["kept_as"] for e in _logged(home, "security.audit_index_damaged")] == kept
    assert printed.count(f"kept as {kept[0]}") == 1, printed       # one line, from the one that set it aside
    assert _verify(home)[0] == 0


def _other_tables(path: Path) -> None:
    """A SQLite file whose tables have the index's names and other columns."""
    import sqlite3

    path.unlink()
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, note TEXT)")
    con.commit()
    con.close()


def test_an_index_of_another_shape_is_set_aside_too(tmp_path):
    from linkage.audit.index import AuditIndex

    home, _ = _home_with_accesses(tmp_path)
    _other_tables(home / "audit" / "index.sqlite")
    index = AuditIndex(home / "audit" / "log.jsonl")
    assert index.search(child_id=CHILD)[0] == 3
    assert ["tables are not the index's" in d["reason"] for d in index.damaged] == [True]


def test_two_indexes_finding_one_damaged_file_set_it_aside_once(tmp_path):
    """Two servers' indexes on one damaged file: one renames it and makes the new one, the other
    follows the new file (it would otherwise have renamed the rebuilt index too, or written into the
    file set aside)."""
    from linkage.audit import AuditLog
    from linkage.audit.index import AuditIndex

    home, _ = _home_with_accesses(tmp_path)
    first = AuditIndex(home / "audit" / "log.jsonl")
    second = AuditIndex(home / "audit" / "log.jsonl")
    _corrupt_pages(home / "audit" / "index.sqlite")
    assert first.search(child_id=CHILD)[0] == 3
    assert second.search(child_id=CHILD)[0] == 3
    log = AuditLog(home)
    log.append({"request_id": "r9", "client_id": "lk_oak", "action": "view", "children": [CHILD], "decision": "allow"})
    log.close()
    assert second.search(child_id=CHILD)[0] == 4 and first.search(child_id=CHILD)[0] == 4
    assert len(first.damaged) + len(second.damaged) == 1
    assert len([p for p in (home / "audit").glob("index.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]) == 1


def test_an_index_opened_while_another_process_sets_the_file_aside_waits_for_its_new_file(tmp_path):
    """Another process between its rename of the damaged file and its new file's tables: a connect
    then made an empty file at the path and read "no such table" (a two-worker server's sealing
    thread printed it in one of two runs of the test above under load). It now waits for the new file."""
    import fcntl
    import sqlite3
    import threading

    from linkage.store.audit_index import _SCHEMA, AuditIndexDB

    path = tmp_path / "index.sqlite"
    reader = AuditIndexDB(path)
    reader.prepare()
    assert reader.search(10, 0) == (0, [])
    answers: list = []

    def read():
        try:
            reader.follow()
            answers.append(reader.search(10, 0))
        except Exception as exc:    # noqa: BLE001 (what the reader met is the assertion)
            answers.append(exc)

    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)       # the other process, mid set-aside
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                os.rename(f"{path}{suffix}", f"{path}.damaged-x{suffix}")
        reading = threading.Thread(target=read)
        reading.start()
        reading.join(0.5)
        assert answers == [] and not path.exists(), answers     # it waits, and makes no file
        con = sqlite3.connect(path)
        con.executescript(_SCHEMA)
        con.close()
    reading.join(10)
    assert answers == [(0, [])], answers
    reader.close()


def test_a_torn_last_line_is_set_aside_and_the_next_entry_kept(tmp_path):
    """A crash mid-append: the log ends in part of a line. The server's first entry was written on
    the end of it (lost, and `verify` failed from there on). Now the part is moved aside, recorded,
    and the log verifies."""
    home, dpo = _home_with_accesses(tmp_path)
    path = home / "audit" / "log.jsonl"
    whole = path.read_bytes()
    fragment = whole.splitlines(keepends=True)[-1][:70]    # most of another entry's line, no newline
    with open(path, "ab") as fh:
        fh.write(fragment)
    code, out = _verify(home)       # `verify` passed over it: "intact"
    assert code == 1 and "partial line (70 bytes" in " ".join(out.split()), out
    server = Server(home)
    try:
        views = [e for e in _audit(server, dpo, child_id=CHILD) if e["action"] == "view"]
        events = _actions(server, dpo, "security.audit_log_torn")
    finally:
        server.stop()
    assert len(views) == 3
    assert "Traceback" not in server.printed(), server.printed()
    kept = list(path.parent.glob("log.jsonl.torn-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == fragment
    assert len(events) == 1, events
    assert [e["kept_as"] for e in _logged(home, "security.audit_log_torn")] == [kept[0].name]
    assert path.read_bytes().startswith(whole)
    code, out = _verify(home)
    assert code == 0, out


def _serve(home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LINKAGE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "linkage.cli", "serve", "--port", str(free_port()), "--data-dir",
                           str(home)], env=env, capture_output=True, text=True, timeout=60)


def _serves_once_acknowledged(home: Path, dpo) -> None:
    """`linkage audit seal --acknowledge`, then a server starts, and the acknowledgement is in the log once."""
    assert CliRunner().invoke(app, ["audit", "seal", "--acknowledge", "--data-dir", str(home)]).exit_code == 0
    server = Server(home)
    try:
        acknowledged = [e for e in _audit(server, dpo, limit=1000) if e["action"] == "audit.tamper_acknowledged"]
    finally:
        server.stop()
    assert len(acknowledged) == 1


@pytest.mark.parametrize("edit", ["junk line", "entry edited"])
def test_a_log_damaged_after_its_last_checkpoint_is_refused_until_acknowledged(tmp_path, edit):
    """Not a crash: a line that does not verify before the log's end. `linkage serve` refuses in one
    line naming where and what to run; after `audit seal --acknowledge` (recorded in the log) it serves."""
    home, dpo = _home_with_accesses(tmp_path)
    from linkage.audit import AuditLog

    log = AuditLog(home, checkpoint_every=100)
    for i in range(2):
        log.append({"request_id": f"u{i}", "client_id": "lk_oak", "action": "view", "children": [CHILD],
                    "decision": "allow"})
    log._stop.set()         # no seal at close: these two stay unsealed, as after a crash
    log._close_storage()
    path = home / "audit" / "log.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    if edit == "junk line":
        lines.insert(-1, b"not a log line\n")
    else:
        lines[-2] = lines[-2].replace(b'"lk_oak"', b'"lk_elm"')
    path.write_bytes(b"".join(lines))
    done = _serve(home)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    said = " ".join(done.stderr.split("error: ", 1)[-1].split())
    where = "the line after seq 4" if edit == "junk line" else "seq 4"
    assert said.startswith(f"the audit log ({path}) does not verify after its last checkpoint, at {where}"), said
    assert "linkage audit verify" in said and "--acknowledge" in said, said
    _serves_once_acknowledged(home, dpo)


def test_a_postgresql_log_damaged_after_its_last_checkpoint_is_refused_until_acknowledged(tmp_path, monkeypatch,
                                                                                          postgres_server):
    """The same refusal with the log in PostgreSQL (no torn lines there: each row is one transaction):
    an unsealed row's line edited, by the table's owner with the append-only trigger off."""
    import psycopg

    from linkage.audit.pg import PostgresAuditLog
    from linkage.config import get_settings

    url = postgres_server.fresh()
    monkeypatch.setenv("LINKAGE_AUDIT_URL", url)
    get_settings.cache_clear()
    home = tmp_path / "data"
    dpo = register(home, "dpo", "dpo", "dpo", org="Northshire DPO", code="934")
    log = PostgresAuditLog(home, 100, url=url)
    for i in range(3):
        log.append({"request_id": f"u{i}", "client_id": "lk_oak", "action": "view", "children": [CHILD],
                    "decision": "allow"})
    log.checkpoint()
    for i in range(2):
        log.append({"request_id": f"v{i}", "client_id": "lk_oak", "action": "view", "children": [CHILD],
                    "decision": "allow"})
    log._stop.set()         # no seal at close: these two stay unsealed, as after a crash
    log._close_storage()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        con.execute("UPDATE audit_entries SET line = replace(line, '\"lk_oak\"', '\"lk_elm\"') WHERE seq = 4")
        con.execute("ALTER TABLE audit_entries ENABLE TRIGGER USER")
    done = _serve(home)
    assert done.returncode == 2, (done.returncode, done.stderr)
    said = " ".join(done.stderr.split("error: ", 1)[-1].split())
    assert "does not verify after its last checkpoint, at seq 4" in said and "--acknowledge" in said, said
    _serves_once_acknowledged(home, dpo)
