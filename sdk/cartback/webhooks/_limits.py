"""A token bucket: at most ``rate`` starts per second, ``burst`` at once after a pause.

Pure over the monotonic time it is given, so tests pass a fake one.
"""

from __future__ import annotations

from cartback._errors import ConfigurationError

__all__ = ["TokenBucket"]


class TokenBucket:
    """Tokens refill at ``rate`` per second up to ``burst``; each start takes one.

    Not thread-safe on its own: the sender calls it under its lane's lock.
    """

    def __init__(self, rate: float, burst: int, *, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigurationError("rate must be positive and burst at least 1", setting="rate")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now

    def take(self, now: float) -> float:
        """Take a token and return 0, or return the seconds until one is available
        (taking nothing)."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate

    def reconfigure(self, rate: float, burst: int, *, now: float) -> None:
        """Change the rate and size, keeping the tokens earned so far (up to the size)."""
        if rate <= 0 or burst < 1:
            raise ConfigurationError("rate must be positive and burst at least 1", setting="rate")
        self._refill(now)
        self._rate = rate
        self._burst = float(burst)
        self._tokens = min(self._tokens, self._burst)
