"""Throttling failed admin logins per client, in the store: every receiver on one database
counts the same failures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from cartback import Store

__all__ = ["LOGIN_LOCKED", "FailureThrottle"]

LOGIN_FAILURES: Final = "admin_login_failures"
"""The store token bucket of failed attempts, keyed by client."""
LOGIN_LOCKED: Final = "admin_login_locked"
"""The store flag kind of a locked-out client."""


class FailureThrottle:
    """Per-client lockout after repeated failures.

    Every failure takes a token from the client's bucket (``burst`` tokens, refilled at
    ``per_minute``); a failure that finds it empty locks the client out until the next
    token is due. While locked out no credential is even checked, so the right password
    cannot be told apart from a wrong one. Both calls block on the store.
    """

    def __init__(self, store: Store, *, per_minute: int, burst: int) -> None:
        self._store = store
        self._per_second = per_minute / 60.0
        self._burst = float(burst)

    def locked(self, key: str, now: datetime) -> float | None:
        """Seconds the client must still wait, or ``None``."""
        until = self._store.flagged_until(LOGIN_LOCKED, key, now=now)
        return None if until is None else (until - now).total_seconds()

    def failed(self, key: str, now: datetime) -> float | None:
        """Record a failure; seconds the client is now locked out for, or ``None``."""
        retry = self._store.take_token(
            LOGIN_FAILURES, key, capacity=self._burst, per_second=self._per_second, now=now
        )
        if retry is not None:
            self._store.flag(LOGIN_LOCKED, key, until=now + timedelta(seconds=retry))
        return retry
