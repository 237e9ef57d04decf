"""Keep-alive connections shared evenly between server workers.

With several workers on one listening socket, the worker the kernel wakes first accepts every
connection waiting (libuv accepts until the queue is empty), so 8 clients often end up 6 to 2,
and the busier worker is held to one core by its own GIL: at a million records its p95 went over
20 ms while the other idled (docs/benchmarks.md, sessions 25-26). Here each worker accepts one
connection at a time, and only while no other serving worker holds fewer: the counts sit on a
small shared board (a file each worker maps, one slot each, written only by its owner). A worker
that stops beating (still loading, stopped, dead) is left out, so the others never wait on it.
Connections kept from before (a worker restarted, or the others' clients left) are moved one at
a time: a worker two or more above the least busy answers one request with ``Connection: close``,
and the client's new connection goes to a worker with fewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import mmap
import os
import socket
import struct
import sys
import time
from functools import partial
from pathlib import Path

from uvicorn.config import STARTUP_FAILURE
from uvicorn.server import Server

from linkage.digits import whole_number
from linkage.files import pid_alive

__all__ = ["Board", "BalancedServer", "failure_noted", "make_board", "note_failure"]

log = logging.getLogger("linkage.workers")

SLOTS = 32                              # `linkage serve --workers` allows 16
_SLOT = struct.Struct("qqq")            # pid, connections held, last beat (CLOCK_MONOTONIC ns)
STALE_NS = 1_000_000_000                # a worker silent this long is not serving: not waited on
BEAT_S = 0.1                            # while accepting: publish the count, and beat
WAIT_S = 0.005                          # while holding back: look again this often
RETRY_S = 1.0                           # out of descriptors: accept again after this (as asyncio)
NOTE_BYTES = 1024                       # after the slots: why a worker could not start


def make_board() -> str:
    """A new, empty board file (private to the user), for the supervisor to hand its workers: in
    memory (/dev/shm) where there is one to write to, else the temporary directory. Boards left
    by supervisors that were killed (and so removed nothing) are removed first."""
    import tempfile

    prefix = f"linkage-workers-{os.getpid()}-"
    try:
        fd, path = tempfile.mkstemp(prefix=prefix, dir="/dev/shm")
    except OSError:
        fd, path = tempfile.mkstemp(prefix=prefix)
    _sweep(Path(path).parent)
    try:
        os.ftruncate(fd, SLOTS * _SLOT.size + NOTE_BYTES)
    finally:
        os.close(fd)
    return path


def note_failure(board: str | Path, line: str) -> None:
    """Why a worker could not start, for the supervisor to say as the command's one line (the first
    worker's reason stands: the others met the same)."""
    with open(board, "r+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.seek(SLOTS * _SLOT.size)
        if fh.read(1) in (b"", b"\0"):
            fh.seek(SLOTS * _SLOT.size)
            fh.write(line.encode("utf-8", "replace")[:NOTE_BYTES - 1].ljust(NOTE_BYTES, b"\0"))


def failure_noted(board: str | Path) -> str | None:
    """What ``note_failure`` wrote, if a worker did."""
    with open(board, "rb") as fh:
        fh.seek(SLOTS * _SLOT.size)
        text = fh.read(NOTE_BYTES).rstrip(b"\0").decode("utf-8", "replace")
    return text or None


def _sweep(directory: Path) -> None:
    for old in directory.glob("linkage-workers-*-*"):
        # Any local user may name a file here: ``linkage-workers-²-x`` stopped every start.
        pid = whole_number(old.name.split("-")[2])
        if pid is None or pid == os.getpid():
            continue
        with contextlib.suppress(OSError):          # not ours to remove (/dev/shm is sticky)
            if not pid_alive(pid):
                old.unlink(missing_ok=True)


class Board:
    """One worker's view of the shared counts: its own slot to write, the others' to read."""

    def __init__(self, path: str | Path) -> None:
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, SLOTS * _SLOT.size)
        self.pid = os.getpid()
        fcntl.flock(self._fd, fcntl.LOCK_EX)        # two workers starting at once claim two slots
        try:
            self.slot = next((i for i in range(SLOTS) if self._free(i)), None)
            if self.slot is not None:
                _SLOT.pack_into(self._map, self.slot * _SLOT.size, self.pid, 0, time.monotonic_ns())
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if self.slot is None:
            log.warning("more than %d workers: this one accepts without waiting for the others", SLOTS)

    def _free(self, i: int) -> bool:
        """Never used, or its worker has exited (a killed worker clears nothing)."""
        pid, _, _ = _SLOT.unpack_from(self._map, i * _SLOT.size)
        return pid in (0, self.pid) or not pid_alive(pid)

    def publish(self, held: int) -> None:
        if self.slot is not None:
            _SLOT.pack_into(self._map, self.slot * _SLOT.size, self.pid, held, time.monotonic_ns())

    def fewest(self) -> int | None:
        """The fewest connections another serving worker holds (None: no other is serving)."""
        if self.slot is None:
            return None
        now, least = time.monotonic_ns(), None
        for i in range(SLOTS):
            if i == self.slot:
                continue
            pid, theirs, beat = _SLOT.unpack_from(self._map, i * _SLOT.size)
            if pid and now - beat < STALE_NS and (least is None or theirs < least):
                least = theirs
        return least

    def close(self) -> None:
        if self.slot is not None:
            _SLOT.pack_into(self._map, self.slot * _SLOT.size, 0, 0, 0)
        self._map.close()
        os.close(self._fd)


