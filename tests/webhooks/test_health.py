"""The rule that disables an endpoint failing for days, and the token bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartback import ConfigurationError
from cartback.webhooks import (
    DISABLE_AFTER,
    Deferred,
    Delivered,
    DeliveryResult,
    EndpointHealth,
    RetryLater,
    TokenBucket,
    record_result,
    should_disable,
)

START = datetime(2026, 11, 22, 12, tzinfo=UTC)


def failed(at: datetime) -> RetryLater:
    return RetryLater(
        event_id="evt_1",
        endpoint_id="crm",
        attempt=1,
        at=at,
        error="server_error",
        status=500,
        next_attempt_at=at + timedelta(seconds=5),
        throttle_until=None,
        duration_ms=3,
    )


def delivered(at: datetime) -> Delivered:
    return Delivered(
        event_id="evt_2", endpoint_id="crm", attempt=1, at=at, status=200, duration_ms=3
    )


def replay(results: list[DeliveryResult]) -> EndpointHealth:
    health = EndpointHealth()
    for result in results:
        health = record_result(health, result)
    return health


def every_six_hours(days: float) -> list[DeliveryResult]:
    steps = int(days * 4)
    return [failed(START + timedelta(hours=6 * step)) for step in range(steps + 1)]


def test_an_endpoint_failing_every_attempt_for_five_days_is_disabled() -> None:
    health = replay(every_six_hours(5))
    assert health.failing_since == START
    assert health.consecutive_failures == 21
    assert should_disable(health, START + timedelta(days=5))


def test_four_days_of_failures_are_not_enough() -> None:
    health = replay(every_six_hours(4))
    assert not should_disable(health, START + timedelta(days=4, hours=23))


def test_one_success_starts_the_count_again() -> None:
    results = [*every_six_hours(3), delivered(START + timedelta(days=3, hours=1))]
    results += [
        failed(START + timedelta(days=3, hours=2) + timedelta(hours=6 * n)) for n in range(9)
    ]
    health = replay(results)
    assert health.failing_since == START + timedelta(days=3, hours=2)
    assert health.last_success_at == START + timedelta(days=3, hours=1)
    assert not should_disable(health, START + timedelta(days=5, hours=12))
    assert should_disable(health, START + timedelta(days=8, hours=2))


def test_deliveries_handed_back_unsent_do_not_count() -> None:
    before = replay(every_six_hours(1))
    handed = Deferred(
        event_id="evt_3",
        endpoint_id="crm",
        attempt=1,
        reason="shutdown",
        next_attempt_at=None,
    )
    assert record_result(before, handed) == before


def test_a_healthy_endpoint_is_never_disabled() -> None:
    assert not should_disable(EndpointHealth(), START + timedelta(days=30))
    assert not should_disable(replay([delivered(START)]), START + timedelta(days=30))


def test_the_threshold_can_be_chosen() -> None:
    health = replay(every_six_hours(1))
    assert timedelta(days=5) == DISABLE_AFTER
    assert should_disable(health, START + timedelta(days=1), after=timedelta(hours=24))


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.25) == pytest.approx(0.25)
    assert bucket.take(100.5) == 0.0
    # A long pause refills the bucket only up to its size.
    assert [bucket.take(200.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert bucket.take(200.0) > 0


def test_reconfiguring_the_bucket_keeps_what_was_earned_up_to_the_new_size() -> None:
    bucket = TokenBucket(rate=1.0, burst=5, now=0.0)
    bucket.reconfigure(rate=10.0, burst=2, now=0.0)
    assert [bucket.take(0.0) for _ in range(2)] == [0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (1.0, 0)])
def test_an_unusable_bucket_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ConfigurationError):
        TokenBucket(rate=rate, burst=burst, now=0.0)
