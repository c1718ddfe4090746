"""A few bounded immediate retries inside a sender; everything longer is the dispatcher's.

The split: a sender absorbs the short blips (a dropped connection, one 503, a 429 with
``Retry-After: 1``) by trying again at once, with capped exponential backoff and jitter,
at most ``attempts`` times and never past ``budget`` seconds. Whatever is still
transient after that comes back as ``retry`` (with the provider's ``retry_after`` when
it gave one) and the dispatcher reschedules the message minutes later, so one slow
provider never holds a tick for long. A permanent failure is returned at once and
never retried by anyone.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from cartback._clock import Clock, system_clock
from cartback._errors import ConfigurationError
from cartback.senders._result import SendResult

__all__ = ["RetryPolicy", "parse_retry_after", "run_with_retries"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a sender retries a transient failure before handing it back as ``retry``.

    Frozen: shared by every send of a sender. The defaults make at most 3 attempts
    within 10 seconds, waiting about 0.5 s then 1 s between them. Every source of time
    and chance is a parameter, so tests never sleep for real.
    """

    attempts: int = 3
    """Tries in all, the first included (1: no immediate retry)."""
    base_delay: float = 0.5
    """Seconds before the first retry, doubled for each later one."""
    max_delay: float = 4.0
    """The longest backoff between two tries (a longer ``Retry-After`` is handed to the
    dispatcher instead, unless the budget allows it)."""
    budget: float = 10.0
    """Seconds from the first try after which no further try starts."""
    jitter: float = 0.5
    """The random share of each backoff: a delay ``d`` becomes a value in
    ``[d * (1 - jitter), d]``, so senders that failed together do not retry together."""
    monotonic: Callable[[], float] = time.monotonic
    """Seconds on a clock that never goes back (the budget is measured on it)."""
    sleep: Callable[[float], object] = time.sleep
    """Waits the given seconds."""
    random: Callable[[], float] = field(default=random.random)
    """A number in ``[0, 1)`` for the jitter."""
    now: Clock = system_clock
    """The wall-clock time, for ``Retry-After`` given as an HTTP date."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError("attempts must be at least 1", setting="attempts")
        if not 0 < self.base_delay <= self.max_delay:
            raise ConfigurationError(
                "base_delay must be positive and at most max_delay", setting="base_delay"
            )
        if self.budget <= 0:
            raise ConfigurationError("budget must be positive", setting="budget")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("jitter must be between 0 and 1", setting="jitter")

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the first retry), jittered."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        share: float = self.random()
        return ceiling * (1.0 - self.jitter * share)


def run_with_retries(attempt: Callable[[], SendResult], policy: RetryPolicy) -> SendResult:
    """Call ``attempt`` until it returns something other than ``retry``, or until the
    policy's attempts or budget run out; the result counts the attempts made.

    Between two tries the wait is the backoff, or the provider's ``retry_after`` when
    that is longer; when that wait would end past the budget, the ``retry`` result is
    returned at once (with its ``retry_after``) instead of waiting.
    """
    started = policy.monotonic()
    tries = 0
    while True:
        tries += 1
        result = attempt()
        if result.outcome != "retry" or tries >= policy.attempts:
            return replace(result, attempts=tries)
        wait = policy.backoff(tries)
        if result.retry_after is not None:
            wait = max(wait, result.retry_after)
        if policy.monotonic() - started + wait > policy.budget:
            return replace(result, attempts=tries)
        policy.sleep(wait)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds (``"120"``) or an
    HTTP date (``"Wed, 21 Oct 2026 07:28:00 GMT"``, counted from ``now``, never
    negative); ``None`` when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
