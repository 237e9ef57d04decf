"""SIGHUP held back while a server starts, in a module of its own: the supervisor of ``linkage serve
--workers N`` blocks it before starting its workers and never serves a request, so it need not
import the application (FastAPI, Splink, pandas: about 1 CPU s of every multi-worker start)."""

from __future__ import annotations

__all__ = ["hold_sighup"]


def hold_sighup() -> None:
    """Hold SIGHUP back (block it) until the lifespan takes it (``_on_sighup``): by default it ends
    the process, and a reload sent while a server, or a worker, is still starting must not. A
    blocked signal stays pending rather than lost, and the mask passes to the worker processes
    the supervisor starts (api/workers.py), so none of them can be ended by one either."""
    import signal

    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    except (AttributeError, ValueError):      # no SIGHUP on this platform
        pass
