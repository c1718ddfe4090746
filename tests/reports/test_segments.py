"""Segments: each rule on carts, combinations, words and fields, JSON round trips."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cartback._models import ConsentEvent, ConsentSource
from cartback._types import Channel, ConsentAction
from cartback.consent import decide_consent
from cartback.flows import Enrolment, ExitReason
from cartback.reports import (
    AllSegment,
    AnySegment,
    CartValueSegment,
    ConsentSegment,
    FlowOutcomeSegment,
    FormSegment,
    NotSegment,
    ProductSegment,
    RepeatAbandonerSegment,
    Segment,
    SegmentContext,
    matching,
    parse_segment,
    segment_json,
)
from tests.reports._support import T0, at, cart

NOW = at(days=30)
PLAIN = SegmentContext(now=NOW)


def enrolment(*, finished: bool = False, reason: ExitReason | None = None) -> Enrolment:
    return Enrolment(
        cart_id="cart-a",
        prospect="cart-a@example.com",
        flow_id="conversational",
        flow_version=1,
        started_at=T0,
        position=None if finished else "email_3h",
        since=T0,
        finished_at=at(days=2) if finished else None,
        exit_reason=reason,
    )


def test_product_and_form() -> None:
    course = cart(product_id="p1", form_id="checkout")
    other = cart(product_id="p2", form_id="upsell")
    no_product = cart(product_id=None)
    segment = ProductSegment(product_id="p1")
    assert [segment.matches(c, PLAIN) for c in (course, other, no_product)] == [
        True,
        False,
        False,
    ]
    assert FormSegment(form_id="upsell").matches(other, PLAIN)
    assert not FormSegment(form_id="upsell").matches(course, PLAIN)
    assert segment.describe() == "abandoned product 'p1'"
    assert segment.reads() == {"cart.context.product_id"}


def test_repeat_abandoner_over_a_rolling_period() -> None:
    segment = RepeatAbandonerSegment(at_least=3, within=timedelta(days=30))
    this = cart(created=at(days=29))
    # Two other carts within the 30 days before NOW (T0 + 30 d) and one 31 days before.
    context = SegmentContext(now=NOW, other_abandonments=(at(days=1), at(days=20), at(days=-1)))
    assert segment.matches(this, context)  # this one + days 1 and 20 = 3
    fewer = SegmentContext(now=NOW, other_abandonments=(at(days=20), at(days=-1)))
    assert not segment.matches(this, fewer)  # 2
    # The period starts exactly 30 days before now: a cart at T0 counts.
    edge = SegmentContext(now=NOW, other_abandonments=(T0, at(days=5)))
    assert segment.matches(this, edge)
    assert segment.describe() == "abandoned 3 or more times in the last 30d"
    assert segment.reads() == {"cart.created_at", "context.other_abandonments", "context.now"}


def test_repeat_abandoner_over_a_fixed_period() -> None:
    segment = RepeatAbandonerSegment(at_least=2, start=T0, end=at(days=7))
    this = cart(created=at(days=3))
    assert segment.matches(this, SegmentContext(now=NOW, other_abandonments=(T0,)))
    # The end is exclusive; this cart itself outside the period does not count.
    assert not segment.matches(this, SegmentContext(now=NOW, other_abandonments=(at(days=7),)))
    outside = cart(created=at(days=8))
    assert not segment.matches(outside, SegmentContext(now=NOW, other_abandonments=(T0,)))
    assert segment.describe().startswith("abandoned 2 or more times from 2026-11-02T12:00:00")


def test_repeat_abandoner_period_is_either_rolling_or_fixed() -> None:
    with pytest.raises(ValidationError):
        RepeatAbandonerSegment(at_least=2, within=timedelta(days=1), start=T0)
    with pytest.raises(ValidationError):
        RepeatAbandonerSegment(at_least=2, start=at(days=1), end=T0)
    with pytest.raises(ValidationError):
        RepeatAbandonerSegment(at_least=0)


def event(channel: Channel, action: ConsentAction, when: datetime) -> ConsentEvent:
    return ConsentEvent(
        prospect="cart-a@example.com",
        channel=channel,
        action=action,
        at=when,
        source=ConsentSource(kind="form"),
    )


def test_consent_per_channel() -> None:
    events = [event("sms", "granted", T0), event("push", "granted", T0)]
    events.append(event("push", "withdrawn", at(days=1)))
    channels: tuple[Channel, ...] = ("email", "sms", "push")
    consent = {channel: decide_consent(events, channel, NOW) for channel in channels}
    context = SegmentContext(now=NOW, consent=consent)
    some = cart()
    assert ConsentSegment(channel="sms").matches(some, context)
    assert not ConsentSegment(channel="push").matches(some, context)
    assert ConsentSegment(channel="push", allowed=False, basis="withdrawn").matches(some, context)
    assert ConsentSegment(channel="email", basis="default").matches(some, context)
    # A channel the context leaves out has its default: email yes, SMS no.
    assert ConsentSegment(channel="email").matches(some, PLAIN)
    assert ConsentSegment(channel="sms", allowed=False).matches(some, PLAIN)
    assert ConsentSegment(channel="push", allowed=False, basis="withdrawn").describe() == (
        "may not be contacted by push (consent withdrawn)"
    )


def test_cart_value_bands() -> None:
    band = CartValueSegment(at_least=Decimal("50"), below=Decimal("100"), currency="USD")
    assert band.matches(cart(value="50.00"), PLAIN)
    assert band.matches(cart(value="99.99"), PLAIN)
    assert not band.matches(cart(value="100.00"), PLAIN)
    assert not band.matches(cart(value="49.99"), PLAIN)
    assert not band.matches(cart(value="75", currency="EUR"), PLAIN)
    assert not band.matches(cart(value=None), PLAIN)
    assert CartValueSegment(at_least=Decimal("200")).matches(
        cart(value="200", currency=None), PLAIN
    )
    assert band.describe() == "cart value from 50 USD to under 100 USD"
    with pytest.raises(ValidationError):
        CartValueSegment()
    with pytest.raises(ValidationError):
        CartValueSegment(at_least=Decimal("10"), below=Decimal("10"))


def test_flow_outcomes() -> None:
    ordered = cart(ordered_at=at(days=1), revenue="49.00")
    recovered = SegmentContext(now=NOW, enrolment=enrolment(finished=True, reason="ordered"),
                               first_message_at=at(hours=3))  # fmt: skip
    assert FlowOutcomeSegment(outcome="recovered").matches(ordered, recovered)
    assert FlowOutcomeSegment(outcome="recovered", flow_id="conversational").matches(
        ordered, recovered
    )
    assert not FlowOutcomeSegment(outcome="recovered", flow_id="other").matches(ordered, recovered)
    # Ordered before any message went out: not recovered by the flow.
    early = SegmentContext(now=NOW, first_message_at=at(days=2))
    assert not FlowOutcomeSegment(outcome="recovered").matches(ordered, early)
    assert not FlowOutcomeSegment(outcome="recovered").matches(cart(), recovered)

    running = SegmentContext(now=NOW, enrolment=enrolment())
    assert FlowOutcomeSegment(outcome="in_flow").matches(cart(), running)
    assert not FlowOutcomeSegment(outcome="exited").matches(cart(), running)
    assert not FlowOutcomeSegment(outcome="in_flow").matches(cart(), PLAIN)

    done = SegmentContext(now=NOW, enrolment=enrolment(finished=True, reason="completed"))
    assert FlowOutcomeSegment(outcome="exited").matches(cart(), done)
    assert FlowOutcomeSegment(outcome="exited", exit_reason="completed").matches(cart(), done)
    assert not FlowOutcomeSegment(outcome="exited", exit_reason="consent_withdrawn").matches(
        cart(), done
    )

    held = SegmentContext(now=NOW, control_flow="conversational")
    assert FlowOutcomeSegment(outcome="control").matches(cart(), held)
    assert FlowOutcomeSegment(outcome="control", flow_id="conversational").matches(cart(), held)
    assert not FlowOutcomeSegment(outcome="control", flow_id="other").matches(cart(), held)
    assert not FlowOutcomeSegment(outcome="control").matches(cart(), running)
    with pytest.raises(ValidationError):
        FlowOutcomeSegment(outcome="in_flow", exit_reason="ordered")
    assert FlowOutcomeSegment(outcome="exited", exit_reason="ordered").describe() == (
        "exited a recovery flow (ordered)"
    )
    assert FlowOutcomeSegment(outcome="control").reads() == {"context.control_flow"}


def test_combinations() -> None:
    high_value_course = AllSegment(
        segments=(
            ProductSegment(product_id="p1"),
            CartValueSegment(at_least=Decimal("100")),
            NotSegment(segment=ConsentSegment(channel="email", allowed=False)),
        )
    )
    assert high_value_course.matches(cart(product_id="p1", value="150"), PLAIN)
    assert not high_value_course.matches(cart(product_id="p1", value="50"), PLAIN)
    assert not high_value_course.matches(cart(product_id="p2", value="150"), PLAIN)
    either = AnySegment(segments=(FormSegment(form_id="a"), FormSegment(form_id="b")))
    assert either.matches(cart(form_id="b"), PLAIN)
    assert not either.matches(cart(form_id="c"), PLAIN)
    nested = AllSegment(segments=(either, ProductSegment(product_id="p1")))
    assert nested.describe() == (
        "(on order form 'a' or on order form 'b') and abandoned product 'p1'"
    )
    assert high_value_course.reads() == {
        "cart.context.product_id",
        "cart.context.cart_value",
        "cart.context.currency",
        "context.consent",
    }
    with pytest.raises(ValidationError):
        AllSegment(segments=())


def test_matching_filters_a_stream() -> None:
    carts = [cart(f"c{index}", product_id="p1" if index % 3 == 0 else "p2") for index in range(9)]
    found = matching(((c, PLAIN) for c in carts), ProductSegment(product_id="p1"))
    assert [c.id for c in found] == ["c0", "c3", "c6"]


def test_parse_reads_json_text_and_mappings() -> None:
    text = '{"type": "all", "segments": [{"type": "product", "product_id": "p1"},'
    text += ' {"type": "repeat_abandoner", "at_least": 2, "within": "30d"}]}'
    segment = parse_segment(text)
    assert isinstance(segment, AllSegment)
    assert segment == parse_segment(json.loads(text))
    assert json.loads(segment_json(segment))["segments"][1]["within"] == "30d"
    with pytest.raises(ValidationError):
        parse_segment('{"type": "product"}')
    with pytest.raises(ValidationError):
        parse_segment('{"type": "bogus"}')


# -- every segment round-trips through JSON --------------------------------------------

IDS = st.text(min_size=1, max_size=20)
TIMES = st.integers(min_value=-1000, max_value=1000).map(lambda hours: at(hours=hours))
LEAVES: st.SearchStrategy[Segment] = st.one_of(
    st.builds(ProductSegment, product_id=IDS),
    st.builds(FormSegment, form_id=IDS),
    st.builds(
        RepeatAbandonerSegment,
        at_least=st.integers(min_value=1, max_value=50),
        within=st.one_of(st.none(), st.integers(0, 10_000).map(lambda m: timedelta(minutes=m))),
    ),
    st.builds(
        RepeatAbandonerSegment,
        at_least=st.integers(min_value=1, max_value=50),
        start=TIMES,
    ),
    st.builds(
        ConsentSegment,
        channel=st.sampled_from(["email", "sms", "push", "newsletter", "messenger", "instagram"]),
        allowed=st.booleans(),
        basis=st.sampled_from([None, "granted", "withdrawn", "default"]),
    ),
    st.builds(
        CartValueSegment,
        at_least=st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False),
        currency=st.sampled_from([None, "USD", "EUR"]),
    ),
    st.builds(
        FlowOutcomeSegment,
        outcome=st.sampled_from(["recovered", "in_flow", "exited", "control"]),
        flow_id=st.one_of(st.none(), IDS),
    ),
)
SEGMENTS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(AllSegment, segments=st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(AnySegment, segments=st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(NotSegment, segment=inner),
    ),
    max_leaves=6,
)


@settings(max_examples=300)
@given(SEGMENTS)
def test_every_segment_round_trips_through_json(segment: Segment) -> None:
    again = parse_segment(segment_json(segment))
    assert again == segment
    assert segment_json(again) == segment_json(segment)
    assert again.describe() == segment.describe()
    assert again.reads() == segment.reads()


@settings(max_examples=200)
@given(SEGMENTS, st.sampled_from(["p1", "p2"]), st.sampled_from(["10", "150"]))
def test_not_is_the_complement(segment: Segment, product: str, value: str) -> None:
    some = cart(product_id=product, value=value)
    assert NotSegment(segment=segment).matches(some, PLAIN) != segment.matches(some, PLAIN)
