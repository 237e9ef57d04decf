"""Several server processes, with SIGHUP meaning "look for a new snapshot now" in every one.

Uvicorn's own supervisor takes SIGHUP to restart its workers: each replacement loads the whole
population again (over a minute at a million records), and is given only uvicorn's health-check
time to become ready. Here SIGHUP is passed on to every worker instead, where it wakes the
snapshot watcher (service/switch.py): each switches in place, as a single server does, and
keeps answering meanwhile. The other signals keep uvicorn's meaning (INT/TERM stop, TTIN/TTOU
add or remove a worker).
"""

from __future__ import annotations

import logging
import os
import signal

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from linkage.config import get_settings

__all__ = ["Workers", "run_workers"]

log = logging.getLogger("linkage.snapshots")


class Workers(Multiprocess):
    """SIGHUP is blocked in the supervisor (``hold_sighup``, so that the workers it starts inherit
    it blocked until they can take it); it is collected here, each round of the supervisor's loop."""

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


def run_workers(app: str, workers: int, **options) -> None:
    """``uvicorn.run(app, workers=N, ...)`` with ``Workers`` as the supervisor."""
    from linkage.api.app import hold_sighup

    hold_sighup()
    if not hasattr(signal, "sigtimedwait"):           # cannot collect it blocked: take it as uvicorn does
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    options.setdefault("timeout_worker_healthcheck", get_settings().worker_healthcheck_seconds)
    config = Config(app, workers=workers, **options)
    sock = config.bind_socket()
    try:
        Workers(config, sockets=[sock]).run()
    finally:
        sock.close()