class Acceptor:
    """Accepts on a shared listening socket one connection at a time, while the board allows;
    stands in for the ``asyncio.Server`` uvicorn would make (``close``, ``wait_closed``)."""

    def __init__(self, sock: socket.socket, protocol: type, protocol_args: dict, server_state, board: Board, *,
                 ssl, backlog: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._protocol = partial(_shedding(protocol, self), **protocol_args)
        self._state = server_state
        self._board = board
        self._ssl = ssl
        self._accepted = 0          # accepted, their protocol not yet connected
        self._tasks: set[asyncio.Task] = set()
        self._reading = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._retry_at = 0.0
        self._fewest: int | None = None
        self._shedding = None       # the connection told to close, until it has
        self._shed_at = 0.0
        sock.setblocking(False)
        sock.listen(backlog)
        self._tick()

    def held(self) -> int:
        """Connections this worker holds: connected ones, and those accepted and being set up
        (each counted once: it leaves ``_accepted`` as it joins uvicorn's set)."""
        return len(self._state.connections) + self._accepted

    def made(self) -> None:
        self._accepted = max(0, self._accepted - 1)
        self.changed()

    def changed(self) -> None:
        """A connection opened or closed: publish the count now (not at the next beat), and accept
        only while no other worker holds fewer."""
        if self._closed:
            return
        held = self.held()
        self._board.publish(held)
        self._fewest = self._board.fewest()
        if (self._fewest is None or held <= self._fewest) and self._loop.time() >= self._retry_at:
            self._resume()
        else:
            self._pause()

    def _tick(self) -> None:
        self.changed()
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(BEAT_S if self._reading else WAIT_S, self._tick)

    def _resume(self) -> None:
        if not self._reading:
            self._loop.add_reader(self._sock.fileno(), self._readable)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False
            self._schedule()        # look again soon: another worker's count may rise meanwhile

    def lost(self, protocol) -> None:
        if protocol is self._shedding:
            self._shedding = None
            self._shed_at = self._loop.time() + BEAT_S   # its reconnection lands and is counted first
        self.changed()

    def shed(self, protocol) -> bool:
        """Whether this request's response should ask its client to reconnect (``Connection:
        close``): this worker holds two or more connections above the least busy one (clients
        kept from before a worker started, or from before the others' closed). The new
        connection goes to a worker with fewer. One at a time, so none is moved twice."""
        if self._shedding is not None or self._fewest is None or self._loop.time() < self._shed_at:
            return False
        if self.held() - self._fewest < 2:
            return False
        self._shedding = protocol
        return True

    def _readable(self) -> None:
        fewest = self._board.fewest()
        if fewest is not None and self.held() > fewest:
            self._pause()           # the others take what is waiting; _tick looks again soon
            return
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return                  # another worker took it
        except OSError as exc:      # out of descriptors or buffers: wait a turn, as asyncio does
            if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                raise
            log.error("accepting a connection: %s; trying again in %.0f s", exc, RETRY_S)
            self._retry_at = self._loop.time() + RETRY_S
            self._pause()
            return
        conn.setblocking(False)
        self._accepted += 1
        task = self._loop.create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.changed()

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol, conn, ssl=self._ssl)
        except Exception as exc:   # a TLS handshake that failed, a peer gone: that connection only
            log.info("connection not set up: %s", exc)
            conn.close()
            self.made()

    def close(self) -> None:
        self._pause()
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._board.close()

    async def wait_closed(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks))


def _shedding(protocol: type, acceptor: Acceptor) -> type:
    """``protocol`` asking for ``Connection: close`` on a response when ``acceptor.shed`` says so
    (uvicorn's httptools protocol, or one built on it: how its own shutdown ends a keep-alive)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    if not issubclass(protocol, HttpToolsProtocol):
        return protocol

    class Shedding(protocol):
        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            if self.cycle is not None and self.cycle.keep_alive and acceptor.shed(self):
                self.cycle.keep_alive = False

    return Shedding


class _Watched(set):
    """uvicorn's set of open connections, telling the acceptor when one opens or closes (so the
    board is current before the next connection arrives, not at the next beat)."""

    def __init__(self, items, acceptor: Acceptor) -> None:
        super().__init__(items)
        self._acceptor = acceptor

    def add(self, item) -> None:
        super().add(item)
        self._acceptor.made()

    def discard(self, item) -> None:
        if item in self:
            super().discard(item)
            self._acceptor.lost(item)


class BalancedServer(Server):
    """Uvicorn's server, accepting on the supervisor's sockets through ``Acceptor``."""

    def __init__(self, config, board: str) -> None:
        super().__init__(config)
        self.board = board

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets or len(sockets) != 1 or sys.platform == "win32":
            return await super().startup(sockets)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            from linkage.api.app import start_failure

            note_failure(self.board, start_failure() or f"a server worker (process {os.getpid()}) could not "
                                                        "start: the lines above say why")
            sys.exit(STARTUP_FAILURE)
        config = self.config
        args = dict(config=config, server_state=self.server_state, app_state=self.lifespan.state,
                    _loop=asyncio.get_running_loop())
        acceptor = Acceptor(sockets[0], config.http_protocol_class, args, self.server_state, Board(self.board),
                            ssl=config.ssl, backlog=config.backlog)
        self.server_state.connections = _Watched(self.server_state.connections, acceptor)
        self.servers = [acceptor]
        self.started = True
        log.info("Worker [%d] accepting connections, sharing them evenly with the other workers", os.getpid())
