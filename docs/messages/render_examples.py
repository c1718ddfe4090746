"""Write the rendered examples into docs/messages/*.md: ``python docs/messages/render_examples.py``.

Each page marks an example with ``<!-- example: NAME -->`` and ``<!-- /example -->``; this
script builds NAME with the real builders from the sample shop and cart below and puts
the output between the marks. A test fails when a page's examples differ from what the
builders make now, so the docs cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from cartback import LinkSigner
from cartback._models import Cart, CartContext, Contact, PaymentFailure, PushDevice, SocialRecipient
from cartback.messages import (
    ApnsNotification,
    Coupon,
    DeepLinkTemplates,
    FcmMessage,
    MessageRequest,
    ShopSettings,
    build_audience_event,
    build_email,
    build_push,
    build_sms,
    build_social_message,
    message_links,
)

PAGES = Path(__file__).parent
AT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
SIGNER = LinkSigner(b"documentation-example-secret-32b")
CONSENT = {"email": True, "sms": True, "push": True, "messenger": True, "instagram": True}
SHOP = ShopSettings(
    shop_name="Acme Bakery",
    sender_name="Anna Martin",
    sender_email="anna@acme.example",
    reply_to="anna.help@acme.example",
    public_url="https://shop.acme.example",
    postal_address="1 Main St, Austin, TX 78701, USA",
    deep_links=DeepLinkTemplates(
        ios="https://app.acme.example/cart/{token}",
        android="intent://cart/{token}#Intent;scheme=acme;package=com.acme.bakery;end",
    ),
    retargeting_audience_id="aud-2026",
)
CART = Cart(
    id="01JDQ4C6Z7M8XK2V3N4P5R6S7T",
    status="open",
    created_at=AT - timedelta(hours=3),
    updated_at=AT - timedelta(hours=3),
    contact=Contact(
        email="jane@example.com",
        first_name="Jane",
        last_name="Doe",
        phone="+14155552671",
        phone_e164=True,
        country="US",
    ),
    context=CartContext(form_id="checkout", product_id="p1", product_name="Sourdough course"),
)
COUPON = Coupon(code="BREAD10", description="10% off", expires_at=AT + timedelta(hours=48))
DEVICES = [
    PushDevice(prospect="jane@example.com", platform=platform, token=token,
               app_id=app, registered_at=AT - timedelta(days=30))
    for platform, token, app in (
        ("ios", "a1b2c3d4" * 8, "com.acme.bakery"),
        ("android", "fcm-android-token-1", "com.acme.bakery"),
        ("web", "fcm-web-token-1", "shop.acme.example"),
    )
]  # fmt: skip
RECIPIENT = SocialRecipient(
    prospect="jane@example.com",
    platform="messenger",
    page_id="104857600",
    recipient_id="6783940125",
    opted_in_at=AT - timedelta(hours=3),
)


def request(cart: Cart = CART, **changes: Any) -> MessageRequest:
    values: dict[str, Any] = {
        "cart": cart,
        "message_id": "msg-0001",
        "at": AT,
        "flow": "abandoned",
        "step": "3h",
    }
    values.update(changes)
    return MessageRequest(**values)


def _email_text(message: EmailMessage) -> str:
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    headers = "".join(
        f"{name}: {parsed[name]}\n"
        for name in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID",
                     "List-Unsubscribe", "List-Unsubscribe-Post")
    )  # fmt: skip
    body = parsed.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()
    return headers + "\n" + content.replace("\r\n", "\n")


def email_conversational() -> str:
    built = build_email(request(), shop=SHOP, signer=SIGNER, consent=CONSENT)
    return _email_text(built.message)


def email_card_declined() -> str:
    failure = (PaymentFailure(reason="card_declined", at=AT - timedelta(hours=3)),)
    cart = CART.model_copy(update={"payment_failures": failure})
    text = _email_text(
        build_email(request(cart), shop=SHOP, signer=SIGNER, consent=CONSENT).message
    )
    return text.split("\n\n", 1)[1].split("\nYour order is saved")[0].rstrip() + "\n"


def email_french_unnamed() -> str:
    contact = Contact(email="luc@example.ca", country="CA", state="QC")
    cart = CART.model_copy(update={"contact": contact})
    text = _email_text(
        build_email(request(cart), shop=SHOP, signer=SIGNER, consent=CONSENT).message
    )
    return text.split("\n\n", 1)[1].split("\n--\n")[0].rstrip() + "\n"


def email_discount() -> str:
    built = build_email(request(template="discount", coupon=COUPON), shop=SHOP, signer=SIGNER,
                        consent=CONSENT)  # fmt: skip
    text = _email_text(built.message)
    subject = next(line for line in text.splitlines() if line.startswith("Subject:"))
    body = text.split("\n\n", 1)[1].split("\nEnter it at checkout")[0]
    return subject + "\n\n" + body.rstrip() + "\n"


def email_html() -> str:
    built = build_email(request(), shop=SHOP, signer=SIGNER, consent=CONSENT)
    html = built.message.get_body(("html",))
    assert html is not None
    content: str = html.get_content()
    return content


def _sms_report(cap: int | None = None, **changes: Any) -> str:
    sms = build_sms(request(**changes), shop=SHOP, signer=SIGNER, consent=CONSENT,
                    max_segments=cap)  # fmt: skip
    return (
        f"{sms.text}\n\n# to={sms.to} encoding={sms.encoding} units={sms.units} "
        f"segments={sms.segments} shortened={sms.shortened}\n"
    )


def sms_reminder() -> str:
    return _sms_report()


def sms_offer() -> str:
    return _sms_report(template="offer", coupon=COUPON)


def sms_capped() -> str:
    return _sms_report(cap=2)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def _pushes() -> tuple[ApnsNotification | FcmMessage, ...]:
    return build_push(request(), shop=SHOP, signer=SIGNER, consent=CONSENT, devices=DEVICES)


def push_apns() -> str:
    apns = _pushes()[0]
    assert isinstance(apns, ApnsNotification)
    return _json({"headers": apns.headers, "payload": apns.payload, "size": apns.size})


def push_fcm_android() -> str:
    android = _pushes()[1]
    assert isinstance(android, FcmMessage)
    return _json({"message": android.message})


def push_fcm_web() -> str:
    web = _pushes()[2]
    assert isinstance(web, FcmMessage)
    return _json({"message": web.message})


def social_messenger() -> str:
    built = build_social_message(request(), platform="messenger", shop=SHOP, signer=SIGNER,
                                 consent=CONSENT, recipient=RECIPIENT)  # fmt: skip
    return _json(built.body)


def social_audience() -> str:
    event = build_audience_event(request(step="6h"), shop=SHOP, consent=CONSENT)
    fields = dataclasses.asdict(event)
    fields["at"] = event.at.isoformat()
    return _json(fields)


def links_all() -> str:
    links = message_links(request(variant="b"), "email", shop=SHOP, signer=SIGNER)
    return _json({field.name: getattr(links, field.name) for field in dataclasses.fields(links)})


EXAMPLES: dict[str, Callable[[], str]] = {
    "email.conversational": email_conversational,
    "email.card_declined": email_card_declined,
    "email.french_unnamed": email_french_unnamed,
    "email.discount": email_discount,
    "email.html": email_html,
    "sms.reminder": sms_reminder,
    "sms.offer": sms_offer,
    "sms.capped": sms_capped,
    "push.apns": push_apns,
    "push.fcm_android": push_fcm_android,
    "push.fcm_web": push_fcm_web,
    "social.messenger": social_messenger,
    "social.audience": social_audience,
    "links.all": links_all,
}
"""Every example a page may show, by name."""

_BLOCK = re.compile(
    r"(<!-- example: (?P<name>[\w.]+) -->\n```(?P<lang>\w*)\n)"
    r"(?P<body>.*?)(```\n<!-- /example -->)",
    re.DOTALL,
)


def render(page: str) -> str:
    """``page`` with every example block filled from the builders."""

    def fill(match: re.Match[str]) -> str:
        return match.group(1) + EXAMPLES[match.group("name")]() + match.group(5)

    return _BLOCK.sub(fill, page)


def main() -> int:
    for path in sorted(PAGES.glob("*.md")):
        current = path.read_text(encoding="utf-8")
        rendered = render(current)
        if rendered != current:
            path.write_text(rendered, encoding="utf-8")
            print(f"updated {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
