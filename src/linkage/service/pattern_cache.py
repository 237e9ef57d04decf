"""The unusual patterns as last found, so the DPO's page does not search the whole window on
every visit: a search over 30 days reads every access in them, and the page is asked often.

A finding is kept with when it was made (``as_at``: the page says so) and the last entry it
saw. It is given again while younger than ``refresh`` seconds and while the index still holds
that entry as it was (a rebuilt index, a truncated or rewritten log: searched again at once,
never hidden). Past half its age the next visit starts a new search in the background
(one at a time) and is given the kept one; past its age, a visit waits for a new search.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable
from weakref import WeakKeyDictionary

__all__ = ["Found", "kept"]

log = logging.getLogger("linkage.service")


@dataclass(frozen=True)
class Found:
    as_at: float                    # epoch seconds: the search's "now"
    head: int                       # the last entry in the index then
    mark: tuple                     # ... as it was
    value: object


class _Kept:
    def __init__(self) -> None:
        self._found: dict[object, Found] = {}
        self._busy: set = set()
        self._lock = threading.Lock()

    def get(self, agg, key, search: Callable[[float], object], refresh: float) -> Found:
        """The kept search for ``key`` if still good, else a new one (``search(now)``)."""
        now = time.time()
        with self._lock:
            was = self._found.get(key)
        if was is not None and refresh > 0 and now - was.as_at < refresh and agg.unchanged(was.head, was.mark):
            if now - was.as_at >= refresh / 2:
                self._start(agg, key, search)
            return was
        return self._search(agg, key, search)

    def _search(self, agg, key, search) -> Found:
        head, mark = agg.position()          # before the search: later entries are after it
        now = time.time()
        found = Found(now, head, mark, search(now))
        with self._lock:
            if key not in self._found or self._found[key].as_at < found.as_at:
                self._found[key] = found
        return found

    def _start(self, agg, key, search) -> None:
        with self._lock:
            if key in self._busy:
                return
            self._busy.add(key)

        def run() -> None:
            try:
                self._search(agg, key, search)
            except Exception:                # the kept one stays; the next visit past its age searches
                log.exception("unusual patterns: the background search failed")
            finally:
                with self._lock:
                    self._busy.discard(key)
        threading.Thread(target=run, name="dpo-patterns", daemon=True).start()


_KEPT: WeakKeyDictionary = WeakKeyDictionary()
_LOCK = threading.Lock()


def kept(agg) -> _Kept:
    """The searches kept for one audit index (its ``AuditCounts``)."""
    with _LOCK:
        found = _KEPT.get(agg)
        if found is None:
            found = _KEPT[agg] = _Kept()
        return found
