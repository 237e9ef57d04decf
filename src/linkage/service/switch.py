"""Switching a running server to a newly published snapshot, without a failed request.

The watcher polls the ``current`` pointer (and wakes at once on SIGHUP). A new snapshot
is checked and loaded beside the one being served, in this background thread, then one
assignment swaps the served ``Services`` for a copy holding the new data and the same
service state, audit log, keys and rate limits: pseudonyms and the audit chain carry on.
A request that already holds the old object finishes on it; the old data is closed after a
grace period and once the last request that started on it has ended (the API's guard counts
them, ``Services.enter``/``leave``). A snapshot that fails its checks (or cannot be loaded) is refused
with one log line and the server keeps serving what it has.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from linkage.errors import LinkageError
from linkage.service.container import Services, load_published
from linkage.store.snapshots import current_id, record_served, refuse_rollback

__all__ = ["SnapshotWatcher"]

log = logging.getLogger("linkage.snapshots")


class SnapshotWatcher:
    def __init__(self, home: Path, get: Callable[[], Services], put: Callable[[Services], None],
                 poll_seconds: float, grace_seconds: float) -> None:
        self.home, self._get, self._put = Path(home), get, put
        self.poll_seconds, self.grace_seconds = poll_seconds, grace_seconds
        self.loading: str | None = None       # the snapshot being loaded now
        self.refused: str | None = None       # the last snapshot refused (not retried until the pointer moves)
        self._retired: list[tuple[float, Services]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()          # one check at a time (the poll, SIGHUP)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="snapshot-watcher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the pointer now (SIGHUP)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        for _, old in self._retired:
            old.store.close()           # shutting down: uvicorn has drained the requests
        self._retired.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._timeout())
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.check()
            except Exception:                  # never let the watcher die: say why, carry on serving
                log.exception("snapshot check failed; still serving the loaded snapshot")
            self._release_due()

    def _timeout(self) -> float | None:
        waits = [self.poll_seconds] if self.poll_seconds > 0 else []
        # A retired snapshot still held by a request is looked at again each second.
        waits += [max(due - time.monotonic(), 1.0 if due < time.monotonic() else 0.0) for due, _ in self._retired]
        return min(waits) if waits else None

    def check(self) -> bool:
        """Switch if ``current`` names a snapshot other than the one served; True if switched."""
        with self._lock:
            try:
                sid = current_id(self.home)
            except LinkageError as exc:
                return self._refuse("current", exc)
            served = self._get()
            if sid is None or sid == served.snapshot or sid == self.refused:
                return False
            self.loading = sid
            started = time.monotonic()
            try:
                refuse_rollback(served.state, sid)       # a pointer moved back, an old copy restored
                data = load_published(self.home, served.settings, sid)
            except (LinkageError, OSError, MemoryError) as exc:
                return self._refuse(sid, exc)
            except Exception as exc:           # DuckDB's own errors: a damaged file, a full disk
                return self._refuse(sid, exc)
            finally:
                self.loading = None
            try:
                record_served(served.state, sid)
            except Exception as exc:           # the state unreachable: serve it all the same, and say so
                log.error("could not record snapshot %s as served (%s): a rollback to before it is not "
                          "refused until a server records a newer one", sid, type(exc).__name__)
            self._put(served.with_published(data))
            self.refused = None
            self._retired.append((time.monotonic() + self.grace_seconds, served))
            log.info("now serving snapshot %s (run %d), loaded in %.1f s; was %s", sid, data.run_id,
                     time.monotonic() - started, served.snapshot or "the live database")
            return True

    def _refuse(self, sid: str, exc: BaseException) -> bool:
        if sid != self.refused:
            why = " ".join(str(exc).split()) or type(exc).__name__
            log.error("snapshot %s refused: %s; still serving %s", sid, why,
                      self._get().snapshot or "the live database")
        self.refused = sid
        return False

    def _release_due(self) -> None:
        """Close the data of snapshots no longer served once their grace period is over and no
        request started on them is still running."""
        now = time.monotonic()
        closed = [old for when, old in self._retired if when <= now and old.release_when_idle()]
        if not closed:
            return
        self._retired = [(when, old) for when, old in self._retired if not any(old is c for c in closed)]
        del closed
        # The old lookup rows were frozen out of the collector's way at load: let it find
        # their cycles once, then freeze what is served now.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
