"""`linkage serve --workers 2` shares keep-alive connections evenly between its workers
(api/balance.py): a worker holding more than its share is held to one core by its own GIL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apiserver import Server

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _established(port: int) -> dict[int, int]:
    """Socket inode -> the client's port, for each connection the server holds on ``port``."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote, state, inode = f[1], f[2], f[3], int(f[9])
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and inode:
                out[inode] = int(remote.rsplit(":", 1)[1], 16)
    return out


def _held(server: Server) -> dict[int, set[int]]:
    """Each worker's pid -> the client ports of the connections it holds."""
    conns = _established(server.port)
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
    held: dict[int, set[int]] = {int(pid): set() for pid in children     # not multiprocessing's tracker
                                 if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}
    for pid in held:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in conns:
                held[pid].add(conns[int(target[8:-1])])
    return held


def _all_held(server: Server, n: int) -> dict[int, set[int]] | None:
    held = _held(server)
    return held if sum(map(len, held.values())) == n else None


def _request(conn: socket.socket) -> bool:
    """One keep-alive request, read to the end of its (small, fixed-length) response; False if
    the server asked to close the connection."""
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += conn.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head
    return b"\r\nconnection: close" not in head.lower()


def _wait(condition, what: str, within: float = 30):
    deadline = time.time() + within
    while not (got := condition()):
        assert time.time() < deadline, what
        time.sleep(0.05)
    return got


def _two_workers(home: Path) -> Server:
    server = Server(home, {"LINKAGE_MEMORY_LIMIT": "1GB"}, workers=2)
    try:
        _wait(lambda: server.printed().count("accepting connections") == 2, "both workers serving", 120)
    except AssertionError:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, linked_store):
    """One ``serve --workers 2`` over a published month 1 for the tests that only share out
    connections (each start is three interpreters importing the whole service); each test
    leaves it holding no connection and both workers running, but the one that kills it, last."""
    home = tmp_path_factory.mktemp("balance") / "data"
    linked_store.checkpoint()
    shutil.copytree(linked_store.home, home, ignore=shutil.ignore_patterns("tmp", "snapshots"))
    subprocess.run([sys.executable, "-m", "linkage.cli", "publish", "--data-dir", str(home)], check=True,
                   capture_output=True, env={**os.environ, "LINKAGE_HOME": str(home), "LINKAGE_MEMORY_LIMIT": "1GB"})
    server = _two_workers(home)
    yield server
    server.stop()


def _idle(server: Server) -> None:
    """Wait until the server holds no connection (those of a test before are gone)."""
    _wait(lambda: _all_held(server, 0), "connections of an earlier test still held")


def test_keep_alive_connections_are_shared_evenly_between_workers(two_workers):
    """16 connections opened at once end 8 and 8 (uvicorn's shared accept gave one worker most of
    them); after 5 of one worker's close, the next 5 all go to that worker."""
    server = two_workers
    _idle(server)
    conns: list[socket.socket] = []
    try:
        conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(16)]
        for conn in conns:
            _request(conn)
        held = _wait(lambda: _all_held(server, 16), "the server holds the 16 connections")
        assert sorted(map(len, held.values())) == [8, 8], {pid: len(p) for pid, p in held.items()}

        worker, ports = next(iter(held.items()))
        leaving = [c for c in conns if c.getsockname()[1] in ports][:5]
        for conn in leaving:
            conn.close()
            conns.remove(conn)
        _wait(lambda: len(_held(server)[worker]) == 3, "the worker sees the 5 closed")
        _request(next(c for c in conns if c.getsockname()[1] in ports))    # and has turned its loop since
        for _ in range(5):
            conns.append(socket.create_connection(("127.0.0.1", server.port)))
            _request(conns[-1])
        held = _held(server)
        assert len(held[worker]) == 8 and sorted(map(len, held.values())) == [8, 8], \
            {pid: len(p) for pid, p in held.items()}
    finally:
        for conn in conns:
            conn.close()


def test_connections_held_from_before_a_worker_served_are_moved_to_it_one_at_a_time(two_workers):
    """Connections made while one worker could not accept (stopped here; a restart, a long pause)
    all go to the other, which then answers one request at a time with ``Connection: close``
    until each holds 4: the client's new connection goes to the worker with fewer."""
    import signal

    server = two_workers
    _idle(server)
    conns: list[socket.socket] = []
    try:
        stopped, busy = list(_held(server))
        os.kill(stopped, signal.SIGSTOP)
        try:
            conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
            for conn in conns:
                assert _request(conn)
        finally:
            os.kill(stopped, signal.SIGCONT)
        assert {pid: len(p) for pid, p in _held(server).items()} == {stopped: 0, busy: 8}
        moved, deadline = 0, time.time() + 30
        while sorted(map(len, _held(server).values())) != [4, 4]:
            assert time.time() < deadline, {pid: len(p) for pid, p in _held(server).items()}
            for i, conn in enumerate(conns):
                if not _request(conn):
                    conn.close()
                    conns[i] = socket.create_connection(("127.0.0.1", server.port))
                    assert _request(conns[i])
                    moved += 1
        assert 4 <= moved <= 6       # 4, unless a new connection landed after the next was told to close
    finally:
        for conn in conns:
            conn.close()


def test_stopping_a_server_whose_supervisor_must_be_killed_leaves_no_worker(two_workers):
    """The benchmarks' ``Server.stop``: a supervisor that does not end on SIGTERM is killed, and its
    workers with it (they used to live on, holding the port and a population each). The module's
    own server, killed after the tests that share it out (a server of its own was a third
    interpreter start, and a second for its workers); so this test stays after them in the file."""
    import signal

    server = two_workers
    workers = list(_held(server))
    assert len(workers) == 2
    os.kill(server.proc.pid, signal.SIGSTOP)         # cannot act on SIGTERM
    server.stop(within=1)
    gone = lambda: all(not Path(f"/proc/{pid}").exists() or  # noqa: E731
                       Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z" for pid in workers)
    _wait(gone, f"workers {workers} still running after stop()", 20)


def test_boards_left_by_killed_supervisors_are_removed_by_the_next(tmp_path):
    """A supervisor killed (SIGKILL) removes nothing: the next one to start removes its board, and
    leaves those of live supervisors."""
    from linkage.api.balance import _sweep

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    left, live = tmp_path / f"linkage-workers-{dead}-x1", tmp_path / f"linkage-workers-{os.getppid()}-x2"
    left.touch()
    live.touch()
    _sweep(tmp_path)
    assert not left.exists() and live.exists()
