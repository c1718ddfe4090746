"""Time comes in through a clock, so tests can pass a fake one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock"]

Clock = Callable[[], datetime]
"""A callable returning the current time as a timezone-aware UTC ``datetime``."""


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


def ensure_utc(value: datetime, *, name: str) -> datetime:
    """Return ``value`` in UTC; naive datetimes are refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        from cartback._errors import InvalidInputError

        raise InvalidInputError(
            f"{name} must be timezone-aware", field=name, reason="naive_datetime"
        )
    return value.astimezone(UTC)
