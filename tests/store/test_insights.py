"""What recovery earned, on every backend: engagements are recorded against the message
they came through, a control group is held out once per prospect, the headline and the
full insights count the same carts the same way, and segments list what they describe.

The scenario: five prospects abandon on Tuesday 24 November 2026 at 14:00 UTC (09:00 in
New York); the conversational email goes to four of them three hours later.

- p0 clicks the email's link an hour after it and orders for 100.00 the next day:
  recovered (a click within 7 days).
- p1 orders for 50.00 twelve hours after the email, without clicking: recovered (the
  email was delivered within a day of the order).
- p2 orders for 70.00 three days after the email, without clicking: not recovered (the
  delivery is outside the one-day window, and there was no click).
- p3 never orders.
- p4 orders for 30.00 an hour after abandoning, before any email: not contacted, not
  recovered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from cartback import (
    Cartback,
    InvalidInputError,
    MessageNotFoundError,
    SignatureError,
    Store,
)
from cartback.reports import (
    AllSegment,
    CartValueSegment,
    ConsentSegment,
    FlowOutcomeSegment,
    FormSegment,
    NotSegment,
    ProductSegment,
    RepeatAbandonerSegment,
    in_control_group,
)
from tests.conftest import FakeClock
from tests.store.recovery_support import SIGNER, FakeSender, capture, make_dispatcher

ABANDONED = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
EMAILED = ABANDONED + timedelta(hours=3)


@pytest.fixture
def shop(store: Store, clock: FakeClock) -> Cartback:
    clock.now = ABANDONED
    return Cartback(store, clock=clock, links=SIGNER)


def link_of(sender: FakeSender, email: str) -> tuple[str, dict[str, str]]:
    """The recovery token and UTM parameters of the email sent to ``email``."""
    for _, built in sender.sent:
        if built.message["To"].addresses[0].addr_spec == email:
            url = urlsplit(built.links.web)
            return url.path.rsplit("/", 1)[1], dict(parse_qsl(url.query))
    raise AssertionError("no email to that address")


def unsubscribe_token(sender: FakeSender, email: str) -> str:
    for _, built in sender.sent:
        if built.message["To"].addresses[0].addr_spec == email:
            return str(built.links.unsubscribe).rsplit("/", 1)[1]
    raise AssertionError("no email to that address")


def scenario(shop: Cartback, clock: FakeClock, sender: FakeSender) -> dict[str, str]:
    """The module's scenario; the cart id of each prospect."""
    dispatcher = make_dispatcher(shop, sender)  # first: it enrols carts captured from now
    carts = {
        f"p{n}": capture(
            shop,
            email=f"p{n}@example.com",
            product_id="loaf" if n % 2 else "starter",
            cart_value=str(40 + 10 * n),
            currency="USD",
        )
        for n in range(5)
    }
    dispatcher.tick()
    clock.advance(hours=1)
    shop.mark_ordered(email="p4@example.com", revenue="30.00")
    clock.now = EMAILED
    assert dispatcher.tick().sent == 4
    clock.advance(hours=1)
    token, utm = link_of(sender, "p0@example.com")
    shop.open_recovery_link(token, utm)
    clock.now = EMAILED + timedelta(hours=12)
    shop.mark_ordered(email="p1@example.com", revenue="50.00")
    clock.now = EMAILED + timedelta(days=1)
    shop.mark_ordered(email="p0@example.com", revenue="100.00")
    clock.now = EMAILED + timedelta(days=3)
    shop.mark_ordered(email="p2@example.com", revenue="70.00")
    clock.now = EMAILED + timedelta(days=4)
    return carts


SINCE, UNTIL = datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC)


# -- engagements -----------------------------------------------------------------------


