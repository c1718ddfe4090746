"""A per-client token bucket: a burst, then a sustained rate."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows ``burst`` requests at once per key, refilled at ``per_minute``.

    ``clock`` is monotonic seconds (injected for tests). Memory is bounded: the least
    recently seen keys are forgotten beyond ``max_keys``.
    """

    def __init__(
        self,
        *,
        per_minute: int,
        burst: int,
        clock: Callable[[], float],
        max_keys: int = 100_000,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def acquire(self, key: str) -> float | None:
        """Take one token; ``None`` when allowed, else the seconds until the next one."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            retry = None
        else:
            self._buckets[key] = (tokens, now)
            retry = (1.0 - tokens) / self._rate
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return retry
