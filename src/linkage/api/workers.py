"""Several server processes, with SIGHUP meaning "look for a new snapshot now" in every one.

Uvicorn's own supervisor takes SIGHUP to restart its workers: each replacement loads the whole
population again (over a minute at a million records), and is given only uvicorn's health-check
time to become ready. Here SIGHUP is passed on to every worker instead, where it wakes the
snapshot watcher (service/switch.py): each switches in place, as a single server does, and
keeps answering meanwhile. The other signals keep uvicorn's meaning (INT/TERM stop, TTIN/TTOU
add or remove a worker). Every worker, first or replacement, shares out the connections through
one board (api/balance.py).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
from multiprocessing.connection import wait

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from linkage.config import get_settings

__all__ = ["Workers", "run_workers"]

# The uvicorn code ``Workers`` and ``Worker`` write again or lean on: each one's source digest (the
# first 16 hex of its SHA-256) as it was when they were written (uvicorn 0.54.0).
UVICORN_COPIED = {"Multiprocess.init_processes": "6c69f2a36bf55750",
                  "Multiprocess.keep_subprocess_alive": "3ba4980aa33bcecd",
                  "Multiprocess.handle_ttin": "ebfc0650752a779d",
                  "Process.server": "0bc0d378bdef89dd",
                  "Process.is_alive": "7fb1ab8fc3907ec2",
                  "Process._healthcheck": "989efe6df65860a1"}

log = logging.getLogger("linkage.snapshots")


class Worker(Process):
    """A worker process serving through ``BalancedServer`` on the supervisor's board."""

    def __init__(self, config: Config, sockets, board: str) -> None:
        self.board = board
        super().__init__(config, sockets)

    @property
    def server(self):
        if self._server is None:
            from linkage.api.balance import BalancedServer

            self._server = BalancedServer(self.config, self.board)
        return self._server

    def is_alive(self, timeout: float = 5) -> bool:
        """Uvicorn's (``Process.is_alive`` and ``_healthcheck``), but a worker that exits while the
        supervisor waits for its answer is seen then: uvicorn waits out the whole health-check time
        (``LINKAGE_WORKER_HEALTHCHECK_SECONDS``, 60 s), its own end of the pipe holding it open, so
        a worker that could not start stopped the server a minute later."""
        if not self.process.is_alive():
            return False
        try:
            self.parent_conn.send(b"ping")
            if self.parent_conn in wait([self.parent_conn, self.process.sentinel], timeout):
                self.parent_conn.recv()
                return True
            return False
        except (OSError, EOFError, pickle.UnpicklingError):
            return False


class Workers(Multiprocess):
    """SIGHUP is blocked in the supervisor (``hold_sighup``, so that the workers it starts inherit
    it blocked until they can take it); it is collected here, each round of the supervisor's loop.
    Uvicorn's own starts of a worker (first, replacing a dead one, TTIN) start a ``Worker``.

    Why three of uvicorn's methods are written again here: uvicorn (0.54) has no public way to
    choose a worker's server. ``uvicorn.run`` and ``Config`` take no server or process class,
    ``Multiprocess`` builds its ``Process(config, sockets)`` inline in ``init_processes``,
    ``keep_subprocess_alive``, ``handle_ttin`` and ``restart_all`` (no factory method to override),
    and ``Process.server`` builds a plain ``Server``. So each of the three that starts a worker is
    uvicorn's, with ``_worker()`` where it says ``Process(...)`` (``restart_all`` is reached only
    from ``handle_hup``, replaced here); ``tests/test_workers_uvicorn.py`` fails when these
    change in uvicorn, so that an upgrade is read against the copies."""

    def __init__(self, config: Config, sockets, board: str) -> None:
        super().__init__(config, sockets)
        self.board = board
        self.refused: str | None = None     # why a worker could not start (and so all stopped)

    def _worker(self) -> Worker:
        process = Worker(self.config, self.sockets, self.board)
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes.extend(self._worker() for _ in range(self.processes_num))

    def handle_ttin(self) -> None:
        log.info("Received SIGTTIN, increasing the number of processes.")
        self.processes_num += 1
        self.processes.append(self._worker())

    def keep_subprocess_alive(self) -> None:
        """Uvicorn's: a worker that died or hangs is replaced, unless it failed to start at all."""
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:     # broken app, TLS or socket: would fail again
                from linkage.api.balance import failure_noted

                self.refused = failure_noted(self.board) or f"a server worker (process {process.pid}) could not start"
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("Child process [%s] died", process.pid)
            self.processes[idx] = self._worker()

    def handle_signals(self) -> None:
        while _pending_hup():
            self.handle_hup()
        super().handle_signals()

    def handle_hup(self) -> None:
        pids = [p.pid for p in self.processes if p.pid is not None]
        log.info("SIGHUP: every worker looks for a new snapshot now (%d workers)", len(pids))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:      # exited meanwhile: its replacement loads what is current
                pass


def _pending_hup() -> bool:
    wait = getattr(signal, "sigtimedwait", None)
    return wait is not None and wait({signal.SIGHUP}, 0) is not None


def run_workers(app: str, workers: int, **options) -> str | None:
    """``uvicorn.run(app, workers=N, ...)`` with ``Workers`` as the supervisor. Returns why a
    worker could not start, when one could not (the supervisor then stopped them all)."""
    from linkage.api.sighup import hold_sighup

    hold_sighup()
    if not hasattr(signal, "sigtimedwait"):           # cannot collect it blocked: take it as uvicorn does
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    options.setdefault("timeout_worker_healthcheck", get_settings().worker_healthcheck_seconds)
    from linkage.api.balance import make_board

    config = Config(app, workers=workers, **options)
    sock = config.bind_socket()
    board = make_board()
    supervisor = Workers(config, [sock], board)
    try:
        supervisor.run()
    finally:
        sock.close()
        os.unlink(board)
    return supervisor.refused