def test_a_click_on_the_emails_link_is_that_emails_click(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    carts = scenario(shop, clock, sender)
    (message,) = shop.messages(carts["p0"])
    (click,) = shop.engagements(carts["p0"])
    assert (click.message_id, click.kind, click.at) == (
        message.id,
        "clicked",
        EMAILED + timedelta(hours=1),
    )
    assert click.utm["utm_medium"] == "email"
    assert shop.engagements(carts["p3"]) == []


def test_a_click_before_any_message_is_no_engagement(shop: Cartback, store: Store) -> None:
    cart_id = capture(shop)
    shop.open_recovery_link(shop.recovery_token(cart_id), {"utm_medium": "email"})
    assert shop.engagements(cart_id) == []
    assert len(store.clicks(cart_id)) == 1  # the click itself is still recorded


def test_delivery_receipts_and_opens_are_recorded_by_message_id(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    carts = scenario(shop, clock, sender)
    (message,) = shop.messages(carts["p3"])
    shop.record_engagement(message.id, "delivered", at=EMAILED + timedelta(minutes=1))
    opened = shop.record_engagement(message.id, "opened")
    assert opened.at == clock.now
    assert opened.cart_id == carts["p3"]
    kinds = [e.kind for e in shop.engagements(carts["p3"])]
    assert kinds == ["delivered", "opened"]


def test_engagements_with_unknown_or_unsent_messages_are_refused(
    shop: Cartback, clock: FakeClock, sender: FakeSender, store: Store
) -> None:
    scenario(shop, clock, sender)
    with pytest.raises(MessageNotFoundError) as missing:
        shop.record_engagement("msg_nope", "opened")
    assert missing.value.message_id == "msg_nope"
    with pytest.raises(InvalidInputError) as kind:
        shop.record_engagement("msg_nope", "ordered")
    assert kind.value.field == "kind"


def test_the_tracking_image_records_the_open_of_its_email(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    carts = scenario(shop, clock, sender)
    (message,) = shop.messages(carts["p3"])
    opened = shop.record_open(SIGNER.open_token(carts["p3"], message.id))
    assert opened is not None
    assert opened.message_id == message.id
    assert shop.record_open(SIGNER.open_token(carts["p3"], "msg_gone")) is None
    with pytest.raises(SignatureError):
        shop.record_open(SIGNER.unsubscribe_token(carts["p3"], "email"))  # another kind
    with pytest.raises(SignatureError):
        shop.record_open(SIGNER.open_token(carts["p3"], message.id)[:-2] + "xx")


def test_an_unsubscribe_through_the_email_counts_against_it(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    carts = scenario(shop, clock, sender)
    (message,) = shop.messages(carts["p3"])
    shop.unsubscribe(unsubscribe_token(sender, "p3@example.com"))
    (engagement,) = shop.engagements(carts["p3"])
    assert (engagement.message_id, engagement.kind) == (message.id, "unsubscribed")
    assert not shop.may_contact("p3@example.com", "email")


def test_a_reply_counts_against_the_latest_email_to_the_prospect(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    carts = scenario(shop, clock, sender)
    (message,) = shop.messages(carts["p3"])
    shop.record_reply("p3@example.com", "email", "Is the loaf vegan?")
    (engagement,) = shop.engagements(carts["p3"])
    assert (engagement.message_id, engagement.kind) == (message.id, "replied")
    shop.record_reply("nobody@example.com", "email", "hello")  # no message: no engagement


def test_erasing_a_prospect_erases_their_engagements(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    carts = scenario(shop, clock, sender)
    shop.erase("p0@example.com")
    assert shop.engagements(carts["p0"]) == []


# -- headline and insights --------------------------------------------------------------


def test_the_headline_counts_the_scenario(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    scenario(shop, clock, sender)
    headline = shop.headline(SINCE, UNTIL)
    assert (headline.abandoned, headline.contacted, headline.orders, headline.recovered) == (
        5,
        4,
        4,
        2,
    )
    assert headline.recovered_revenue == Decimal("150.00")
    assert headline.recovery_rate.value == pytest.approx(2 / 5)
    assert headline.lifts == ()  # no control group runs


def test_the_insights_agree_with_the_headline_and_break_it_down(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    scenario(shop, clock, sender)
    insights = shop.insights(SINCE, UNTIL, time_zone="America/New_York")
    assert insights.headline == shop.headline(SINCE, UNTIL)
    (email,) = insights.figures.channels
    assert (email.group.channel, email.sent, email.clicked) == ("email", 4, 1)
    assert email.orders == 2
    assert insights.figures.unattributed_orders == 2
    # The UTC day is 19:00 on the 23rd to 19:00 on the 24th in New York: two local days.
    evening, day = insights.series.points
    assert (evening.start.isoformat(), evening.abandoned) == ("2026-11-23", 0)
    assert (day.start.isoformat(), day.abandoned, day.recovered, day.revenue) == (
        "2026-11-24",
        5,
        2,
        Decimal("150.00"),
    )
    products = {row.key: row.carts for row in insights.counts.by_product.rows}
    assert insights.counts.by_hour[9] == 5  # 09:00 in New York
    assert products == {"starter": 3, "loaf": 2}


def test_a_period_counts_the_carts_abandoned_in_it(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    scenario(shop, clock, sender)
    before = shop.headline(since=datetime(2026, 11, 1, tzinfo=UTC), until=ABANDONED)
    assert (before.abandoned, before.recovered) == (0, 0)
    assert before.recovery_rate.value is None
    default = shop.headline()  # the 30 days up to now
    assert default.abandoned == 5
    with pytest.raises(InvalidInputError) as error:
        shop.headline(since=ABANDONED, until=ABANDONED)
    assert error.value.field == "since"


def test_a_control_group_is_held_out_once_per_prospect_and_its_lift_reported(
    shop: Cartback, clock: FakeClock, sender: FakeSender, store: Store
) -> None:
    prospects = [f"c{n}@example.com" for n in range(40)]
    dispatcher = make_dispatcher(shop, sender, control={"conversational": 0.5})
    carts = {email: capture(shop, email=email) for email in prospects}
    dispatcher.tick()
    held = {email for email in prospects if in_control_group(email, "conversational", 0.5)}
    assert 0 < len(held) < len(prospects)
    for email, cart_id in carts.items():
        scheduled = store.enrolment(cart_id)
        assert scheduled is not None
        expected = "control_group" if email in held else None
        assert scheduled.enrolment.exit_reason == expected
    clock.advance(hours=3, minutes=1)
    dispatcher.tick()
    sent_to = {built.message["To"].addresses[0].addr_spec for _, built in sender.sent}
    assert sent_to == set(prospects) - held
    for email in prospects[:10]:
        shop.mark_ordered(email=email, revenue="20.00")
    # The share changes; the prospects already drawn keep their group for a new cart.
    later = make_dispatcher(shop, sender, control={"conversational": 0.0})
    again = capture(shop, email=next(iter(held)), form_id="gift")
    later.tick()
    scheduled = store.enrolment(again)
    assert scheduled is not None
    assert scheduled.enrolment.exit_reason == "control_group"

    until = clock.now + timedelta(seconds=1)
    headline = shop.headline(since=ABANDONED - timedelta(days=1), until=until)
    (flow,) = headline.lifts
    assert (flow.flow_id, flow.control, flow.treated) == (
        "conversational",
        len(held) + 1,
        40 - len(held),
    )
    first_ten = set(prospects[:10])
    assert flow.lift.control_conversions == len(first_ten & held)
    assert flow.lift.treated_conversions == len(first_ten - held)
    assert flow.lift.status == "too_small"  # fewer than 100 carts a group: no interval
    assert flow.lift.absolute_interval is None
    insights = shop.insights(since=ABANDONED - timedelta(days=1), until=until)
    assert insights.lifts == headline.lifts


# -- segments ---------------------------------------------------------------------------


def emails_of(shop: Cartback, segment: Any) -> set[str]:
    page = shop.segment_carts(segment, limit=500)
    assert page.total == len(page.items)
    return {str(cart.contact.email) for cart in page.items}


def test_segments_list_the_carts_they_describe(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    scenario(shop, clock, sender)
    capture(shop, email="p3@example.com", form_id="gift")  # p3's second abandonment
    assert emails_of(shop, ProductSegment(product_id="loaf")) == {
        "p1@example.com",
        "p3@example.com",
    }
    assert emails_of(shop, FormSegment(form_id="gift")) == {"p3@example.com"}
    repeat = RepeatAbandonerSegment(at_least=2, within=timedelta(days=30))
    assert emails_of(shop, repeat) == {"p3@example.com"}
    assert shop.segment_carts(repeat).total == 2  # both of p3's carts
    value = CartValueSegment(at_least=Decimal(60))
    assert emails_of(shop, value) == {"p2@example.com", "p3@example.com", "p4@example.com"}
    recovered = FlowOutcomeSegment(outcome="recovered")
    assert emails_of(shop, recovered) == {"p0@example.com", "p1@example.com", "p2@example.com"}
    both = AllSegment(
        segments=(ProductSegment(product_id="starter"), NotSegment(segment=recovered))
    )
    assert emails_of(shop, both) == {"p4@example.com"}


def test_a_consent_segment_reads_the_ledger(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    scenario(shop, clock, sender)
    shop.unsubscribe(unsubscribe_token(sender, "p3@example.com"))
    withdrawn = ConsentSegment(channel="email", allowed=False)
    assert emails_of(shop, withdrawn) == {"p3@example.com"}


def test_segments_page_and_accept_json_and_refuse_nonsense(
    shop: Cartback, clock: FakeClock, sender: FakeSender
) -> None:
    scenario(shop, clock, sender)
    first = shop.segment_carts('{"type": "form", "form_id": "checkout"}', limit=2)
    second = shop.segment_carts({"type": "form", "form_id": "checkout"}, limit=2, offset=2)
    assert (first.total, len(first.items), len(second.items)) == (5, 2, 2)
    assert not {c.id for c in first.items} & {c.id for c in second.items}
    assert [c.created_at for c in first.items] == sorted(
        (c.created_at for c in first.items), reverse=True
    )
    with pytest.raises(InvalidInputError) as error:
        shop.segment_carts({"type": "cart_value", "at_least": "lots"})
    assert error.value.field.startswith("segment.")
    with pytest.raises(InvalidInputError):
        shop.segment_carts({"type": "nope"})


def test_saved_segments_round_trip(shop: Cartback) -> None:
    segment = RepeatAbandonerSegment(at_least=3, within=timedelta(days=90))
    shop.save_segment("Serial abandoners", segment)
    assert shop.segments() == {"Serial abandoners": segment}
    shop.save_segment("Serial abandoners", ProductSegment(product_id="loaf"))
    assert shop.segments() == {"Serial abandoners": ProductSegment(product_id="loaf")}
    assert shop.delete_segment("Serial abandoners") is True
    assert shop.delete_segment("Serial abandoners") is False
    assert shop.segments() == {}
    with pytest.raises(InvalidInputError) as error:
        shop.save_segment("<script>", segment)
    assert error.value.field == "name"
