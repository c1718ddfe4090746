"""Coupons: the value, and sources of static and per-prospect codes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from cartback import ConfigurationError
from cartback._models import Cart
from cartback.messages import Coupon, CouponSource, StaticCouponSource
from tests.messages.fixtures import AT, CARTS, DYNAMIC_COUPON, STATIC_COUPON


def test_a_static_source_offers_its_coupon_until_it_expires() -> None:
    source = StaticCouponSource(STATIC_COUPON)
    assert source.coupon_for(CARTS["named"], now=AT) == STATIC_COUPON
    assert source.coupon_for(CARTS["named"], now=AT + timedelta(hours=48)) is None


def test_a_static_source_refuses_a_dynamic_coupon() -> None:
    with pytest.raises(ConfigurationError):
        StaticCouponSource(DYNAMIC_COUPON)


def test_a_shops_system_is_a_coupon_source() -> None:
    class PerProspect:
        def coupon_for(self, cart: Cart, *, now: datetime) -> Coupon | None:
            return Coupon(
                code=f"C-{cart.id[-4:]}", kind="dynamic", expires_at=now + timedelta(days=2)
            )

    source: CouponSource = PerProspect()
    coupon = source.coupon_for(CARTS["named"], now=AT)
    assert coupon is not None
    assert (coupon.code, coupon.kind) == ("C-" + CARTS["named"].id[-4:], "dynamic")


@pytest.mark.parametrize(
    "values",
    [
        {"code": "TWO WORDS"},
        {"code": "LINE\nBREAK"},
        {"code": ""},
        {"code": "X" * 65},
        {"code": "OK", "expires_at": datetime(2026, 12, 1)},  # naive
    ],
)
def test_coupon_values_that_cannot_go_in_a_message_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Coupon(**values)
