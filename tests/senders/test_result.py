"""A SendResult can only say what a dispatcher can act on, and never carries text."""

from __future__ import annotations

import pytest

from cartback import InvalidInputError
from cartback.senders import SendResult


def test_the_three_outcomes_carry_what_the_dispatcher_records() -> None:
    accepted = SendResult.accepted("SM123", status=201)
    assert (accepted.outcome, accepted.provider_id, accepted.error) == ("accepted", "SM123", None)
    retry = SendResult.retry("rate_limited", retry_after=30.0, status=429)
    assert (retry.outcome, retry.error, retry.retry_after) == ("retry", "rate_limited", 30.0)
    failed = SendResult.failed("unregistered", invalid_recipient=True, status=410)
    assert (failed.outcome, failed.invalid_recipient, failed.status) == ("failed", True, 410)


@pytest.mark.parametrize(
    "error",
    ["", "Rate limited", "jane@example.com", "+14155552671", "x" * 65, "The 'To' number", "é"],
)
def test_an_error_must_be_a_short_code(error: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        SendResult.failed(error)
    assert raised.value.reason == "not_a_code"
    assert error not in str(raised.value) or not error


def test_impossible_combinations_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        SendResult("accepted", error="timeout")
    with pytest.raises(InvalidInputError):
        SendResult("retry")  # no error code
    with pytest.raises(InvalidInputError):
        SendResult("failed", error="x", retry_after=3.0)  # a failure is never retried
    with pytest.raises(InvalidInputError):
        SendResult("retry", error="timeout", invalid_recipient=True)
    with pytest.raises(InvalidInputError):
        SendResult("retry", error="timeout", retry_after=-1.0)
    with pytest.raises(InvalidInputError):
        SendResult("accepted", attempts=0)


def test_a_result_is_frozen() -> None:
    result = SendResult.accepted("id")
    with pytest.raises(AttributeError):
        result.outcome = "failed"  # type: ignore[misc]
