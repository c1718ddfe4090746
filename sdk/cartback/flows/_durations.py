"""Durations (``3h``, ``1d``, ``90m``, ``1d12h``) and local times of day (``09:00``).

A duration is whole seconds written as one or more ``<number><unit>`` parts, largest
unit first: ``w`` (7 days), ``d`` (24 hours, not a calendar day: a wait of ``1d``
across a daylight-saving change lasts 24 hours), ``h``, ``m``, ``s``. It serialises in
its canonical form (``90m`` is written back as ``1h30m``). Python code may pass a
``datetime.timedelta`` instead. A local time is ``HH:MM`` on a 24-hour clock.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = [
    "Duration",
    "LocalTime",
    "WaitDuration",
    "format_duration",
    "parse_duration",
]

_PATTERN: Final = re.compile(
    r"(?:(\d{1,6})w)?(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?"
)
_TIME: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_MAX: Final = timedelta(days=3660)
"""The longest duration accepted: ten years is longer than any recovery flow."""
_UNITS: Final = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def parse_duration(text: str) -> timedelta:
    """``"1d12h"`` -> ``timedelta(days=1, hours=12)``.

    Raises ``ValueError`` for anything else, a negative duration included.
    """
    return _duration(text, negative="negative_duration")


def format_duration(value: timedelta) -> str:
    """The canonical text of a whole-second, non-negative duration (``"1h30m"``)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0m"
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _duration(value: Any, *, negative: str) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("-") and _PATTERN.fullmatch(text[1:]) and text[1:]:
            raise PydanticCustomError(negative, "a duration cannot be negative")
        match = _PATTERN.fullmatch(text)
        if not text or match is None:
            raise PydanticCustomError(
                "invalid_duration",
                "a duration is written like 90m, 3h, 1d or 1d12h",
            )
        weeks, days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
        result = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        raise PydanticCustomError(
            "invalid_duration", "a duration is a string like 3h or 1d (or a timedelta)"
        )
    if result < timedelta(0):
        raise PydanticCustomError(negative, "a duration cannot be negative")
    if result.microseconds:
        raise PydanticCustomError("invalid_duration", "a duration is whole seconds")
    if result > _MAX:
        raise PydanticCustomError("duration_too_long", "a duration is at most 3660 days")
    return result


def _local_time(value: Any) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None or value.second or value.microsecond:
            raise PydanticCustomError(
                "invalid_time", "a local time is hours and minutes, without a zone"
            )
        return value
    if isinstance(value, str) and (match := _TIME.fullmatch(value.strip())):
        return time(int(match.group(1)), int(match.group(2)))
    raise PydanticCustomError("invalid_time", "a local time is written HH:MM, e.g. 09:00")


_DURATION_SCHEMA: Final = {"type": "string", "pattern": r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"}

Duration = Annotated[
    timedelta,
    BeforeValidator(lambda value: _duration(value, negative="negative_duration")),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]
"""A non-negative duration such as ``"16h"``; serialised in canonical form."""

WaitDuration = Annotated[
    timedelta,
    BeforeValidator(lambda value: _duration(value, negative="negative_wait")),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]
"""A wait step's duration: like ``Duration``, and a negative one is a ``negative_wait``."""

LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}),
]
"""A time of day in the prospect's zone, ``"HH:MM"``."""
