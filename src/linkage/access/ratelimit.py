"""Per-key token buckets: a burst, then a steady rate; past it, 429 with Retry-After.

In-process: with several workers each holds its own buckets, so the effective
limit is the per-process limit times the workers (documented in deploy/README).
"""

from __future__ import annotations

import threading
import time
from math import ceil

from linkage.errors import TooManyRequests

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, per_minute: float, burst: int, what: str = "requests", clock=time.monotonic) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = per_minute / 60.0          # tokens per second
        self.burst, self.what, self.clock = burst, what, clock
        self._buckets: dict[str, tuple[float, float]] = {}   # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def check(self, key: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens for ``key`` or raise ``TooManyRequests`` with the wait in seconds."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                raise TooManyRequests(f"too many {self.what}: slow down", ceil((cost - tokens) / self.rate))
            self._buckets[key] = (tokens - cost, now)
            if len(self._buckets) > 100_000:           # forget idle keys rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 3600}
