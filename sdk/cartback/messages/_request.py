"""What a flow step asks a builder for, and the builders' shared checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from cartback._clock import ensure_utc
from cartback._errors import InvalidInputError, MessageRefusedError
from cartback._models import Cart
from cartback._types import Channel, MessageChannel
from cartback.consent import ConsentDecision
from cartback.messages._coupons import Coupon
from cartback.messages._settings import ShopSettings

__all__ = [
    "ConsentInput",
    "MessageRequest",
    "RefusalReason",
    "check_cart",
    "check_consent",
    "refuse",
]

RefusalReason = Literal[
    "no_consent",
    "no_recipient",
    "bad_phone",
    "over_size",
    "dynamic_coupon_in_push",
    "coupon_required",
    "coupon_expired",
    "missing_content",
    "no_order_form",
    "cart_closed",
    "outside_messaging_window",
    "no_audience",
]
"""Why a builder refused a message; stable strings the flows record (``MessageRecord``)."""

ConsentInput: TypeAlias = ConsentDecision | Mapping[Channel, bool] | Mapping[str, bool]
"""The consent a builder checks: the ledger's decision for its channel, or a mapping of
channel to allowed (a channel missing from it is not allowed)."""


@dataclass(frozen=True, slots=True)
class MessageRequest:
    """One message a flow step wants built: for which cart, under which id, when."""

    cart: Cart
    """The cart the message is about, as stored (re-read just before building)."""
    message_id: str
    """The message's id: the Email Message-ID and the APNs ``apns-id`` derive from it, so
    a resend after a crash is recognisably the same message."""
    at: datetime
    """When the message is built (UTC): its Date, the token's expiry, countdowns."""
    flow: str = "recovery"
    """The flow that plans it: ``utm_campaign``."""
    step: str = "1"
    """The flow step: ``utm_content`` (with the variant)."""
    variant: str | None = None
    """The A/B variant, when the step is in a split."""
    template: str | None = None
    """The template to build from; ``None`` is the channel's default."""
    coupon: Coupon | None = None
    """The coupon the message offers, if any."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", ensure_utc(self.at, name="at"))
        if not 0 < len(self.message_id) <= 200:
            raise InvalidInputError(
                "message_id must hold 1 to 200 characters", field="message_id", reason="length"
            )


def refuse(channel: MessageChannel, reason: RefusalReason, message: str) -> MessageRefusedError:
    """The error a builder raises; ``message`` never holds a personal value."""
    return MessageRefusedError(message, channel=channel, reason=reason)


def check_consent(channel: Channel, consent: ConsentInput, *, refusal: MessageChannel) -> None:
    """Refuse with ``no_consent`` unless ``consent`` allows ``channel``."""
    if isinstance(consent, ConsentDecision):
        allowed = consent.allowed
    else:
        allowed = bool(consent.get(channel, False))
    if not allowed:
        raise refuse(refusal, "no_consent", f"no consent to send on {channel}")


def check_cart(request: MessageRequest, shop: ShopSettings, channel: MessageChannel) -> None:
    """Refuse a cart already ordered, a form without a known URL, an expired coupon."""
    cart = request.cart
    if cart.status == "ordered":
        raise refuse(channel, "cart_closed", "the cart is already ordered")
    if shop.form_urls and cart.context.form_id not in shop.form_urls:
        raise refuse(channel, "no_order_form", "the cart's order form has no URL")
    coupon = request.coupon
    if coupon and coupon.expires_at is not None and coupon.expires_at <= request.at:
        raise refuse(channel, "coupon_expired", "the coupon has expired")
