"""When to try a failed delivery again: the Standard Webhooks schedule, jitter and
``Retry-After``, as pure functions of the attempt number, the time and a random draw."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

from cartback._clock import ensure_utc
from cartback._errors import ConfigurationError

__all__ = ["STANDARD_SCHEDULE", "RetryPolicy", "parse_retry_after"]

STANDARD_SCHEDULE: Final[tuple[timedelta, ...]] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
"""The delay before each attempt (the first is immediate), from the Standard Webhooks
specification: ten attempts over 75 hours 35 minutes and 5 seconds."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed deliveries are retried. Frozen: one policy serves every worker."""

    schedule: tuple[timedelta, ...] = STANDARD_SCHEDULE
    """Delay before attempt 1, 2, ...; its length is the number of attempts."""
    jitter: float = 0.1
    """Each retry delay is stretched by a random fraction of itself up to this (0.1:
    up to 10 % later), never shortened, so retries of many events spread out."""
    max_retry_after: timedelta = timedelta(hours=24)
    """The longest wait a receiver's ``Retry-After`` can impose."""
    throttle_pause: timedelta = timedelta(seconds=5)
    """How long an endpoint that answered 429, 502, 503 or 504 without ``Retry-After``
    is left alone by the sender."""
    final_statuses: frozenset[int] = field(default_factory=frozenset)
    """Statuses that end a delivery at once instead of retrying it (none by default:
    Standard Webhooks retries every failure; add e.g. 400 or 422 for a receiver that
    rejects a payload for good)."""

    def __post_init__(self) -> None:
        if not self.schedule or any(delay < timedelta(0) for delay in self.schedule):
            raise ConfigurationError(
                "the schedule needs at least one delay, none negative", setting="schedule"
            )
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("jitter must be between 0 and 1", setting="jitter")
        if self.max_retry_after < timedelta(0) or self.throttle_pause < timedelta(0):
            raise ConfigurationError("waits must not be negative", setting="max_retry_after")

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets before it is dead."""
        return len(self.schedule)

    def retry_delay(self, attempt: int, *, random: Callable[[], float]) -> timedelta | None:
        """The wait after attempt number ``attempt`` (1-based) failed, jitter included,
        or ``None`` when that was the last attempt. ``random`` returns a float in
        [0, 1)."""
        if attempt < 1:
            raise ConfigurationError("attempts are numbered from 1", setting="attempt")
        if attempt >= len(self.schedule):
            return None
        delay = self.schedule[attempt]
        return delay + delay * (self.jitter * min(max(random(), 0.0), 1.0))

    def next_attempt_at(
        self,
        attempt: int,
        failed_at: datetime,
        *,
        retry_after: timedelta | None = None,
        random: Callable[[], float],
    ) -> datetime | None:
        """When to make attempt ``attempt + 1``, or ``None`` when the delivery is dead.

        A ``Retry-After`` (already capped by ``parse_retry_after``) is a floor: the next
        attempt is never earlier than it asks, nor earlier than the schedule says, so a
        receiver answering ``Retry-After: 0`` cannot burn the attempts in a second.
        """
        delay = self.retry_delay(attempt, random=random)
        if delay is None:
            return None
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return ensure_utc(failed_at, name="failed_at") + delay


def parse_retry_after(
    value: str | None, now: datetime, *, cap: timedelta = timedelta(hours=24)
) -> timedelta | None:
    """The wait a ``Retry-After`` header asks for, at most ``cap``; ``None`` when the
    header is absent or unreadable.

    Both forms of RFC 9110 are read: delay-seconds (``120``) and an HTTP-date
    (``Wed, 21 Oct 2026 07:28:00 GMT``); a date in the past means no wait.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(timedelta(seconds=min(int(text), 10**9)), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP-date is always GMT; a zone-less date is not one
    wait = when - ensure_utc(now, name="now")
    return min(max(wait, timedelta(0)), cap)
