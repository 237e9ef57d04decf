"""`linkage serve` starting: several at once on a new data directory, and a start that cannot load
said in one line, with real server processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apiserver import Server, free_port

KEY = "k" * 40          # LINKAGE_DB_KEY the data directory is made with
OTHER = "o" * 40        # and a wrong one


def _kept(home: Path, before: dict[str, str]) -> bool:
    """Every file ``before`` held is there as it was (a key made meanwhile is no loss)."""
    after = _files(home)
    return all(after.get(name) == digest for name, digest in before.items())


def _files(home: Path) -> dict[str, str]:
    """Every file of the data directory but the per-process spill directories, by content."""
    return {p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file() and "tmp" not in p.relative_to(home).parts}


def test_servers_started_at_once_on_a_new_data_directory_all_serve(tmp_path):
    """`systemctl enable --now linkage-api@8001 linkage-api@8002` on a new machine: each server made
    the database in the empty data directory, and all but one failed on DuckDB's write lock (uvicorn's
    traceback, exit 3). The others wait the moment the first takes to make it, then serve it."""
    home = tmp_path / "home"
    servers = [Server(home, wait=False) for _ in range(3)]
    try:
        for server in servers:
            server.wait_ready(90)
        for server in servers:
            ready = httpx.get(server.url + "/readyz", timeout=10)
            assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "Traceback" not in server.printed() and "ERROR" not in server.printed(), server.printed()
    # Made once: one database key, no part-files of keys that lost the race.
    assert not [p for p in (home / "keys").iterdir() if p.name.endswith(".part")]
    assert (home / "linkage.duckdb").is_file() and (home / "keys" / "db.key").is_file()


def _serve(home: Path, workers: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "LINKAGE_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-m", "linkage.cli", "serve", "--port", str(free_port()), "--data-dir",
                           str(home), "--workers", str(workers)], env=env, capture_output=True, text=True,
                          timeout=120)


def _made(home: Path) -> None:
    """A data directory as ``linkage ingest`` leaves it before any run: the database (under KEY)
    and the service state, nothing published."""
    from linkage.store import Store
    from linkage.store.state import ServiceState

    Store(home, key=KEY, memory_limit="1GB").close()
    ServiceState(home).close()


@pytest.mark.parametrize("workers,env,said", [
    (1, {"LINKAGE_DB_KEY": OTHER}, "the database key does not open this database"),
    (1, {"LINKAGE_MEMORY_LIMIT": "1MB"}, "DuckDB needed more memory than it may use"),
    # A worker that exits unanswered is seen then, not after the health-check time (here beyond the
    # command's timeout; uvicorn waited it out whenever the worker died while being asked).
    (2, {"LINKAGE_MEMORY_LIMIT": "1MB", "LINKAGE_WORKER_HEALTHCHECK_SECONDS": "600"},
     "cannot start: DuckDB needed more memory than it may use"),
], ids=["wrong-key", "memory", "memory-workers"])
def test_a_server_whose_data_will_not_load_says_why_in_one_line(tmp_path, workers, env, said):
    """A wrong LINKAGE_DB_KEY with nothing published yet (the server reads the live database), or
    too little memory to load: uvicorn printed its lifespan's traceback and exited 3; with workers,
    each worker printed one and the supervisor exited 0 (systemd's Restart=on-failure saw success),
    a minute later when a worker died while the supervisor asked it if it lived. Now one line, exit
    2, at once, the data untouched."""
    home = tmp_path / "home"
    _made(home)
    before = _files(home)
    done = _serve(home, workers, {"LINKAGE_DB_KEY": KEY, **env})
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "File \"" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {said}"), done.stderr
    assert _kept(home, before)


def test_a_damaged_service_state_is_one_line_and_kept(tmp_path):
    """service.sqlite that SQLite cannot read (a damaged disk, a bad restore): `linkage serve` (and
    any command) printed sqlite3's DatabaseError in a page of rich traceback, exit 1. One line naming
    the file and what to do; the file is left as it was for the operator to restore over."""
    home = tmp_path / "home"
    _made(home)
    (home / "service.sqlite").write_bytes(b"\x13\x37" * 4096)
    for name in ("service.sqlite-wal", "service.sqlite-shm"):
        (home / name).unlink(missing_ok=True)
    before = _files(home)
    done = _serve(home, 1, {"LINKAGE_DB_KEY": KEY})
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "DatabaseError" not in done.stderr, done.stderr
    line = " ".join(done.stderr.split("error: ", 1)[-1].split())    # rich wraps a long line
    assert line.startswith(f"the service state {home / 'service.sqlite'} is damaged (file is not a database): "
                           "restore it from your last backup"), done.stderr
    assert _kept(home, before)


def test_a_port_taken_while_the_server_loaded_is_one_line(tmp_path):
    """Two servers started at once with one --port both find it free before loading; the one that
    loads second met it taken at uvicorn's bind: its ERROR line among INFO lines, exit 3, while
    a port in use before the start is this command's one line and exit 2. Now the same line."""
    import socket

    home = tmp_path / "home"
    _made(home)
    port = free_port()
    env = {**os.environ, "LINKAGE_HOME": str(home), "LINKAGE_DB_KEY": KEY}
    proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "serve", "--port", str(port), "--data-dir",
                             str(home)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with socket.socket() as other:
        try:
            # Printed once the address is checked, before the data loads: the other server binds now.
            assert proc.stderr.readline().startswith("warning: the audit signing key is in the data directory")
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind(("127.0.0.1", port))
            other.listen()
            rest = proc.stderr.read()
            proc.wait(60)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, (proc.returncode, rest)
    assert rest.strip().splitlines()[-1] == (
        f"error: cannot serve on 127.0.0.1:{port}: the port is already in use (another `linkage serve`, or another "
        "program): stop it, or choose another --port"), rest
    assert "Traceback" not in rest, rest


def test_a_lock_another_program_holds_on_the_data_directory_stops_no_start(tmp_path):
    """Servers starting at once wait for the one making the database on a lock. It was a lock on the
    data directory itself, which any program run with `flock` on it holds too (a backup, `flock
    /srv/linkage/data rsync ...`): a server started meanwhile waited 60 s for it and failed, saying
    another process was making a database that was there all along. A lock file of its own now."""
    from linkage.store.db import create_if_missing

    home = tmp_path / "home"
    # Made as a server makes it (a server started and stopped here cost ~3 CPU s for no assertion).
    create_if_missing(home)
    holder = subprocess.Popen(["flock", str(home), "sleep", "300"])
    try:
        server = Server(home, wait=False)
        try:
            server.wait_ready(40)
            assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
        finally:
            server.stop()
    finally:
        holder.kill()
        holder.wait()
