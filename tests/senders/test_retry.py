"""The bounded immediate retries: capped exponential backoff with jitter, Retry-After
honoured, a time budget, and the rest handed to the dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback import ConfigurationError
from cartback.senders import RetryPolicy, SendResult, parse_retry_after
from cartback.senders._retry import run_with_retries
from tests.senders._support import FakeTime, policy


def script(*results: SendResult) -> tuple[list[int], Callable[[], SendResult]]:
    calls: list[int] = []
    queue = list(results)

    def attempt() -> SendResult:
        calls.append(1)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return calls, attempt


def test_a_transient_failure_then_success_is_accepted_after_one_backoff() -> None:
    time = FakeTime()
    _, attempt = script(SendResult.retry("server_error"), SendResult.accepted("id"))
    result = run_with_retries(attempt, policy(time, random=0.0))
    assert result.outcome == "accepted"
    assert result.attempts == 2
    assert time.sleeps == [0.5]


def test_three_attempts_then_retry_is_handed_back_with_growing_waits() -> None:
    time = FakeTime()
    calls, attempt = script(SendResult.retry("timeout"))
    result = run_with_retries(attempt, policy(time, random=0.0))
    assert (result.outcome, result.error, result.attempts) == ("retry", "timeout", 3)
    assert len(calls) == 3
    assert time.sleeps == [0.5, 1.0]


def test_a_permanent_failure_is_never_retried() -> None:
    time = FakeTime()
    calls, attempt = script(SendResult.failed("invalid_phone_number", invalid_recipient=True))
    result = run_with_retries(attempt, policy(time))
    assert (result.outcome, result.attempts, len(calls), time.sleeps) == ("failed", 1, 1, [])


def test_the_backoff_is_capped() -> None:
    time = FakeTime()
    _, attempt = script(SendResult.retry("timeout"))
    retry = policy(time, random=0.0, attempts=6, base_delay=1.0, max_delay=3.0, budget=60.0)
    run_with_retries(attempt, retry)
    assert time.sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 1.0), (0.5, 0.75), (0.999999, 0.5)])
def test_jitter_takes_up_to_half_of_each_backoff(draw: float, expected: float) -> None:
    retry = policy(FakeTime(), random=draw)
    assert retry.backoff(2) == pytest.approx(expected, abs=1e-5)


@given(
    retry=st.integers(min_value=1, max_value=20),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_every_backoff_lies_within_its_jitter_bounds(
    retry: int, draw: float, jitter: float
) -> None:
    time = FakeTime()
    rules = RetryPolicy(random=lambda: draw, jitter=jitter, monotonic=time.monotonic)
    ceiling = min(rules.max_delay, rules.base_delay * 2 ** (retry - 1))
    assert ceiling * (1 - jitter) - 1e-9 <= rules.backoff(retry) <= ceiling + 1e-9


def test_a_longer_retry_after_within_the_budget_is_waited() -> None:
    time = FakeTime()
    _, attempt = script(
        SendResult.retry("rate_limited", retry_after=4.0), SendResult.accepted("id")
    )
    result = run_with_retries(attempt, policy(time, random=0.0))
    assert (result.outcome, time.sleeps) == ("accepted", [4.0])


def test_a_retry_after_beyond_the_budget_is_handed_to_the_dispatcher_at_once() -> None:
    time = FakeTime()
    _, attempt = script(SendResult.retry("rate_limited", retry_after=120.0))
    result = run_with_retries(attempt, policy(time))
    assert (result.outcome, result.retry_after, result.attempts) == ("retry", 120.0, 1)
    assert time.sleeps == []


def test_no_attempt_starts_after_the_budget() -> None:
    time = FakeTime()

    def slow() -> SendResult:
        time.advance(4.5)  # each attempt takes 4.5 s (a timeout)
        return SendResult.retry("timeout")

    result = run_with_retries(slow, policy(time, random=0.0, attempts=10))
    assert result.attempts == 2  # 4.5 + 0.5 + 4.5 = 9.5 s; a third would start past 10 s
    assert time.seconds - 1000.0 <= 10.0


@given(
    outcomes=st.lists(st.sampled_from(["retry", "accepted", "failed"]), min_size=1, max_size=8),
    waits=st.lists(st.one_of(st.none(), st.floats(0, 30)), min_size=8, max_size=8),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_sleeping_never_exceeds_the_budget_nor_the_attempts(
    outcomes: list[str], waits: list[float | None], draw: float
) -> None:
    time = FakeTime()
    results = [
        SendResult.retry("timeout", retry_after=waits[i])
        if kind == "retry"
        else SendResult.accepted("id")
        if kind == "accepted"
        else SendResult.failed("x")
        for i, kind in enumerate(outcomes)
    ]
    calls, attempt = script(*results)
    result = run_with_retries(attempt, policy(time, random=draw))
    assert sum(time.sleeps) <= 10.0
    assert result.attempts == len(calls) <= 3
    if result.outcome != "retry":
        assert outcomes[len(calls) - 1] == result.outcome


NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 22 Nov 2026 15:01:30 GMT", 90.0),
        ("Sun, 22 Nov 2026 14:00:00 GMT", 0.0),  # already past: no wait
        ("Sunday, 22-Nov-26 15:00:10 GMT", 10.0),  # the obsolete RFC 850 form
        (None, None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_a_policy_that_cannot_work_is_refused() -> None:
    for bad in (
        {"attempts": 0},
        {"base_delay": 0.0},
        {"base_delay": 5.0, "max_delay": 1.0},
        {"budget": 0.0},
        {"jitter": 1.5},
    ):
        with pytest.raises(ConfigurationError):
            RetryPolicy(**bad)
