"""App and browser push: exact APNs and FCM values, parsed back as JSON; the rules of
reference 003; the 4,096-byte limit; refusals."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from jinja2 import DictLoader

from cartback._models import MessageRecord
from cartback.messages import (
    PUSH_PAYLOAD_LIMIT,
    ApnsNotification,
    DeepLinkTemplates,
    FcmMessage,
    MessageRefusedError,
    PushMessage,
    build_push,
    content_warnings,
)
from tests.messages.fixtures import (
    ALL_CONSENT,
    AT,
    CARTS,
    DYNAMIC_COUPON,
    SHOP,
    SIGNER,
    STATIC_COUPON,
    devices,
    request,
)
from tests.messages.snapshots import assert_snapshot

JANE = "jane@example.com"


def pushes(cart_name: str = "named", **changes: object) -> tuple[PushMessage, ...]:
    c = CARTS[cart_name]
    prospect = c.contact.prospect_key
    assert prospect is not None
    return build_push(request(c, **changes), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT,
                      devices=devices(prospect))  # fmt: skip


def as_json(message: PushMessage) -> dict[str, object]:
    """What the provider receives, parsed back."""
    parsed = json.loads(message.body())
    assert isinstance(parsed, dict)
    return parsed


@pytest.mark.parametrize("cart_name", sorted(CARTS))
@pytest.mark.parametrize("template", ["reminder", "coupon"])
def test_every_push_matches_its_snapshot(cart_name: str, template: str) -> None:
    coupon = STATIC_COUPON if template == "coupon" else None
    built = pushes(cart_name, template=template, coupon=coupon)
    document = []
    for message in built:
        entry: dict[str, object] = {
            "platform": message.device.platform,
            "size": message.size,
            "warnings": list(message.warnings),
            "body": as_json(message),
        }
        if isinstance(message, ApnsNotification):
            entry["headers"] = message.headers
        document.append(entry)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    assert_snapshot(f"push/{template}.{cart_name}.json", text)


def test_one_push_per_active_device_of_the_prospect() -> None:
    built = pushes()
    assert [(type(m).__name__, m.device.platform) for m in built] == [
        ("ApnsNotification", "ios"),
        ("FcmMessage", "android"),
        ("FcmMessage", "web"),
    ]
    assert all(m.device.token != "fcm-dead-token" for m in built)


def test_the_apns_request_holds_the_alert_the_deep_link_and_its_headers() -> None:
    apns = pushes()[0]
    assert isinstance(apns, ApnsNotification)
    body = as_json(apns)
    assert body["aps"] == {
        "alert": {
            "title": "Your order is saved",
            "body": "Sourdough course is waiting for you. Tap to finish your order.",
        },
        "mutable-content": 1,
        "thread-id": "cart-01JDQ4C6Z7M8XK2V3N4P5R6S7T",
        "interruption-level": "active",
    }
    link = body["deep_link"]
    assert isinstance(link, str)
    assert link.startswith("https://app.acme.example/cart/")
    assert link.endswith(
        "?utm_source=cartback&utm_medium=push&utm_campaign=abandoned&utm_content=3h"
    )
    assert apns.headers == {
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int((AT + timedelta(days=1)).timestamp())),
        "apns-collapse-id": "cart-01JDQ4C6Z7M8XK2V3N4P5R6S7T",
        "apns-topic": "com.acme.bakery",
        "apns-id": apns.headers["apns-id"],
    }
    assert uuid.UUID(apns.headers["apns-id"]).version == 5
    assert pushes()[0].headers["apns-id"] == apns.headers["apns-id"]  # type: ignore[union-attr]


def test_sound_and_action_buttons_are_the_shops_choice() -> None:
    shop = SHOP.model_copy(update={"push_sound": True, "apns_category": "CART_RECOVERY"})
    built = build_push(request(CARTS["named"]), shop=shop, signer=SIGNER, consent=ALL_CONSENT,
                       devices=devices(JANE))  # fmt: skip
    apns, android, _web = (as_json(m) for m in built)
    assert apns["aps"]["sound"] == "default"  # type: ignore[index]
    assert apns["aps"]["category"] == "CART_RECOVERY"  # type: ignore[index]
    assert android["message"]["android"]["notification"]["sound"] == "default"  # type: ignore[index]
    assert "sound" not in as_json(pushes()[0])["aps"]  # type: ignore[operator]


def test_fcm_messages_have_a_token_target_string_data_and_the_platform_block() -> None:
    _, android, web = pushes()
    assert isinstance(android, FcmMessage)
    assert isinstance(web, FcmMessage)
    for message in (android, web):
        data = message.message["data"]
        assert all(isinstance(v, str) for v in data.values())
        assert message.message["token"] == message.device.token
    assert android.message["android"]["priority"] == "high"
    assert android.message["android"]["ttl"] == "86400s"
    assert android.message["data"]["deep_link"].startswith("intent://cart/")
    assert "#Intent;scheme=acme;package=com.acme.bakery;end" in android.message["data"]["deep_link"]
    link = web.message["webpush"]["fcm_options"]["link"]
    assert link.startswith("https://shop.acme.example/r/")
    assert "android" not in web.message
    assert "webpush" not in android.message


def test_an_ios_app_on_firebase_gets_an_fcm_message_with_an_apns_block() -> None:
    shop = SHOP.model_copy(update={"ios_via_fcm": True})
    [ios] = [
        m for m in build_push(request(CARTS["named"]), shop=shop, signer=SIGNER,
                              consent=ALL_CONSENT, devices=devices(JANE))
        if m.device.platform == "ios"
    ]  # fmt: skip
    assert isinstance(ios, FcmMessage)
    apns = ios.message["apns"]
    assert apns["headers"]["apns-push-type"] == "alert"
    assert "apns-topic" not in apns["headers"]
    assert apns["payload"]["deep_link"].startswith("https://app.acme.example/cart/")


def test_without_app_templates_a_push_opens_the_web_link() -> None:
    shop = SHOP.model_copy(update={"deep_links": DeepLinkTemplates()})
    built = build_push(request(CARTS["named"]), shop=shop, signer=SIGNER, consent=ALL_CONSENT,
                       devices=devices(JANE))  # fmt: skip
    assert {m.links.recovery for m in built} == {built[0].links.web}


def test_a_static_coupon_may_go_in_a_push() -> None:
    built = pushes(template="coupon", coupon=STATIC_COUPON)
    assert as_json(built[0])["aps"]["alert"]["body"] == (  # type: ignore[index]
        "Code BREAD10: 10% off until November 24. Tap to finish your order."
    )
    assert all(m.coupon_code == "BREAD10" for m in built)


def record(channel: str, status: str, code: str | None) -> MessageRecord:
    return MessageRecord(id=f"m-{channel}", cart_id=CARTS["named"].id, prospect=JANE,
                         channel=channel, status=status, at=AT - timedelta(days=1),
                         coupon_code=code)  # fmt: skip


def test_a_dynamic_coupon_goes_in_a_push_only_after_email_or_sms_carried_it() -> None:
    def attempt(history: list[MessageRecord]) -> tuple[PushMessage, ...]:
        return build_push(request(CARTS["named"], template="coupon", coupon=DYNAMIC_COUPON),
                          shop=SHOP, signer=SIGNER, consent=ALL_CONSENT, devices=devices(JANE),
                          history=history)  # fmt: skip

    for history in (
        [],
        [record("email", "sent", "OTHER-CODE")],
        [record("email", "failed", "JANE-7Q2K")],
        [record("push", "sent", "JANE-7Q2K")],
        [record("messenger", "sent", "JANE-7Q2K")],
    ):
        with pytest.raises(MessageRefusedError) as refused:
            attempt(history)
        assert refused.value.reason == "dynamic_coupon_in_push"
    assert attempt([record("email", "sent", "JANE-7Q2K")])
    assert attempt([record("sms", "sent", "JANE-7Q2K")])


def test_repeated_emojis_are_warned_about() -> None:
    assert content_warnings("Your order is saved", "Tap to finish.") == ()
    assert content_warnings("🍞 Your bread", "🍞 is waiting") == ("repeated_emoji",)
    assert content_warnings("🍞🥖🥐🧁", "") == ("many_emojis",)
    assert content_warnings("🔥🔥🔥🔥", "") == ("repeated_emoji", "many_emojis")
    assert content_warnings("👍🏽 ok", "") == ()  # a skin tone is part of its emoji
    loader = DictLoader({"en/push/reminder.title.txt": "🔥 Hurry 🔥"})
    shop = SHOP.model_copy(update={"templates": loader})
    built = build_push(request(CARTS["named"]), shop=shop, signer=SIGNER, consent=ALL_CONSENT,
                       devices=devices(JANE))  # fmt: skip
    assert all(m.warnings == ("repeated_emoji",) for m in built)


def test_an_oversized_body_is_shortened_to_fit_the_limit() -> None:
    loader = DictLoader({"en/push/reminder.body.txt": "Fresh bread is waiting for you. " * 200})
    shop = SHOP.model_copy(update={"templates": loader})
    built = build_push(request(CARTS["named"]), shop=shop, signer=SIGNER, consent=ALL_CONSENT,
                       devices=devices(JANE))  # fmt: skip
    for message in built:
        assert message.shortened
        assert message.size <= PUSH_PAYLOAD_LIMIT
        assert len(message.body()) <= PUSH_PAYLOAD_LIMIT + len('{"message":}')
        assert message.size > PUSH_PAYLOAD_LIMIT - 64  # as much as fits is kept
    body = as_json(built[0])["aps"]["alert"]["body"]  # type: ignore[index]
    assert body.startswith("Fresh bread is waiting for you. Fresh bread")
    assert body.endswith("…")
    assert "  " not in body


def test_a_push_that_cannot_fit_is_refused() -> None:
    huge = DeepLinkTemplates(ios="https://app.acme.example/" + "x" * 5000 + "/{token}")
    shop = SHOP.model_copy(update={"deep_links": huge})
    with pytest.raises(MessageRefusedError) as refused:
        build_push(request(CARTS["named"]), shop=shop, signer=SIGNER, consent=ALL_CONSENT,
                   devices=devices(JANE))  # fmt: skip
    assert refused.value.reason == "over_size"


def test_refusals_for_consent_devices_and_coupons() -> None:
    cases: list[tuple[dict[str, bool], list, dict[str, object], str]] = [  # type: ignore[type-arg]
        ({"push": False}, devices(JANE), {}, "no_consent"),
        ({"email": True}, devices(JANE), {}, "no_consent"),
        (ALL_CONSENT, [], {}, "no_recipient"),
        (ALL_CONSENT, devices(JANE)[3:], {}, "no_recipient"),  # only the dead token
        (ALL_CONSENT, devices("someone@else.example"), {}, "no_recipient"),
        (ALL_CONSENT, devices(JANE), {"template": "coupon"}, "coupon_required"),
    ]
    for consent, devs, changes, reason in cases:
        with pytest.raises(MessageRefusedError) as refused:
            build_push(request(CARTS["named"], **changes), shop=SHOP, signer=SIGNER,
                       consent=consent, devices=devs)  # fmt: skip
        assert refused.value.reason == reason
        assert refused.value.channel == "push"
