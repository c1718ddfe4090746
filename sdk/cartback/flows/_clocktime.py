"""Local times of day in a zone, computed in UTC so that DST changes cannot confuse
comparisons (aware datetimes that share a tzinfo compare by wall time in Python)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["in_window", "next_local_time", "window_end"]


def next_local_time(after: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first instant at or after ``after`` whose local time in ``zone`` is ``at``
    (a time skipped by a DST change maps to just after the change). UTC."""
    local = after.astimezone(zone)
    day = local.date()
    for _ in range(3):
        candidate = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if candidate >= after:
            return candidate
        day += timedelta(days=1)
    return candidate  # pragma: no cover - three days always contain the time


def in_window(instant: datetime, start: time, end: time, zone: ZoneInfo) -> bool:
    """Whether ``instant``'s local time is in ``[start, end)``; a window with ``start``
    after ``end`` spans midnight, and ``start == end`` is empty."""
    local = instant.astimezone(zone).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def window_end(instant: datetime, end: time, zone: ZoneInfo) -> datetime:
    """The first instant after ``instant`` whose local time is ``end``. UTC."""
    result = next_local_time(instant, end, zone)
    if result <= instant:
        result = next_local_time(instant + timedelta(seconds=1), end, zone)
    return result
