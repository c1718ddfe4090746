"""Attribution: which messages an order is credited to, within which window, by which
model; and the properties that must hold for any journey."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cartback import InvalidInputError
from cartback._models import MessageRecord
from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.reports import (
    ENGAGEMENT_KINDS,
    Credit,
    Engagement,
    EngagementKind,
    Journey,
    ReportSettings,
    attribute,
    split_revenue,
)
from tests.reports._support import T0, at, engagement, message

LAST = ReportSettings()
FIRST = ReportSettings(model="first_touch")
LINEAR = ReportSettings(model="linear")


def journey(
    messages: list[MessageRecord],
    engagements: Sequence[Engagement] = (),
    *,
    ordered_after: timedelta | None = timedelta(days=1),
    revenue: str | None = "90.00",
) -> Journey:
    return Journey(
        cart_id="cart-a",
        created_at=T0,
        ordered_at=T0 + ordered_after if ordered_after is not None else None,
        revenue=Decimal(revenue) if revenue is not None else None,
        currency="USD",
        messages=messages,
        engagements=list(engagements),
    )


def credited(credits: tuple[Credit, ...]) -> list[tuple[str, str, str, str]]:
    """Each credit as text: message id, share, revenue, touch."""
    return [(c.message.id, str(c.share), str(c.revenue), c.touch) for c in credits]


# Three messages: an email at T0 clicked 2 h later, an SMS at 6 h (delivered, not
# clicked), a push at 20 h (sent, no receipt); the order comes at 24 h.
EMAIL = message("m1", channel="email", when=T0)
SMS = message("m2", channel="sms", when=at(hours=6), step_id="sms_6h")
PUSH = message("m3", channel="push", when=at(hours=20), step_id="push_20h")
CLICK = engagement(EMAIL, "clicked", at(hours=2))
SMS_RECEIPT = engagement(SMS, "delivered", at(hours=6, minutes=1))
THREE = journey([EMAIL, SMS, PUSH], [CLICK, SMS_RECEIPT])


def test_last_click_credits_the_clicked_message_even_when_later_ones_were_delivered() -> None:
    # The click at 2 h is within 7 days of the order at 24 h: it wins over deliveries.
    assert credited(attribute(THREE, LAST)) == [("m1", "1", "90.00", "engaged")]


def test_first_touch_credits_the_first_message_in_the_window() -> None:
    # In the window: m1 (clicked), m2 (delivered 6h01, 17h59 before the order, < 1 day),
    # m3 (sent 20 h, no receipt: delivered when sent, 4 h before). First sent: m1.
    assert credited(attribute(THREE, FIRST)) == [("m1", "1", "90.00", "engaged")]


def test_linear_splits_the_order_and_its_revenue_equally() -> None:
    # Three messages in the window: 90.00 / 3 = 30.00 each, a third of an order each.
    assert credited(attribute(THREE, LINEAR)) == [
        ("m1", "1/3", "30.00", "engaged"),
        ("m2", "1/3", "30.00", "delivered"),
        ("m3", "1/3", "30.00", "delivered"),
    ]


def test_linear_gives_the_odd_cents_to_the_earliest_messages() -> None:
    # 100.00 / 3 = 33.33 remainder 0.01: the first message gets 33.34.
    credits = attribute(journey([EMAIL, SMS, PUSH], [CLICK], revenue="100.00"), LINEAR)
    assert [c.revenue for c in credits] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]


def test_without_a_click_the_last_delivered_message_within_a_day_is_credited() -> None:
    # No engagement: m3 (sent 20 h) is the latest delivery within 1 day of the order.
    credits = attribute(journey([EMAIL, SMS, PUSH], [SMS_RECEIPT]), LAST)
    assert credited(credits) == [("m3", "1", "90.00", "delivered")]
    assert credits[0].touched_at == at(hours=20)


def test_a_delivery_receipt_time_counts_rather_than_the_send_time() -> None:
    # The SMS was sent at 6 h and delivered at 23 h; the push sent at 20 h: last
    # delivered is the SMS (23 h).
    late = engagement(SMS, "delivered", at(hours=23))
    credits = attribute(journey([SMS, PUSH], [late]), LAST)
    assert credited(credits) == [("m2", "1", "90.00", "delivered")]
    assert credits[0].touched_at == at(hours=23)


def test_a_message_delivered_only_after_the_order_is_not_credited() -> None:
    # The SMS was accepted at 6 h but its receipt says 25 h, after the order at 24 h.
    late = engagement(SMS, "delivered", at(hours=25))
    assert attribute(journey([SMS], [late]), LAST) == ()


def test_a_click_older_than_seven_days_does_not_count() -> None:
    # Click at 2 h, order at 7 d 2 h 1 s: 7 days and 1 second later; nothing delivered in
    # the last day either: unattributed.
    order = timedelta(days=7, hours=2, seconds=1)
    assert attribute(journey([EMAIL], [CLICK], ordered_after=order), LAST) == ()
    # Exactly 7 days after the click is still inside the window.
    inside = attribute(journey([EMAIL], [CLICK], ordered_after=timedelta(days=7, hours=2)), LAST)
    assert credited(inside) == [("m1", "1", "90.00", "engaged")]


def test_a_delivery_older_than_a_day_does_not_count() -> None:
    # The email was sent at T0, no receipt, no click; the order comes 1 day and 1 s later.
    order = timedelta(days=1, seconds=1)
    assert attribute(journey([EMAIL], ordered_after=order), LAST) == ()
    assert len(attribute(journey([EMAIL], ordered_after=timedelta(days=1)), LAST)) == 1


def test_a_message_sent_after_the_order_is_never_credited() -> None:
    after = message("m9", channel="email", when=at(days=2))
    click = engagement(after, "clicked", at(days=2, hours=1))
    assert attribute(journey([after], [click]), LINEAR) == ()


def test_a_reply_counts_as_acting_on_the_message() -> None:
    reply = engagement(SMS, "replied", at(hours=8))
    assert credited(attribute(journey([EMAIL, SMS], [reply]), LAST)) == [
        ("m2", "1", "90.00", "engaged")
    ]
    clicks_only = ReportSettings(engaged_kinds=frozenset({"clicked"}))
    # Without replies, the SMS is only delivered (6 h, 18 h before: inside 1 day); the
    # email (T0, 24 h before) is too, and the SMS is the later of the two.
    assert credited(attribute(journey([EMAIL, SMS], [reply]), clicks_only)) == [
        ("m2", "1", "90.00", "delivered")
    ]


def test_opens_never_put_a_message_in_the_window() -> None:
    opened = engagement(EMAIL, "opened", at(hours=1))
    # Order 3 days after: the email is neither clicked nor delivered within a day.
    assert attribute(journey([EMAIL], [opened], ordered_after=timedelta(days=3)), LAST) == ()


def test_zero_delivery_window_credits_clicks_only() -> None:
    clicks_only = ReportSettings(delivery_window=timedelta(0))
    assert attribute(journey([EMAIL, SMS, PUSH]), clicks_only) == ()
    assert len(attribute(THREE, clicks_only)) == 1


def test_failed_and_skipped_messages_are_never_credited() -> None:
    failed = message("m1", status="failed")
    skipped = message("m2", status="skipped", when=at(hours=1))
    assert attribute(journey([failed, skipped]), LINEAR) == ()


def test_an_engagement_dated_before_its_message_is_ignored() -> None:
    early = engagement(SMS, "clicked", at(hours=1))  # the SMS went out at 6 h
    assert credited(attribute(journey([EMAIL, SMS], [early]), LAST)) == [
        ("m2", "1", "90.00", "delivered")
    ]


def test_an_open_cart_or_a_cart_without_messages_has_no_credits() -> None:
    assert attribute(journey([EMAIL], [CLICK], ordered_after=None), LAST) == ()
    assert attribute(journey([]), LAST) == ()


def test_unknown_revenue_still_credits_the_order() -> None:
    credits = attribute(journey([EMAIL, SMS], [CLICK], revenue=None), LINEAR)
    assert [(c.share, c.revenue) for c in credits] == [(Fraction(1, 2), None)] * 2


def test_a_credit_is_recorded_as_an_ordered_engagement() -> None:
    (credit,) = attribute(THREE, LAST)
    recorded = credit.as_engagement()
    assert (recorded.message_id, recorded.cart_id, recorded.kind, recorded.at) == (
        "m1",
        "cart-a",
        "ordered",
        at(days=1),
    )


@pytest.mark.parametrize(
    ("revenue", "parts", "expected"),
    [
        ("10.00", 3, ["3.34", "3.33", "3.33"]),
        ("0.01", 2, ["0.01", "0.00"]),
        ("7", 2, ["3.50", "3.50"]),
        ("1.005", 2, ["0.503", "0.502"]),
        ("-10.00", 3, ["-3.33", "-3.33", "-3.34"]),
    ],
)
def test_split_revenue(revenue: str, parts: int, expected: list[str]) -> None:
    shares = split_revenue(Decimal(revenue), parts)
    assert shares == [Decimal(value) for value in expected]
    assert sum(shares) == Decimal(revenue)


def test_split_revenue_refuses_nonsense() -> None:
    with pytest.raises(InvalidInputError):
        split_revenue(Decimal("1"), 0)
    with pytest.raises(InvalidInputError):
        split_revenue(Decimal("NaN"), 2)


# -- properties over random journeys ---------------------------------------------------

CHANNELS: st.SearchStrategy[MessageChannel] = st.sampled_from(MESSAGE_CHANNELS)
KINDS: st.SearchStrategy[EngagementKind] = st.sampled_from(ENGAGEMENT_KINDS[:-1])
MINUTES = st.integers(min_value=0, max_value=20 * 24 * 60)


@st.composite
def journeys(draw: st.DrawFn) -> Journey:
    count = draw(st.integers(min_value=0, max_value=6))
    messages = [
        message(
            f"m{index}",
            channel=draw(CHANNELS),
            when=at(minutes=draw(MINUTES)),
            status=draw(st.sampled_from(["sent", "sent", "sent", "failed", "skipped"])),
            variant=draw(st.sampled_from([None, "A", "B"])),
        )
        for index in range(count)
    ]
    engagements = [
        engagement(
            draw(st.sampled_from(messages)),
            draw(KINDS),
            at(minutes=draw(MINUTES)),
        )
        for _ in range(draw(st.integers(min_value=0, max_value=8)))
        if messages
    ]
    cents = draw(st.integers(min_value=0, max_value=10_000_000))
    return Journey(
        cart_id="cart-a",
        created_at=T0,
        ordered_at=at(minutes=draw(MINUTES)),
        revenue=Decimal(cents).scaleb(-2),
        currency="USD",
        messages=messages,
        engagements=engagements,
    )


MODELS = st.sampled_from([LAST, FIRST, LINEAR])
WINDOWS = st.builds(
    ReportSettings,
    model=st.sampled_from(["last_click", "first_touch", "linear"]),
    click_window=st.integers(min_value=1, max_value=14 * 24).map(lambda h: timedelta(hours=h)),
    delivery_window=st.integers(min_value=0, max_value=3 * 24).map(lambda h: timedelta(hours=h)),
)


@settings(max_examples=300)
@given(journeys(), WINDOWS)
def test_no_credit_goes_to_a_message_after_the_order_or_outside_the_window(
    trip: Journey, rules: ReportSettings
) -> None:
    assert trip.ordered_at is not None
    for credit in attribute(trip, rules):
        assert credit.message.status == "sent"
        assert credit.message.at <= trip.ordered_at
        assert credit.touched_at <= trip.ordered_at
        assert credit.touched_at >= credit.message.at
        window = rules.click_window if credit.touch == "engaged" else rules.delivery_window
        assert trip.ordered_at - credit.touched_at <= window


@settings(max_examples=300)
@given(journeys(), WINDOWS)
def test_shares_sum_to_one_order_and_revenues_to_its_revenue(
    trip: Journey, rules: ReportSettings
) -> None:
    credits = attribute(trip, rules)
    if not credits:
        return
    assert sum(credit.share for credit in credits) == 1
    assert sum(credit.revenue or 0 for credit in credits) == trip.revenue
    assert len({credit.message.id for credit in credits}) == len(credits)
    if rules.model != "linear":
        assert len(credits) == 1


@settings(max_examples=200)
@given(journeys())
def test_every_model_agrees_on_whether_an_order_is_attributed(trip: Journey) -> None:
    # The window decides; the model only divides the credit.
    found = {bool(attribute(trip, rules)) for rules in (LAST, FIRST, LINEAR)}
    assert len(found) == 1


@settings(max_examples=200)
@given(journeys())
def test_last_click_and_first_touch_pick_a_message_linear_also_credits(trip: Journey) -> None:
    linear = {credit.message.id for credit in attribute(trip, LINEAR)}
    for rules in (LAST, FIRST):
        for credit in attribute(trip, rules):
            assert credit.message.id in linear


def test_settings_are_shop_configuration_that_round_trips_through_json() -> None:
    rules = ReportSettings(
        model="linear",
        click_window=timedelta(days=5),
        delivery_window=timedelta(0),
        engaged_kinds=frozenset({"clicked"}),
        pixel_since=T0,
        currency="EUR",
    )
    assert ReportSettings.model_validate_json(rules.model_dump_json()) == rules
    assert ReportSettings.model_validate({"click_window": "3d"}).click_window == timedelta(days=3)
    refused: list[dict[str, object]] = [
        {"click_window": "0m"},
        {"engaged_kinds": []},
        {"engaged_kinds": ["opened"]},
        {"currency": "usd"},
        {"model": "data_driven"},
    ]
    for bad in refused:
        with pytest.raises(ValidationError):
            ReportSettings.model_validate(bad)
