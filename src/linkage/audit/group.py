"""Group commit: the concurrent callers of one process share one write.

Each caller queues its item and waits. One caller at a time leads: it calls ``write(take)``,
which takes every item waiting when it is ready for them (``take()``, maybe more than once)
and settles each taken item (``done`` with a result, or ``failed``). A caller returns once its
own item is settled; a leader whose item is settled hands over to one still waiting. So
callers arriving while a write is in flight go together in the next one.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

__all__ = ["GroupCommit", "Pending"]


class Pending:
    """One caller's item, and what became of it."""

    __slots__ = ("item", "result", "error", "settled")

    def __init__(self, item: Any) -> None:
        self.item, self.result, self.error, self.settled = item, None, None, False

    def done(self, result: Any) -> None:
        self.result, self.settled = result, True

    def failed(self, error: BaseException) -> None:
        self.error, self.settled = error, True


class GroupCommit:
    def __init__(self, write: Callable[[Callable[[], list[Pending]]], None]) -> None:
        self._write = write
        self._cv = threading.Condition()
        self._waiting: list[Pending] = []
        self._leading = False

    def submit(self, item: Any) -> Any:
        """``item``'s result once a write has settled it (raises what the write failed it with)."""
        mine = Pending(item)
        with self._cv:
            self._waiting.append(mine)
            while self._leading and not mine.settled:
                self._cv.wait()
            if not mine.settled:
                self._leading = True
        if not mine.settled:
            try:
                while not mine.settled:
                    self._lead()
            finally:
                with self._cv:
                    if mine in self._waiting:       # the write broke before taking it: never written later
                        self._waiting.remove(mine)
                    self._leading = False
                    self._cv.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _lead(self) -> None:
        taken: list[Pending] = []

        def take() -> list[Pending]:
            with self._cv:
                batch, self._waiting = self._waiting, []
            taken.extend(batch)
            return batch
        error: BaseException = RuntimeError("group commit: the write left an item it took unsettled")
        try:
            self._write(take)
        except BaseException as exc:        # the write broke: every item it took fails with it
            error = exc
            raise
        finally:
            with self._cv:
                for p in taken:
                    if not p.settled:
                        p.failed(error)
                self._cv.notify_all()
