"""Message builders' throughput, per channel, next to the floor of a Jinja2 render.

Prints messages built per second and µs per message for:
  floor      Jinja2 rendering an empty template (what any templated message costs at least)
  email      build_email(), the conversational default (three templates: subject, text,
             HTML, then the EmailMessage with its headers and quoted-printable parts)
  email + as_bytes()   the same, serialised as an SMTP server receives it
  sms        build_sms() within 3 segments
  push       build_push() for one iPhone (APNs) and one Android phone (FCM): one figure
             per push built
  messenger  build_social_message()

and, for each, how many floors one message costs (its time over the floor's). Carts
are generated up front (seeded): names, product names of varied length, a third of them
in Quebec (French templates). Each figure is the best of five rounds.

    python bench/bench_messages.py [--messages N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from jinja2 import Environment

from cartback import LinkSigner
from cartback._models import Cart, CartContext, Contact, PushDevice, SocialRecipient
from cartback.messages import (
    DeepLinkTemplates,
    MessageRequest,
    ShopSettings,
    build_email,
    build_push,
    build_sms,
    build_social_message,
)

AT = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
CONSENT = {"email": True, "sms": True, "push": True, "messenger": True}
FIRST = ["Ava", "Liam", "Noah", "Emma", None, "Zoë", "Lucas", None, "Chloé", "Owen"]
PRODUCTS = ["Sourdough course", "Rye", None, "The Complete Sourdough Masterclass " * 3]


def make_requests(count: int, seed: int = 11) -> list[MessageRequest]:
    rng = random.Random(seed)
    requests: list[MessageRequest] = []
    for index in range(count):
        quebec = index % 3 == 0
        contact = Contact(
            email=f"p{index}@example.com",
            first_name=rng.choice(FIRST),
            phone=f"+1415555{index % 10000:04d}",
            phone_e164=True,
            country="CA" if quebec else "US",
            state="QC" if quebec else None,
        )
        cart = Cart(
            id=f"01JDQ4C6Z7M8XK2V3N4P{index:06d}",
            status="open",
            created_at=AT - timedelta(hours=3),
            updated_at=AT - timedelta(hours=3),
            contact=contact,
            context=CartContext(form_id="checkout", product_name=rng.choice(PRODUCTS)),
        )
        requests.append(
            MessageRequest(cart=cart, message_id=f"m{index}", at=AT, flow="abandoned", step="3h")
        )
    return requests


def best_seconds_per_item(
    items: Sequence[MessageRequest], run: Callable[[MessageRequest], object], rounds: int = 5
) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            run(item)
        best = min(best, time.perf_counter() - started)
    return best / len(items)


def row(label: str, seconds: float, floor: float) -> str:
    return (
        f"{label:<28} {1 / seconds:>12,.0f} msg/s {seconds * 1e6:>9.1f} µs/msg"
        f" {seconds / floor:>9.1f}x floor"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000)
    args = parser.parse_args()

    shop = ShopSettings(
        shop_name="Acme Bakery",
        sender_name="Anna Martin",
        sender_email="anna@acme.example",
        public_url="https://shop.acme.example",
        postal_address="1 Main St, Austin, TX 78701, USA",
        deep_links=DeepLinkTemplates(ios="https://app.acme.example/cart/{token}"),
    )
    signer = LinkSigner(b"benchmark-secret-of-32-bytes-ok!")
    requests = make_requests(args.messages)
    empty = Environment(autoescape=True).from_string("")

    def floor(_: MessageRequest) -> object:
        return empty.render({})

    def email(request: MessageRequest) -> object:
        return build_email(request, shop=shop, signer=signer, consent=CONSENT)

    def email_bytes(request: MessageRequest) -> object:
        return email(request).message.as_bytes()  # type: ignore[attr-defined]

    def sms(request: MessageRequest) -> object:
        return build_sms(request, shop=shop, signer=signer, consent=CONSENT)

    def push(request: MessageRequest) -> object:
        prospect = request.cart.contact.prospect_key or ""
        devices = [
            PushDevice(prospect=prospect, platform="ios", token="t" * 64, app_id="com.acme",
                       registered_at=AT),
            PushDevice(prospect=prospect, platform="android", token="fcm-1", app_id="com.acme",
                       registered_at=AT),
        ]  # fmt: skip
        return build_push(request, shop=shop, signer=signer, consent=CONSENT, devices=devices)

    def messenger(request: MessageRequest) -> object:
        recipient = SocialRecipient(prospect=request.cart.contact.prospect_key or "",
                                    platform="messenger", page_id="1", recipient_id="2",
                                    opted_in_at=AT - timedelta(hours=1))  # fmt: skip
        return build_social_message(request, platform="messenger", shop=shop, signer=signer,
                                    consent=CONSENT, recipient=recipient)  # fmt: skip

    email(requests[0])  # build the shop's Jinja2 environment once, as a receiver does
    floor_s = best_seconds_per_item(requests, floor)
    print(f"messages: {len(requests):,} per channel; best of 5 rounds; one core\n")
    print(row("floor: empty Jinja2 render", floor_s, floor_s))
    print(row("email (conversational)", best_seconds_per_item(requests, email), floor_s))
    print(row("email + as_bytes()", best_seconds_per_item(requests, email_bytes), floor_s))
    print(row("sms", best_seconds_per_item(requests, sms), floor_s))
    print(row("push (per push, 2 devices)", best_seconds_per_item(requests, push) / 2, floor_s))
    print(row("messenger", best_seconds_per_item(requests, messenger), floor_s))


if __name__ == "__main__":
    main()
