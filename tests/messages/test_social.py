"""Messenger and Instagram: Send API bodies, the messaging window, the story step as an
audience event, refusals."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from jinja2 import DictLoader

from cartback.messages import (
    STANDARD_MESSAGING_WINDOW,
    MessageRefusedError,
    SocialMessage,
    build_audience_event,
    build_social_message,
)
from tests.messages.fixtures import (
    ALL_CONSENT,
    AT,
    CARTS,
    CREATED,
    SHOP,
    SIGNER,
    STATIC_COUPON,
    recipient,
    request,
)
from tests.messages.snapshots import assert_snapshot

JANE = "jane@example.com"


def social(
    cart_name: str = "named", platform: str = "messenger", **kwargs: object
) -> SocialMessage:
    c = CARTS[cart_name]
    prospect = c.contact.prospect_key
    assert prospect is not None
    changes = kwargs.pop("changes", {})
    return build_social_message(
        request(c, **changes),  # type: ignore[arg-type]
        platform=platform,  # type: ignore[arg-type]
        shop=SHOP,
        signer=SIGNER,
        consent=kwargs.pop("consent", ALL_CONSENT),  # type: ignore[arg-type]
        recipient=kwargs.pop("recipient", recipient(prospect, platform)),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("cart_name", sorted(CARTS))
@pytest.mark.parametrize("platform", ["messenger", "instagram"])
@pytest.mark.parametrize("template", ["reminder", "offer"])
def test_every_message_matches_its_snapshot(cart_name: str, platform: str, template: str) -> None:
    coupon = STATIC_COUPON if template == "offer" else None
    built = social(cart_name, platform, changes={"template": template, "coupon": coupon})
    document = {"page_id": built.page_id, "window": built.window, "body": built.body}
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    assert json.loads(text)["body"] == built.body
    assert_snapshot(f"social/{platform}.{template}.{cart_name}.json", text)


def test_a_button_template_with_the_recovery_link_inside_the_window() -> None:
    built = social()
    assert built.body["recipient"] == {"id": "6783940125"}
    assert built.body["messaging_type"] == "UPDATE"
    assert "tag" not in built.body
    payload = built.body["message"]["attachment"]["payload"]
    assert payload["template_type"] == "button"
    assert payload["text"].startswith("Hi Jane, it's Anna Martin from Acme Bakery.")
    recover, stop = payload["buttons"]
    assert recover == {"type": "web_url", "url": built.links.recovery, "title": "Finish my order"}
    assert recover["url"].endswith(
        "utm_source=cartback&utm_medium=messenger&utm_campaign=abandoned&utm_content=3h"
    )
    assert stop["url"] == built.links.unsubscribe
    assert SIGNER.verify(stop["url"].rsplit("/", 1)[1], now=AT, kind="unsubscribe").channel == (
        "messenger"
    )


def test_texts_and_button_titles_stay_within_the_platform_limits() -> None:
    loader = DictLoader({"en/social/reminder.txt": "Long words here. " * 100,
                         "en/social/button.txt": "Finish my order right now please"})  # fmt: skip
    shop = SHOP.model_copy(update={"templates": loader})
    built = build_social_message(request(CARTS["named"]), platform="messenger", shop=shop,
                                 signer=SIGNER, consent=ALL_CONSENT,
                                 recipient=recipient(JANE))  # fmt: skip
    payload = built.body["message"]["attachment"]["payload"]
    assert len(payload["text"]) <= 640
    assert all(len(button["title"]) <= 20 for button in payload["buttons"])


def test_the_window_opens_at_the_opt_in_or_the_last_message() -> None:
    late = CREATED + STANDARD_MESSAGING_WINDOW
    with pytest.raises(MessageRefusedError) as refused:
        social(changes={"at": late})
    assert refused.value.reason == "outside_messaging_window"
    inbound = late - timedelta(hours=1)
    assert social(changes={"at": late}, last_inbound_at=inbound).window == "standard"


def test_after_the_window_messenger_uses_a_marketing_messages_token() -> None:
    late = CREATED + timedelta(days=2)
    built = social(changes={"at": late}, marketing_token="nmt-abc")
    assert built.window == "marketing"
    assert built.body["recipient"] == {"notification_messages_token": "nmt-abc"}
    assert "messaging_type" not in built.body


def test_after_the_window_instagram_is_refused_even_with_a_token() -> None:
    late = CREATED + timedelta(days=2)
    with pytest.raises(MessageRefusedError) as refused:
        social(platform="instagram", changes={"at": late}, marketing_token="nmt-abc")
    assert refused.value.reason == "outside_messaging_window"
    assert refused.value.channel == "instagram"


def test_refusals() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"consent": {"messenger": False}}, "no_consent"),
        ({"consent": {"instagram": True}}, "no_consent"),
        ({"recipient": None}, "no_recipient"),
        ({"recipient": recipient(JANE, "instagram")}, "no_recipient"),
        ({"recipient": recipient("other@example.com")}, "no_recipient"),
        ({"changes": {"template": "offer"}}, "coupon_required"),
    ]
    for kwargs, reason in cases:
        with pytest.raises(MessageRefusedError) as refused:
            social(**kwargs)
        assert refused.value.reason == reason


def test_the_instagram_story_step_is_an_audience_event_with_hashed_identifiers() -> None:
    event = build_audience_event(request(CARTS["named"], step="6h"), shop=SHOP,
                                 consent=ALL_CONSENT)  # fmt: skip
    assert event.type == "audience.add"
    assert event.platform == "instagram"
    assert event.audience_id == "aud-2026"
    assert event.email_sha256 == hashlib.sha256(b"jane@example.com").hexdigest()
    assert event.phone_sha256 == hashlib.sha256(b"14155552671").hexdigest()
    assert (event.flow, event.step, event.at) == ("abandoned", "6h", AT)
    assert "jane" not in repr(event)


def test_the_audience_event_is_refused_without_consent_or_an_audience() -> None:
    no_audience = SHOP.model_copy(update={"retargeting_audience_id": None})
    with pytest.raises(MessageRefusedError) as refused:
        build_audience_event(request(CARTS["named"]), shop=SHOP, consent={"instagram": False})
    assert refused.value.reason == "no_consent"
    with pytest.raises(MessageRefusedError) as refused:
        build_audience_event(request(CARTS["named"]), shop=no_audience, consent=ALL_CONSENT)
    assert refused.value.reason == "no_audience"
