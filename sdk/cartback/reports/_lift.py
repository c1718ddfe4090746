"""True incremental lift: conversion with recovery messages against a control group that
receives none, with a confidence interval, and the revenue the flow really added.

A flow's control group is a share of its eligible carts that gets no message, decided by
a stable hash of the prospect (``in_control_group``): the same prospect lands on the same
side every time, on every process. Comparing the two groups' conversion rates answers
what attribution cannot: how many of the recovered orders would have come anyway.

The interval for the difference of the two rates is Newcombe's hybrid score interval
(method 10 of Newcombe, 1998): it combines the Wilson score intervals of each rate, and
keeps close to its stated coverage even for small rates, where the textbook
normal-approximation interval does not.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import NormalDist
from typing import Final, Literal

from cartback._errors import InvalidInputError

__all__ = [
    "MIN_CONVERSIONS",
    "MIN_GROUP_SIZE",
    "ControlTally",
    "Interval",
    "Lift",
    "LiftProblem",
    "LiftStatus",
    "RevenueInterval",
    "in_control_group",
    "lift",
    "newcombe_interval",
    "wilson_interval",
]

MIN_GROUP_SIZE: Final = 100
"""Each group needs at least this many carts before ``lift`` gives intervals."""
MIN_CONVERSIONS: Final = 10
"""Both groups together need at least this many conversions before ``lift`` gives
intervals."""

_SPACE: Final = 1 << 64
_CENT: Final = Decimal("0.01")

LiftStatus = Literal["ok", "too_small", "no_control", "no_treated"]
"""``ok``: intervals given; ``too_small``: point estimates only, the samples are too
small (``problems`` says which); ``no_control``: no control group ran; ``no_treated``:
no cart received messages."""

LiftProblem = Literal["treated_too_small", "control_too_small", "too_few_conversions"]
"""Why the samples are too small for an interval."""


def in_control_group(prospect: str, flow_id: str, share: float, salt: str = "") -> bool:
    """Whether ``prospect`` is held out of ``flow_id``'s messages, for a control group of
    ``share`` (0 to 1; 0.1 holds out one prospect in ten).

    Deterministic: SHA-256 of ``salt``, the flow id and the prospect key, read as a
    64-bit number, is held out when below ``share`` of the range. The input differs from
    the A/B split's hash, so being held out says nothing about the variant a prospect
    would get. Raising ``share`` only adds prospects to the control group, lowering it
    only removes some. Change ``salt`` to draw a new control group. Store the decision
    with the enrolment: it is made once per prospect and flow.
    """
    if not isinstance(share, int | float) or not 0 <= share <= 1:
        raise InvalidInputError(
            "the control share is a number from 0 to 1", field="share", reason="out_of_range"
        )
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(f"control\x1f{salt}\x1f{flow_id}\x1f{prospect}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < int(share * _SPACE)


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval ``[low, high]``."""

    low: float
    """The lower bound."""
    high: float
    """The upper bound."""
    confidence: float
    """The confidence level (0.95 for 95%)."""

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low

    @property
    def excludes_zero(self) -> bool:
        """Whether 0 lies outside the interval (the difference is significant at this
        level)."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class RevenueInterval:
    """A confidence interval on an amount of money, in the report's currency."""

    low: Decimal
    """The lower bound (negative when the flow may have cost sales)."""
    high: Decimal
    """The upper bound."""
    confidence: float
    """The confidence level."""


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidInputError(
            "confidence is between 0 and 1 (0.95 for 95%)",
            field="confidence",
            reason="out_of_range",
        )
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _check_counts(successes: int, total: int, name: str) -> None:
    if not (isinstance(successes, int) and isinstance(total, int)):
        raise InvalidInputError("counts are whole numbers", field=name, reason="not_an_integer")
    if total < 0 or successes < 0 or successes > total:
        raise InvalidInputError(
            "conversions are between 0 and the group's total", field=name, reason="out_of_range"
        )


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval of the rate ``successes / total`` (``total`` > 0)."""
    _check_counts(successes, total, "successes")
    if total == 0:
        raise InvalidInputError("a rate needs a total above 0", field="total", reason="empty")
    z = _z(confidence)
    p = successes / total
    z2 = z * z
    scale = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / scale
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / scale
    low = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if successes == total else min(1.0, max(p, centre + half))
    return Interval(low, high, confidence)


def newcombe_interval(
    successes_a: int, total_a: int, successes_b: int, total_b: int, confidence: float = 0.95
) -> Interval:
    """Newcombe's hybrid score interval for ``successes_a / total_a - successes_b /
    total_b`` (both totals > 0)."""
    p_a = successes_a / total_a if total_a else 0.0
    p_b = successes_b / total_b if total_b else 0.0
    low_a, high_a = _bounds(wilson_interval(successes_a, total_a, confidence))
    low_b, high_b = _bounds(wilson_interval(successes_b, total_b, confidence))
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return Interval(max(-1.0, low), min(1.0, high), confidence)


def _bounds(interval: Interval) -> tuple[float, float]:
    return interval.low, interval.high


@dataclass(frozen=True, slots=True)
class Lift:
    """Conversion with and without recovery messages, and what the difference is worth.

    ``treated`` carts could receive the flow's messages; ``control`` carts were held out.
    Rates are between 0 and 1; ``absolute`` is in rate units (0.02 = two percentage
    points).
    """

    treated_conversions: int
    """Treated carts that ordered (attributed or not)."""
    treated_total: int
    """Treated carts."""
    control_conversions: int
    """Control carts that ordered."""
    control_total: int
    """Control carts."""
    confidence: float
    """The confidence level of every interval."""
    status: LiftStatus
    """``ok``, ``too_small``, ``no_control`` or ``no_treated``."""
    problems: tuple[LiftProblem, ...]
    """Why the samples are too small, when they are."""
    treated_rate: float | None
    """Conversion with recovery: ``treated_conversions / treated_total``."""
    control_rate: float | None
    """Conversion without: ``control_conversions / control_total``."""
    absolute: float | None
    """``treated_rate - control_rate``: the lift in rate units."""
    absolute_interval: Interval | None
    """Newcombe's interval for ``absolute``; ``None`` unless ``status`` is ``ok``."""
    relative: float | None
    """``absolute / control_rate`` (0.5 = half as many orders again); ``None`` when the
    control group has no conversion."""
    relative_interval: Interval | None
    """The Katz log interval of the rate ratio, minus 1; ``None`` unless ``status`` is
    ``ok`` and both groups converted."""
    incremental_conversions: float | None
    """``absolute * treated_total``: orders the messages added."""
    incremental_conversions_interval: Interval | None
    """``absolute_interval`` times ``treated_total``."""
    average_order_value: Decimal | None
    """The treated group's average order value (given, or revenue / conversions)."""
    incremental_revenue: Decimal | None
    """``incremental_conversions * average_order_value``, to the cent: what the flow
    really added."""
    incremental_revenue_interval: RevenueInterval | None
    """``incremental_conversions_interval`` times ``average_order_value`` (the order
    value's own uncertainty is not in it)."""

    @property
    def significant(self) -> bool | None:
        """Whether the interval excludes zero; ``None`` without an interval."""
        interval = self.absolute_interval
        return None if interval is None else interval.excludes_zero


