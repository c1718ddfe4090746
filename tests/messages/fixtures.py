"""Fixed shops, carts and devices shared by the message tests (and nothing random)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cartback import LinkSigner
from cartback._models import (
    Cart,
    CartContext,
    Contact,
    PaymentFailure,
    PushDevice,
    SocialRecipient,
)
from cartback.messages import Coupon, DeepLinkTemplates, MessageRequest, ShopSettings

AT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
"""When every test message is built: three hours after the carts were created."""
CREATED = AT - timedelta(hours=3)
SIGNER = LinkSigner(b"messages-test-secret-of-32-bytes!")
ALL_CONSENT = {"email": True, "sms": True, "push": True, "messenger": True, "instagram": True}

SHOP = ShopSettings(
    shop_name="Acme Bakery",
    sender_name="Anna Martin",
    sender_email="anna@acme.example",
    reply_to="anna.help@acme.example",
    public_url="https://shop.acme.example",
    postal_address="1 Main St, Austin, TX 78701, USA",
    social_proof="4,200 bakers took this course; they rate it 4.8 out of 5.",
    deep_links=DeepLinkTemplates(
        ios="https://app.acme.example/cart/{token}",
        android="intent://cart/{token}#Intent;scheme=acme;package=com.acme.bakery;end",
    ),
    retargeting_audience_id="aud-2026",
)


def cart(
    *,
    cart_id: str = "01JDQ4C6Z7M8XK2V3N4P5R6S7T",
    status: str = "open",
    failure: str | None = None,
    product: str | None = "Sourdough course",
    **contact: Any,
) -> Cart:
    """A cart with the given contact fields (only those: nothing else is filled)."""
    failures = (PaymentFailure(reason=failure, at=CREATED),) if failure else ()
    return Cart(
        id=cart_id,
        status=status,
        created_at=CREATED,
        updated_at=CREATED,
        contact=Contact(**contact),
        context=CartContext(form_id="checkout", product_id="p1", product_name=product),
        payment_failures=failures,
    )


JANE: dict[str, Any] = {
    "email": "jane@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "+14155552671",
    "phone_e164": True,
    "country": "US",
}
CARTS: dict[str, Cart] = {
    "named": cart(**JANE),
    "unnamed": cart(email="sam@example.com", phone="+14155550100", phone_e164=True),
    "long_product": cart(
        product="The Complete Sourdough, Rye, Spelt and Einkorn Masterclass with Lifetime "
        "Access, Printable Recipe Cards, Starter Kit and Two Live Q&A Sessions per Month",
        **JANE,
    ),
    "non_latin": cart(
        product="手作りパン講座",
        email="hanako@example.jp",
        first_name="花子",
        last_name="山田",
        phone="+819012345678",
        phone_e164=True,
        country="JP",
    ),
    "emoji": cart(
        product="Sourdough 🍞 course 🥖",
        first_name="Zoë 🌻",
        email="zoe@example.com",
        phone="+14155550123",
        phone_e164=True,
        country="US",
    ),
    "quebec": cart(
        email="luc@example.ca",
        first_name="Luc",
        country="CA",
        state="QC",
        phone="+15145550199",
        phone_e164=True,
    ),
}
"""Carts with and without names, a long product name, non-Latin text and emoji, and a
Quebec prospect (French)."""

STATIC_COUPON = Coupon(
    code="BREAD10", kind="static", description="10% off", expires_at=AT + timedelta(hours=48)
)
DYNAMIC_COUPON = Coupon(
    code="JANE-7Q2K", kind="dynamic", description="15% off", expires_at=AT + timedelta(days=3)
)
FREE_SHIPPING = Coupon(free_shipping=True, expires_at=AT + timedelta(hours=24))


def request(cart_: Cart, **changes: Any) -> MessageRequest:
    """The message request every test starts from: flow ``abandoned``, step ``3h``."""
    values: dict[str, Any] = {
        "cart": cart_,
        "message_id": "msg-0001",
        "at": AT,
        "flow": "abandoned",
        "step": "3h",
    }
    values.update(changes)
    return MessageRequest(**values)


def devices(prospect: str) -> list[PushDevice]:
    """An iPhone, an Android phone and a browser of ``prospect``, plus a dead token."""
    return [
        PushDevice(prospect=prospect, platform="ios", token="a1b2c3d4" * 8,
                   app_id="com.acme.bakery", registered_at=CREATED),
        PushDevice(prospect=prospect, platform="android", token="fcm-android-token-1",
                   app_id="com.acme.bakery", registered_at=CREATED),
        PushDevice(prospect=prospect, platform="web", token="fcm-web-token-1",
                   app_id="shop.acme.example", registered_at=CREATED),
        PushDevice(prospect=prospect, platform="android", token="fcm-dead-token",
                   app_id="com.acme.bakery", registered_at=CREATED, invalidated_at=CREATED),
    ]  # fmt: skip


def recipient(prospect: str, platform: str = "messenger") -> SocialRecipient:
    """An opted-in Messenger (or Instagram) recipient of ``prospect``."""
    return SocialRecipient(
        prospect=prospect,
        platform=platform,
        page_id="104857600",
        recipient_id="6783940125",
        opted_in_at=CREATED,
    )
