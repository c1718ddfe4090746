"""A rate with its numerator and denominator, or why there is none."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

__all__ = ["NotApplicable", "Rate"]

NotApplicable = Literal["nothing_sent", "no_pixel", "cannot_reply", "no_carts"]
"""Why a rate is n/a: nothing was sent (the denominator is zero); no email was sent with
the tracking pixel (open rates exist only for those); every message was a push, which
cannot be replied to; the report holds no carts."""


@dataclass(frozen=True, slots=True)
class Rate:
    """``numerator / denominator``, kept exact; ``value`` is ``None`` (shown "n/a")
    when ``not_applicable`` says why."""

    numerator: Fraction
    """What is counted (a fraction only for orders shared by ``linear`` attribution)."""
    denominator: int
    """What it is counted among."""
    not_applicable: NotApplicable | None = None
    """Why there is no rate; ``None`` when there is one."""

    @classmethod
    def of(cls, numerator: int | Fraction, denominator: int, *, otherwise: NotApplicable) -> Rate:
        """The rate, or n/a for ``otherwise`` when ``denominator`` is zero."""
        return cls(Fraction(numerator), denominator, None if denominator else otherwise)

    @property
    def value(self) -> float | None:
        """The rate between 0 and 1, or ``None`` when n/a."""
        if self.not_applicable is not None or not self.denominator:
            return None
        return float(self.numerator / self.denominator)

    def percent(self, digits: int = 1) -> str:
        """``"12.5%"``, or ``"n/a"``."""
        value = self.value
        return "n/a" if value is None else f"{value * 100:.{digits}f}%"

    def __str__(self) -> str:
        return self.percent()