def _money(value: float, unit: Decimal) -> Decimal:
    return (Decimal(repr(value)) * unit).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def lift(
    treated_conversions: int,
    treated_total: int,
    control_conversions: int,
    control_total: int,
    *,
    treated_revenue: Decimal | None = None,
    average_order_value: Decimal | None = None,
    confidence: float = 0.95,
    min_group_size: int = MIN_GROUP_SIZE,
    min_conversions: int = MIN_CONVERSIONS,
) -> Lift:
    """The lift of a flow from the two groups' counts.

    Pass the treated group's order revenue (``treated_revenue``) or its average order
    value (``average_order_value``) to get the revenue added. Intervals are refused
    (``None``, ``status="too_small"``) while either group has fewer than
    ``min_group_size`` carts or both together fewer than ``min_conversions`` conversions;
    the point estimates are given anyway, to read with that caution.
    """
    _check_counts(treated_conversions, treated_total, "treated_conversions")
    _check_counts(control_conversions, control_total, "control_conversions")
    _z(confidence)
    if treated_revenue is not None and average_order_value is not None:
        raise InvalidInputError(
            "give treated_revenue or average_order_value, not both",
            field="average_order_value",
            reason="conflict",
        )
    aov = average_order_value
    if treated_revenue is not None and treated_conversions:
        aov = (treated_revenue / treated_conversions).quantize(_CENT, rounding=ROUND_HALF_EVEN)
    treated_rate = treated_conversions / treated_total if treated_total else None
    control_rate = control_conversions / control_total if control_total else None
    problems: list[LiftProblem] = []
    if treated_total < min_group_size:
        problems.append("treated_too_small")
    if control_total < min_group_size:
        problems.append("control_too_small")
    if treated_conversions + control_conversions < min_conversions:
        problems.append("too_few_conversions")
    status: LiftStatus
    if not treated_total:
        status = "no_treated"
    elif not control_total:
        status = "no_control"
    else:
        status = "too_small" if problems else "ok"
    absolute = relative = incremental = None
    absolute_interval = relative_interval = incremental_interval = None
    revenue = None
    revenue_interval = None
    if treated_rate is not None and control_rate is not None:
        absolute = treated_rate - control_rate
        incremental = absolute * treated_total
        if control_rate > 0:
            relative = absolute / control_rate
        if aov is not None:
            revenue = _money(incremental, aov)
        if status == "ok":
            absolute_interval = newcombe_interval(
                treated_conversions, treated_total, control_conversions, control_total, confidence
            )
            incremental_interval = Interval(
                absolute_interval.low * treated_total,
                absolute_interval.high * treated_total,
                confidence,
            )
            if treated_conversions and control_conversions:
                log_ratio = math.log(treated_rate / control_rate)
                spread = _z(confidence) * math.sqrt(
                    1 / treated_conversions
                    - 1 / treated_total
                    + 1 / control_conversions
                    - 1 / control_total
                )
                relative_interval = Interval(
                    math.exp(log_ratio - spread) - 1, math.exp(log_ratio + spread) - 1, confidence
                )
            if aov is not None:
                revenue_interval = RevenueInterval(
                    _money(incremental_interval.low, aov),
                    _money(incremental_interval.high, aov),
                    confidence,
                )
    return Lift(
        treated_conversions=treated_conversions,
        treated_total=treated_total,
        control_conversions=control_conversions,
        control_total=control_total,
        confidence=confidence,
        status=status,
        problems=tuple(problems) if status != "ok" else (),
        treated_rate=treated_rate,
        control_rate=control_rate,
        absolute=absolute,
        absolute_interval=absolute_interval,
        relative=relative,
        relative_interval=relative_interval,
        incremental_conversions=incremental,
        incremental_conversions_interval=incremental_interval,
        average_order_value=aov,
        incremental_revenue=revenue,
        incremental_revenue_interval=revenue_interval,
    )


class ControlTally:
    """The counts ``lift`` needs, gathered one cart at a time (memory stays flat)."""

    def __init__(self) -> None:
        self.treated_total = self.treated_conversions = 0
        self.control_total = self.control_conversions = 0
        self.treated_revenue = Decimal(0)

    def add(self, *, in_control: bool, converted: bool, revenue: Decimal | None = None) -> None:
        """Count one eligible cart: held out or not, ordered or not, and (treated, ordered)
        its order's revenue."""
        if in_control:
            self.control_total += 1
            self.control_conversions += converted
        else:
            self.treated_total += 1
            self.treated_conversions += converted
            if converted and revenue is not None and revenue.is_finite():
                self.treated_revenue += revenue

    def lift(
        self,
        *,
        confidence: float = 0.95,
        min_group_size: int = MIN_GROUP_SIZE,
        min_conversions: int = MIN_CONVERSIONS,
    ) -> Lift:
        """``lift`` of the counts so far, with the treated revenue gathered."""
        return lift(
            self.treated_conversions,
            self.treated_total,
            self.control_conversions,
            self.control_total,
            treated_revenue=self.treated_revenue if self.treated_conversions else None,
            confidence=confidence,
            min_group_size=min_group_size,
            min_conversions=min_conversions,
        )
