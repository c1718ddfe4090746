"""The engagement vocabulary, and tying a recovery-link click to its message."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from cartback.messages import utm_content
from cartback.reports import ENGAGEMENT_KINDS, Engagement, click_engagement, utm_content_of
from tests.reports._support import T0, at, message


def test_kinds() -> None:
    assert ENGAGEMENT_KINDS == (
        "delivered",
        "opened",
        "clicked",
        "replied",
        "unsubscribed",
        "ordered",
    )


def test_an_engagement_is_a_frozen_utc_fact() -> None:
    local = datetime(2026, 11, 2, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
    seen = Engagement(message_id="m1", cart_id="c1", kind="opened", at=local)
    assert seen.at == T0
    assert seen.at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        seen.kind = "clicked"  # type: ignore[misc]
    assert Engagement.model_validate_json(seen.model_dump_json()) == seen


@pytest.mark.parametrize(
    "changes",
    [
        {"at": datetime(2026, 11, 2, 12)},  # naive
        {"kind": "bounced"},
        {"message_id": ""},
        {"kind": "opened", "utm": {"utm_source": "shop"}},  # only clicks and orders carry UTM
        {"kind": "clicked", "utm": {"gclid": "x"}},
        {"kind": "clicked", "utm": {"utm_source": "x" * 257}},
    ],
)
def test_invalid_engagements_are_refused(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {"message_id": "m1", "cart_id": "c1", "kind": "clicked", "at": T0}
    with pytest.raises(ValidationError):
        Engagement.model_validate(fields | changes)


def test_utm_content_matches_what_the_message_builders_write() -> None:
    plain = message("m1", step_id="email_3h")
    split = message("m2", step_id="email_3h", variant="B")
    assert utm_content_of(plain) == utm_content("email_3h", None)
    assert utm_content_of(split) == utm_content("email_3h", "B")
    assert utm_content_of(message("m3", step_id=None)) is None


EMAIL = message("m1", channel="email", when=T0, step_id="email_3h")
SMS_A = message("m2", channel="sms", when=at(hours=6), step_id="sms_6h", variant="A")
SMS_B = message("m3", channel="sms", when=at(hours=9), step_id="sms_9h", variant="A")
OTHER_CART = message("m4", cart_id="cart-b", channel="sms", when=at(hours=7))
LATER = message("m5", channel="sms", when=at(days=2), step_id="sms_2d")
FAILED = message("m6", channel="sms", when=at(hours=10), step_id="sms_10h", status="failed")
HISTORY = [EMAIL, SMS_A, SMS_B, OTHER_CART, LATER, FAILED]


def utm(medium: str | None = None, content: str | None = None) -> dict[str, str]:
    pairs = {"utm_source": "shop", "utm_campaign": "conversational"}
    if medium:
        pairs["utm_medium"] = medium
    if content:
        pairs["utm_content"] = content
    return pairs


def test_a_click_belongs_to_the_message_its_link_names() -> None:
    # The first SMS's link, clicked after the second SMS went out: still the first.
    click = click_engagement("cart-a", at(hours=12), utm("sms", "sms_6h:A"), HISTORY)
    assert click is not None
    assert (click.message_id, click.kind, click.at) == ("m2", "clicked", at(hours=12))
    assert click.utm["utm_content"] == "sms_6h:A"


def test_without_an_exact_match_the_latest_message_on_the_channel() -> None:
    click = click_engagement("cart-a", at(hours=12), utm("sms", "renamed_step"), HISTORY)
    assert click is not None
    assert click.message_id == "m3"  # the latest SMS sent before the click (m6 failed)
    email = click_engagement("cart-a", at(hours=12), utm("email"), HISTORY)
    assert email is not None
    assert email.message_id == "m1"


def test_a_link_without_utm_goes_to_the_latest_message_sent_before_the_click() -> None:
    click = click_engagement("cart-a", at(hours=8), {}, HISTORY)
    assert click is not None
    assert click.message_id == "m2"
    assert click.utm == {}


def test_no_message_before_the_click_means_no_engagement() -> None:
    assert click_engagement("cart-a", at(hours=-1), {}, HISTORY) is None
    assert click_engagement("cart-z", at(days=5), {}, HISTORY) is None
    assert click_engagement("cart-a", at(days=5), utm("push"), HISTORY) is None


def test_unknown_parameters_are_dropped_and_long_values_cut() -> None:
    params = {"utm_medium": "email", "gclid": "abc", "utm_term": "x" * 400}
    click = click_engagement("cart-a", at(hours=1), params, HISTORY)
    assert click is not None
    assert set(click.utm) == {"utm_medium", "utm_term"}
    assert len(click.utm["utm_term"]) == 256
