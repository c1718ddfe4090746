"""What every template sees: the shop, the prospect's filled fields (cleaned), the links."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Final

from cartback._types import PaymentFailureReason
from cartback.messages._links import MessageLinks
from cartback.messages._request import MessageRequest
from cartback.messages._settings import ShopSettings
from cartback.messages._templates import format_day, format_moment
from cartback.messages._text import clean_value, shorten

__all__ = ["TROUBLESHOOTING", "template_context", "troubleshooting_order"]

TROUBLESHOOTING: Final = ("authentication", "card", "reply")
"""Reference 001's three points, in their default order: payment authentication expired
(retry with the banking app already open), card declined (check the billing postal
code), still stuck (just reply to this email)."""

_FIRST: Final[dict[PaymentFailureReason, str]] = {
    "authentication_timeout": "authentication",
    "card_declined": "card",
}


def troubleshooting_order(reason: PaymentFailureReason | None) -> tuple[str, ...]:
    """The three points, the one matching ``reason`` first; "just reply" stays last.

    ``insufficient_funds`` and ``other`` match no point (no advice on the list fixes them)
    and keep the default order.
    """
    first = _FIRST.get(reason) if reason else None
    if first is None:
        return TROUBLESHOOTING
    return (first, *(point for point in TROUBLESHOOTING if point != first))


def template_context(
    request: MessageRequest,
    shop: ShopSettings,
    links: MessageLinks,
    locale: str,
    *,
    product_limit: int | None = None,
    with_name: bool = True,
    with_product: bool = True,
    ellipsis: str = "…",
) -> dict[str, Any]:
    """The variables of every template. A field the prospect did not fill is ``None``
    (templates test it: "Hello," never "Hello ,"), and every value is cleaned of control
    characters. ``product_limit`` shortens the product name (SMS, push, Messenger), ending
    it with ``ellipsis`` (SMS passes ``"..."``: "…" is not in the GSM alphabet)."""
    cart = request.cart
    first_name = clean_value(cart.contact.first_name) if with_name else None
    product = clean_value(cart.context.product_name) if with_product else None
    if product and product_limit is not None:
        product = shorten(product, product_limit, ellipsis=ellipsis)
    failure = cart.last_payment_failure
    reason = failure.reason if failure else None
    coupon = request.coupon
    coupon_view: dict[str, Any] | None = None
    if coupon is not None:
        expires = coupon.expires_at
        hours_left = None
        if expires is not None:
            hours_left = max(math.ceil((expires - request.at) / timedelta(hours=1)), 1)
        coupon_view = {
            "code": coupon.code,
            "kind": coupon.kind,
            "description": clean_value(coupon.description),
            "free_shipping": coupon.free_shipping,
            "expires": format_moment(expires, locale, shop.timezone) if expires else None,
            "expires_day": format_day(expires, locale, shop.timezone) if expires else None,
            "hours_left": hours_left,
        }
    return {
        "locale": locale,
        "shop": shop.shop_name,
        "sender": shop.sender_name,
        "first_name": first_name,
        "product": product,
        "link": links.recovery,
        "unsubscribe": links.unsubscribe,
        "coupon": coupon_view,
        "payment_failed": failure is not None,
        "failure": reason,
        "troubleshooting": troubleshooting_order(reason),
        "postal_address": shop.postal_address,
        "footer": shop.footer,
        "social_proof": shop.social_proof,
    }
