"""Time zones and calendar buckets for counts and time series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cartback._errors import InvalidInputError

__all__ = ["BucketSize", "TimeZoneLike", "bucket_start", "bucket_starts", "resolve_zone"]

BucketSize = Literal["day", "week"]
"""A time series bucket: a local calendar day, or an ISO week (Monday to Sunday)."""

TimeZoneLike = str | tzinfo
"""An IANA zone name (``"America/New_York"``) or a ``tzinfo``."""

_MAX_DAYS: Final = 3660


def resolve_zone(time_zone: TimeZoneLike) -> tzinfo:
    """The ``tzinfo`` of an IANA name (``UTC`` included) or the ``tzinfo`` itself;
    raises ``InvalidInputError`` (``reason="unknown_zone"``) for an unknown name."""
    if isinstance(time_zone, tzinfo):
        return time_zone
    if time_zone in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            "not an IANA time zone name", field="time_zone", reason="unknown_zone"
        ) from None


def bucket_start(moment: datetime, zone: tzinfo, size: BucketSize) -> date:
    """The first local day of the bucket holding ``moment`` (an aware datetime)."""
    day = moment.astimezone(zone).date()
    return day if size == "day" else day - timedelta(days=day.weekday())


def bucket_starts(start: date, end: date, size: BucketSize) -> tuple[date, ...]:
    """Every bucket from the one holding ``start`` to the one holding ``end``, both
    included: the empty ones too. Raises ``InvalidInputError`` when ``end`` comes before
    ``start`` or the range is longer than ten years."""
    if end < start:
        raise InvalidInputError("end comes before start", field="end", reason="before_start")
    if (end - start).days > _MAX_DAYS:
        raise InvalidInputError("a series covers ten years at most", field="end", reason="too_long")
    step = timedelta(days=1 if size == "day" else 7)
    first = start if size == "day" else start - timedelta(days=start.weekday())
    last = end if size == "day" else end - timedelta(days=end.weekday())
    days = (last - first).days // step.days
    return tuple(first + step * index for index in range(days + 1))
