"""Coupons: a code (or free shipping) that a message offers, and where codes come from."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cartback._errors import ConfigurationError
from cartback._models import Cart

__all__ = ["Coupon", "CouponKind", "CouponSource", "StaticCouponSource"]

CouponKind = Literal["static", "dynamic"]
"""``static``: one code every customer may use; ``dynamic``: a code made for one prospect
by the shop's system (reference 003: a dynamic code never goes out first in a push)."""


class Coupon(BaseModel):
    """An incentive a message offers. Frozen: once offered, it is a fact of the message."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    code: str | None = Field(default=None, min_length=1, max_length=64)
    """The code to enter at checkout; ``None`` for an offer without a code (e.g. free
    shipping applied to the cart)."""
    kind: CouponKind = "static"
    """``static`` or ``dynamic``."""
    expires_at: datetime | None = None
    """When the offer ends (timezone-aware); messages state it and count down to it."""
    description: str | None = Field(default=None, max_length=120)
    """What it gives, as the shop words it: ``"10% off"``, ``"€5 off your order"``."""
    free_shipping: bool = False
    """Whether the offer includes free shipping."""

    @field_validator("code")
    @classmethod
    def _printable_code(cls, value: str | None) -> str | None:
        if value is not None and not all(char.isprintable() and char != " " for char in value):
            raise ValueError("a coupon code holds printable characters and no spaces")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        return value


class CouponSource(Protocol):
    """Where a flow step gets the coupon it offers: a fixed code, or the shop's system
    making a code for this prospect. ``None`` means no coupon for this cart."""

    def coupon_for(self, cart: Cart, *, now: datetime) -> Coupon | None:
        """The coupon to offer on ``cart`` at ``now``."""
        ...


class StaticCouponSource:
    """The same static coupon for every cart, until it expires."""

    def __init__(self, coupon: Coupon) -> None:
        if coupon.kind != "static":
            raise ConfigurationError("StaticCouponSource holds a static coupon", setting="coupon")
        self.coupon = coupon

    def coupon_for(self, cart: Cart, *, now: datetime) -> Coupon | None:
        """The coupon, or ``None`` once it has expired."""
        expires = self.coupon.expires_at
        if expires is not None and now >= expires:
            return None
        return self.coupon
