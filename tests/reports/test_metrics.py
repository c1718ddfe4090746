"""Recovery figures over a small shop, every figure computed by hand in the comments."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback import InvalidInputError
from cartback.reports import (
    AttributionModel,
    Dimension,
    Group,
    GroupFigures,
    Journey,
    Rate,
    RecoveryFigures,
    RecoveryReport,
    ReportSettings,
    groups_of,
    journeys,
    recovery_figures,
)
from tests.reports._support import T0, at, cart, engagement, message
from tests.reports.test_attribution import journeys as random_journeys

PIXEL = ReportSettings(pixel_since=T0 - timedelta(days=1))

# Cart A: an email (variant A) at T0, delivered, opened at 1 h, clicked at 2 h; an SMS
#   (variant A) at 24 h; ordered at 27 h for 100.00.
A1 = message("a1", cart_id="a", channel="email", when=T0, variant="A")
A2 = message("a2", cart_id="a", channel="sms", when=at(hours=24), step_id="sms_1d", variant="A")
# Cart B: an email (variant B) at T0, delivered, never opened; a push (variant B) at 6 h;
#   ordered at 12 h for 60.00.
B1 = message("b1", cart_id="b", channel="email", when=T0, variant="B")
B2 = message("b2", cart_id="b", channel="push", when=at(hours=6), step_id="push_6h", variant="B")
# Cart C: an email (variant A) at T0, opened, replied to at 3 h, unsubscribed at 4 h;
#   never ordered.
C1 = message("c1", cart_id="c", channel="email", when=T0, variant="A")
# Cart D: its email (variant B) failed; ordered at 2 h for 40.00 anyway.
D1 = message("d1", cart_id="d", channel="email", when=T0, status="failed", variant="B")
# Cart E: an SMS outside any flow at T0, clicked at 1 h; ordered 10 days later for 80.00.
E1 = message("e1", cart_id="e", channel="sms", when=T0, flow_id=None, step_id=None)

SHOP = [
    Journey(
        "a",
        T0,
        at(hours=27),
        Decimal("100.00"),
        "USD",
        [A1, A2],
        [
            engagement(A1, "delivered", at(minutes=1)),
            engagement(A1, "opened", at(hours=1)),
            engagement(A1, "opened", at(hours=1, minutes=5)),  # a second open counts once
            engagement(A1, "clicked", at(hours=2)),
        ],
    ),
    Journey(
        "b",
        T0,
        at(hours=12),
        Decimal("60.00"),
        "USD",
        [B1, B2],
        [engagement(B1, "delivered", at(minutes=1))],
    ),
    Journey(
        "c",
        T0,
        None,
        None,
        "USD",
        [C1],
        [
            engagement(C1, "opened", at(hours=2)),
            engagement(C1, "replied", at(hours=3)),
            engagement(C1, "unsubscribed", at(hours=4)),
        ],
    ),
    Journey("d", T0, at(hours=2), Decimal("40.00"), "USD", [D1]),
    Journey(
        "e",
        T0,
        at(days=10),
        Decimal("80.00"),
        "USD",
        [E1],
        [engagement(E1, "clicked", at(hours=1))],
    ),
]


def ratio(rate: Rate) -> str:
    """``"numerator/denominator"`` of a rate, as counted."""
    return f"{rate.numerator}/{rate.denominator}"


def group(figures: RecoveryFigures, **key: str | None) -> GroupFigures:
    dimension = str(key.pop("dimension"))
    for found in figures.breakdown(dimension):  # type: ignore[arg-type]
        if all(getattr(found.group, name) == value for name, value in key.items()):
            return found
    raise AssertionError(f"no group {dimension} {key}")


def test_totals_and_unattributed_orders() -> None:
    figures = recovery_figures(SHOP, PIXEL)
    assert figures.carts == 5
    assert figures.contacted == 4  # a, b, c, e (d's only email failed)
    assert figures.orders == 4  # a, b, d, e
    # a: click at 2 h, 25 h before the order: last click -> a1.
    # b: no click; last delivery within a day of 12 h: b2 sent at 6 h (no receipt).
    # d: no message sent; e: the click is 10 days old, nothing delivered in the last day.
    assert figures.attributed_orders == 2
    assert figures.unattributed_orders == 2
    assert figures.attributed_revenue == Decimal("160.00")  # 100 + 60
    assert figures.unattributed_revenue == Decimal("120.00")  # 40 + 80
    assert figures.recovery_rate.numerator == 2
    assert figures.recovery_rate.denominator == 5
    assert figures.recovery_rate.percent() == "40.0%"
    assert figures.currency == "USD"


def test_overall_rates() -> None:
    overall = recovery_figures(SHOP, PIXEL).overall
    assert overall.group == Group("all")
    assert (overall.sent, overall.failed, overall.delivered) == (6, 1, 2)  # a1 b1 receipts
    # Open rate: opened emails (a1, c1) / emails sent with the pixel (a1, b1, c1) = 2/3.
    assert ratio(overall.open_rate) == "2/3"
    assert overall.open_rate.percent() == "66.7%"
    # CTR: clicked (a1, e1) / sent (6) = 1/3.
    assert ratio(overall.click_rate) == "2/6"
    # Reply rate: replied (c1) / sent messages that can be replied to (6 - 1 push) = 1/5.
    assert ratio(overall.reply_rate) == "1/5"
    assert overall.reply_rate.percent() == "20.0%"
    # Unsubscribe rate: c1 / 6.
    assert ratio(overall.unsubscribe_rate) == "1/6"
    # Conversion: 2 attributed orders / 4 carts contacted = 50%.
    assert ratio(overall.conversion_rate) == "2/4"
    assert overall.conversion_rate.value == 0.5
    assert overall.revenue == Decimal("160.00")


def test_per_channel_under_last_click() -> None:
    figures = recovery_figures(SHOP, PIXEL)
    assert [found.group.label for found in figures.channels] == ["email", "push", "sms"]
    email = group(figures, dimension="channel", channel="email")
    # sent a1 b1 c1; failed d1; receipts a1 b1; opened a1 c1; clicked a1; replied c1;
    # unsubscribed c1; contacted a b c; orders: a (a1) -> 1 of 3 contacted.
    assert (email.sent, email.failed, email.delivered, email.opened) == (3, 1, 2, 2)
    assert (email.clicked, email.replied, email.unsubscribed, email.contacted) == (1, 1, 1, 3)
    assert str(email.open_rate) == "66.7%"
    assert str(email.click_rate) == "33.3%"
    assert str(email.conversion_rate) == "33.3%"
    assert (email.orders, email.revenue) == (F(1), Decimal("100.00"))
    sms = group(figures, dimension="channel", channel="sms")
    # sent a2 e1; clicked e1 -> 1/2; contacted a e; orders 0 (a went to a1, e unattributed).
    assert (sms.sent, sms.clicked, sms.contacted, sms.orders) == (2, 1, 2, F(0))
    assert sms.open_rate.value is None
    assert sms.open_rate.not_applicable == "no_pixel"
    assert str(sms.open_rate) == "n/a"
    assert str(sms.conversion_rate) == "0.0%"
    push = group(figures, dimension="channel", channel="push")
    # sent b2; b's order -> 1/1; a push cannot be replied to.
    assert (push.sent, push.contacted, push.orders, push.revenue) == (1, 1, F(1), Decimal("60.00"))
    assert push.reply_rate.not_applicable == "cannot_reply"
    assert str(push.conversion_rate) == "100.0%"


def test_per_variant_step_and_flow() -> None:
    figures = recovery_figures(SHOP, PIXEL)
    variant_a = group(figures, dimension="variant", flow_id="conversational", variant="A")
    # a1 a2 c1 sent; carts a, c contacted; a's order -> a1: 1/2, 100.00.
    assert (variant_a.sent, variant_a.contacted, variant_a.orders) == (3, 2, F(1))
    assert (str(variant_a.conversion_rate), variant_a.revenue) == ("50.0%", Decimal("100.00"))
    variant_b = group(figures, dimension="variant", flow_id="conversational", variant="B")
    # b1 b2 sent, d1 failed; cart b contacted; b's order -> b2: 1/1, 60.00.
    assert (variant_b.sent, variant_b.failed, variant_b.contacted) == (2, 1, 1)
    assert variant_b.orders == 1
    assert variant_b.revenue == Decimal("60.00")
    step = group(figures, dimension="step", flow_id="conversational", step_id="email_3h")
    # a1 b1 c1 sent, d1 failed; a b c contacted; a's order.
    assert (step.sent, step.failed, step.contacted, step.orders) == (3, 1, 3, F(1))
    assert step.group.label == "conversational / email_3h"
    flow = group(figures, dimension="flow", flow_id="conversational")
    assert (flow.sent, flow.contacted, flow.orders, flow.revenue) == (5, 3, F(2), Decimal("160.00"))
    no_flow = group(figures, dimension="flow", flow_id=None)
    assert (no_flow.sent, no_flow.contacted, no_flow.orders) == (1, 1, F(0))
    assert no_flow.group.label == "(no flow)"
    assert [found.group.label for found in figures.variants] == [
        "conversational / A",
        "conversational / B",
    ]


def test_linear_attribution_shares_orders_between_channels() -> None:
    figures = recovery_figures(SHOP, PIXEL.model_copy(update={"model": "linear"}))
    # a: a1 (clicked) and a2 (sent 24 h, 3 h before the order) share 100.00: 50.00 each.
    # b: b1 (delivered 0h01, 11h59 before) and b2 (6 h) share 60.00: 30.00 each.
    email = group(figures, dimension="channel", channel="email")
    sms = group(figures, dimension="channel", channel="sms")
    push = group(figures, dimension="channel", channel="push")
    assert (email.orders, email.revenue) == (F(1), Decimal("80.00"))  # 1/2 + 1/2
    assert (sms.orders, sms.revenue) == (F(1, 2), Decimal("50.00"))
    assert (push.orders, push.revenue) == (F(1, 2), Decimal("30.00"))
    # Conversion: email 1/3; SMS 1/2 order over 2 carts = 1/4; push 1/2 over 1.
    assert str(email.conversion_rate) == "33.3%"
    assert sms.conversion_rate.value == 0.25
    assert push.conversion_rate.value == 0.5
    assert figures.overall.orders == 2
    assert figures.attributed_revenue == Decimal("160.00")


def test_first_touch_gives_both_orders_to_the_first_email() -> None:
    figures = recovery_figures(SHOP, PIXEL.model_copy(update={"model": "first_touch"}))
    email = group(figures, dimension="channel", channel="email")
    push = group(figures, dimension="channel", channel="push")
    assert (email.orders, email.revenue) == (F(2), Decimal("160.00"))
    assert (push.orders, push.revenue) == (F(0), Decimal("0"))


def test_without_the_pixel_open_rates_are_not_applicable() -> None:
    figures = recovery_figures(SHOP)
    assert figures.overall.opened == 0
    assert figures.overall.open_rate.not_applicable == "no_pixel"
    assert figures.overall.open_rate.percent() == "n/a"


def test_only_emails_sent_since_the_pixel_count_for_the_open_rate() -> None:
    # The pixel went on at 1 h: no email in the shop was sent after it.
    figures = recovery_figures(SHOP, ReportSettings(pixel_since=at(hours=1)))
    assert figures.overall.open_rate.not_applicable == "no_pixel"
    later = message("z1", cart_id="z", channel="email", when=at(hours=2))
    trip = Journey(
        "z", T0, messages=[later], engagements=[engagement(later, "opened", at(hours=3))]
    )
    figures = recovery_figures([*SHOP, trip], ReportSettings(pixel_since=at(hours=1)))
    assert (figures.overall.opened, figures.overall.open_rate.denominator) == (1, 1)


def test_revenue_in_another_currency_is_left_out_and_counted() -> None:
    euro = Journey("f", T0, at(hours=1), Decimal("999.00"), "EUR", [message("f1", cart_id="f")])
    figures = recovery_figures([*SHOP, euro], PIXEL)
    assert figures.currency == "USD"  # the first order's
    assert figures.other_currency_orders == 1
    assert figures.attributed_orders == 3  # the EUR order counts as an order
    assert figures.attributed_revenue == Decimal("160.00")
    fixed = recovery_figures([*SHOP, euro], PIXEL.model_copy(update={"currency": "EUR"}))
    assert fixed.attributed_revenue == Decimal("999.00")
    assert fixed.other_currency_orders == 4


def test_an_empty_report_has_no_rates() -> None:
    figures = recovery_figures([])
    assert figures.carts == 0
    assert figures.recovery_rate.not_applicable == "no_carts"
    assert figures.overall.conversion_rate.not_applicable == "nothing_sent"
    assert figures.channels == ()


def test_add_returns_each_orders_credits_and_figures_keep_counting() -> None:
    report = RecoveryReport(PIXEL)
    assert [credit.message.id for credit in report.add(SHOP[0])] == ["a1"]
    assert report.figures().attributed_orders == 1
    assert report.add(SHOP[3]) == ()
    assert report.figures().orders == 2


def test_journeys_from_sorted_streams() -> None:
    carts = [
        cart("a", ordered_at=at(hours=27), revenue="100.00"),
        cart("b", ordered_at=at(hours=12), revenue="60.00"),
        cart("c"),
    ]
    messages = [A1, A2, B1, B2, message("x1", cart_id="bb"), C1]
    engagements = [
        *SHOP[0].engagements,
        engagement(message("ab", cart_id="ab"), "clicked", at(hours=1)),  # no such cart
        *SHOP[1].engagements,
        *SHOP[2].engagements,
    ]
    built = list(journeys(carts, messages, engagements))
    assert [trip.cart_id for trip in built] == ["a", "b", "c"]
    assert [[m.id for m in trip.messages] for trip in built] == [["a1", "a2"], ["b1", "b2"], ["c1"]]
    assert [len(trip.engagements) for trip in built] == [4, 1, 3]
    assert built[0].revenue == Decimal("100.00")
    assert built[2].ordered_at is None
    figures = recovery_figures(built, PIXEL)
    assert (figures.carts, figures.attributed_orders, figures.attributed_revenue) == (
        3,
        2,
        Decimal("160.00"),
    )


def test_journeys_refuse_unsorted_streams() -> None:
    with pytest.raises(InvalidInputError) as error:
        list(journeys([cart("a"), cart("b")], [B1, A1]))
    assert (error.value.field, error.value.reason) == ("messages", "unsorted")
    with pytest.raises(InvalidInputError) as error:
        list(journeys([cart("b"), cart("a")]))
    assert error.value.field == "carts"


def test_a_report_reads_a_stream_one_journey_at_a_time() -> None:
    pulled: list[int] = []

    def stream() -> Iterator[Journey]:
        for index in range(1000):
            pulled.append(index)
            yield Journey(f"c{index:04d}", T0)

    report = RecoveryReport()
    iterator = stream()
    report.add(next(iterator))
    assert pulled == [0]
    report.add_all(iterator)
    assert report.figures().carts == 1000


# -- properties: the breakdowns add up -------------------------------------------------


def naive_contacted(trips: list[Journey], group: Group) -> int:
    """Carts with a sent message in ``group``, counted the slow, obvious way."""
    return sum(
        any(message.status == "sent" and group in groups_of(message) for message in trip.messages)
        for trip in trips
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(random_journeys(), max_size=8),
    st.sampled_from(["last_click", "first_touch", "linear"]),
)
def test_breakdowns_add_up_to_the_totals(trips: list[Journey], model: AttributionModel) -> None:
    trips = [dataclasses.replace(trip, cart_id=f"cart-{index}") for index, trip in enumerate(trips)]
    figures = recovery_figures(trips, ReportSettings(model=model))
    overall = figures.overall
    assert overall.orders == figures.attributed_orders
    assert overall.revenue == figures.attributed_revenue
    assert overall.contacted == figures.contacted
    summed: tuple[Dimension, ...] = ("channel", "flow")
    for dimension in summed:
        groups = figures.breakdown(dimension)
        for name in ("sent", "failed", "delivered", "clicked", "replied", "unsubscribed"):
            assert sum(getattr(found, name) for found in groups) == getattr(overall, name)
        assert sum(found.orders for found in groups) == overall.orders
        assert sum(found.revenue for found in groups) == overall.revenue
    every: tuple[Dimension, ...] = ("channel", "flow", "step", "variant")
    for dimension in every:
        for found in figures.breakdown(dimension):
            assert found.contacted == naive_contacted(trips, found.group)
            assert found.orders <= found.contacted
