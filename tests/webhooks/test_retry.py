"""The retry schedule, its jitter and Retry-After, on fake time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback import ConfigurationError
from cartback.webhooks import STANDARD_SCHEDULE, RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_the_standard_schedule_spans_75_hours_35_minutes_5_seconds_over_10_attempts() -> None:
    assert len(STANDARD_SCHEDULE) == RetryPolicy().max_attempts == 10
    assert STANDARD_SCHEDULE[0] == timedelta(0)
    assert sum(STANDARD_SCHEDULE, timedelta()) == timedelta(hours=75, minutes=35, seconds=5)


def test_without_jitter_each_retry_waits_exactly_the_scheduled_delay() -> None:
    policy = RetryPolicy(jitter=0)
    times = [policy.next_attempt_at(attempt, NOW, random=lambda: 0.99) for attempt in range(1, 10)]
    assert times == [NOW + delay for delay in STANDARD_SCHEDULE[1:]]
    assert policy.next_attempt_at(10, NOW, random=lambda: 0.5) is None


@given(attempt=st.integers(1, 9), draw=st.floats(0, 1, exclude_max=True))
def test_jitter_only_ever_delays_and_by_at_most_its_fraction(attempt: int, draw: float) -> None:
    policy = RetryPolicy(jitter=0.1)
    delay = policy.retry_delay(attempt, random=lambda: draw)
    scheduled = STANDARD_SCHEDULE[attempt]
    assert delay is not None
    assert scheduled <= delay <= scheduled * 1.1


def test_retry_after_is_a_floor_never_a_shortcut() -> None:
    policy = RetryPolicy(jitter=0)
    longer = policy.next_attempt_at(1, NOW, retry_after=timedelta(minutes=2), random=lambda: 0)
    shorter = policy.next_attempt_at(4, NOW, retry_after=timedelta(seconds=1), random=lambda: 0)
    assert longer == NOW + timedelta(minutes=2)
    assert shorter == NOW + timedelta(hours=2)


def test_retry_after_cannot_push_past_its_cap() -> None:
    policy = RetryPolicy(jitter=0, max_retry_after=timedelta(hours=1))
    at = policy.next_attempt_at(1, NOW, retry_after=timedelta(days=3), random=lambda: 0)
    assert at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("120", timedelta(seconds=120)),
        (" 5 ", timedelta(seconds=5)),
        ("0", timedelta(0)),
        (format_datetime(NOW + timedelta(minutes=10), usegmt=True), timedelta(minutes=10)),
        (format_datetime(NOW - timedelta(minutes=10), usegmt=True), timedelta(0)),
        ("99999999999999999999", timedelta(hours=24)),
        (None, None),
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("Sun, 22 Nov 2026 12:10:00", None),
        ("Sun, 22 Nov 2026 12:10:00 -0000", None),
        ("٣", None),
    ],
)
def test_retry_after_is_read_in_both_forms(header: str | None, wait: timedelta | None) -> None:
    assert parse_retry_after(header, NOW) == wait


@pytest.mark.parametrize(
    "options",
    [
        {"schedule": ()},
        {"schedule": (timedelta(0), timedelta(seconds=-1))},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"max_retry_after": timedelta(seconds=-1)},
    ],
)
def test_an_unusable_policy_is_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy().retry_delay(0, random=lambda: 0)
