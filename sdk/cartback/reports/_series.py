"""Recovery rate over time: abandoned and recovered carts per local day or ISO week,
empty buckets included."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from cartback.reports._rates import Rate
from cartback.reports._time import (
    BucketSize,
    TimeZoneLike,
    bucket_start,
    bucket_starts,
    resolve_zone,
)

__all__ = ["CartOutcome", "RecoverySeries", "SeriesPoint", "recovery_series"]

_ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class CartOutcome:
    """One cart as a time series counts it."""

    created_at: datetime
    """When it was abandoned (captured); it counts in this moment's bucket."""
    recovered: bool
    """Whether it was recovered (for instance: an attributed order)."""
    revenue: Decimal | None = None
    """The recovered order's revenue, when recovered and known."""


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One bucket."""

    start: date
    """The bucket's first local day (a Monday for weeks)."""
    abandoned: int
    """Carts abandoned in the bucket."""
    recovered: int
    """Of those, the recovered ones (counted in the bucket of their abandonment)."""
    revenue: Decimal
    """Their recovered revenue."""

    @property
    def rate(self) -> Rate:
        """``recovered / abandoned``; n/a for an empty bucket."""
        return Rate.of(self.recovered, self.abandoned, otherwise="no_carts")


@dataclass(frozen=True, slots=True)
class RecoverySeries:
    """Recovery per bucket, every bucket of the range present."""

    size: BucketSize
    """``day`` or ``week``."""
    points: tuple[SeriesPoint, ...]
    """The buckets, oldest first."""
    outside: int
    """Outcomes that fell outside the range (left out)."""

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[date, tuple[int, int, Decimal]],
        *,
        start: date,
        end: date,
        size: BucketSize = "day",
    ) -> RecoverySeries:
        """A series from counts already grouped by bucket start (``(abandoned,
        recovered, revenue)``, e.g. from a ``GROUP BY``), the missing buckets filled
        with zeros; counts keyed outside the range are left out and counted."""
        starts = bucket_starts(start, end, size)
        known = set(starts)
        outside = sum(counts[key][0] for key in counts if key not in known)
        points = tuple(SeriesPoint(day, *counts.get(day, (0, 0, _ZERO))) for day in starts)
        return cls(size=size, points=points, outside=outside)


class _Bucket:
    __slots__ = ("abandoned", "recovered", "revenue")

    def __init__(self) -> None:
        self.abandoned = self.recovered = 0
        self.revenue = _ZERO


def recovery_series(
    outcomes: Iterable[CartOutcome],
    *,
    start: date,
    end: date,
    time_zone: TimeZoneLike = "UTC",
    size: BucketSize = "day",
) -> RecoverySeries:
    """Bucket ``outcomes`` (a stream) by the local day or week of their abandonment in
    ``time_zone``, from the bucket holding ``start`` to the one holding ``end``."""
    zone = resolve_zone(time_zone)
    starts = bucket_starts(start, end, size)
    buckets = {day: _Bucket() for day in starts}
    outside = 0
    for outcome in outcomes:
        bucket = buckets.get(bucket_start(outcome.created_at, zone, size))
        if bucket is None:
            outside += 1
            continue
        bucket.abandoned += 1
        if outcome.recovered:
            bucket.recovered += 1
            if outcome.revenue is not None and outcome.revenue.is_finite():
                bucket.revenue += outcome.revenue
    points = tuple(
        SeriesPoint(day, bucket.abandoned, bucket.recovered, bucket.revenue)
        for day, bucket in buckets.items()
    )
    return RecoverySeries(size=size, points=points, outside=outside)
