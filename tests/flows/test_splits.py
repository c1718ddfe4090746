"""Conditional splits read the live facts; A/B splits keep a prospect in one variant."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from cartback._models import Activity
from cartback.flows import (
    AbSplitStep,
    Flow,
    FlowValidationError,
    Guards,
    choose_variant,
    enrol,
    load_flow,
    plan_next,
    track,
)
from tests.flows._support import (
    EMAIL,
    T0,
    device,
    facts,
    granted,
    make_cart,
    plan,
    recipient,
    sent,
    withdrawn,
)


def split_flow(when: dict[str, Any], *, before: list[dict[str, Any]] | None = None) -> Flow:
    steps: list[dict[str, Any]] = list(before or [])
    steps += [
        {
            "type": "split",
            "id": "split",
            "branches": [{"when": when, "next": "yes"}],
            "otherwise": "no",
        },
        {"type": "send", "id": "yes", "channel": "email", "template": "a", "next": "end"},
        {"type": "send", "id": "no", "channel": "email", "template": "b", "next": "end"},
        {"type": "exit", "id": "end"},
    ]
    return load_flow({"id": "split", "version": 1, "steps": steps}, templates=None)


def branch(when: dict[str, Any], **values: Any) -> str:
    cart = values.pop("cart", make_cart())
    result = plan(split_flow(when), cart, now=values.pop("now", T0), **values)
    assert result.step is not None
    assert result.path == ("split",)
    return result.step.id


def visits(kind: str, *days_ago: float, name: str | None = None) -> list[Activity]:
    return [track(EMAIL, kind, at=T0 - timedelta(days=days), name=name) for days in days_ago]  # type: ignore[arg-type]


def test_consent_split() -> None:
    when = {"type": "consent", "channel": "push"}
    assert branch(when) == "no"
    assert branch(when, consent=granted("push")) == "yes"
    assert branch({"type": "consent", "channel": "email"}) == "yes"
    keep_going = Guards(exit_on_withdrawal=False)  # else the flow exits: email is all it has
    email = {"type": "consent", "channel": "email"}
    assert branch(email, consent=withdrawn("email"), guards=keep_going) == "no"


def test_can_receive_needs_consent_and_an_address() -> None:
    when = {"type": "can_receive", "channel": "push"}
    assert branch(when, consent=granted("push")) == "no"  # no device
    assert branch(when, devices=[device()]) == "no"  # no consent
    assert branch(when, consent=granted("push"), devices=[device()]) == "yes"
    sms = {"type": "can_receive", "channel": "sms"}
    assert branch(sms, consent=granted("sms")) == "yes"
    assert branch(sms, consent=granted("sms"), cart=make_cart(phone=None)) == "no"
    messenger = {"type": "can_receive", "channel": "messenger"}
    assert (
        branch(messenger, consent=granted("messenger"), recipients=[recipient("messenger")])
        == "yes"
    )


def test_push_device_split() -> None:
    assert branch({"type": "push_device"}) == "no"
    assert branch({"type": "push_device"}, devices=[device(invalidated=True)]) == "no"
    assert branch({"type": "push_device"}, devices=[device()]) == "yes"
    assert branch({"type": "push_device", "platform": "android"}, devices=[device()]) == "no"


def test_cart_value_split() -> None:
    when = {"type": "cart_value", "at_least": "100"}
    assert branch(when, cart=make_cart(value="99.99")) == "no"
    assert branch(when, cart=make_cart(value="100")) == "yes"
    assert branch(when, cart=make_cart(value=None)) == "no"
    in_eur = {"type": "cart_value", "at_least": "100", "currency": "EUR"}
    assert branch(in_eur, cart=make_cart(value="150")) == "no"
    assert branch(in_eur, cart=make_cart(value="150", currency="eur")) == "yes"


def test_site_and_app_activity_at_least_once() -> None:
    when = {"type": "activity", "kind": "site_activity"}
    assert branch(when) == "no"
    assert branch(when, activity=visits("app_activity", 1)) == "no"
    assert branch(when, activity=visits("site_activity", 400)) == "yes"  # over all time
    recent = {"type": "activity", "kind": "site_activity", "within": "30d"}
    assert branch(recent, activity=visits("site_activity", 400)) == "no"
    often = {"type": "activity", "kind": "app_activity", "at_least": 3}
    assert branch(often, activity=visits("app_activity", 1, 2)) == "no"
    assert branch(often, activity=visits("app_activity", 1, 2, 3)) == "yes"


def test_activity_after_the_split_time_does_not_count() -> None:
    future = visits("site_activity", -1)  # a day after T0
    assert branch({"type": "activity", "kind": "site_activity"}, activity=future) == "no"


def test_custom_engagement_metric() -> None:
    when = {"type": "metric", "name": "profile_completed"}
    assert branch(when, activity=visits("metric", 2, name="location_added")) == "no"
    assert branch(when, activity=visits("metric", 2, name="Profile completed")) == "yes"
    assert (
        branch({**when, "at_least": 2}, activity=visits("metric", 2, name="profile_completed"))
        == "no"
    )


def test_time_since_last_purchase() -> None:
    when = {"type": "last_purchase", "within": "90d"}
    assert branch(when) == "no"
    assert branch(when, activity=visits("purchase", 100)) == "no"
    assert branch(when, activity=visits("purchase", 100, 30)) == "yes"
    never_recent = {"type": "not", "condition": when}
    assert branch(never_recent) == "yes"


def test_earlier_abandonments() -> None:
    when = {"type": "abandonments", "at_least": 2}
    assert branch(when, earlier_abandonments=[T0 - timedelta(days=3)]) == "no"
    two = [T0 - timedelta(days=3), T0 - timedelta(days=40)]
    assert branch(when, earlier_abandonments=two) == "yes"
    assert branch({**when, "within": "30d"}, earlier_abandonments=two) == "no"
    assert (
        branch(when, earlier_abandonments=[T0 - timedelta(days=3), T0 + timedelta(days=1)]) == "no"
    )


def test_all_any_not() -> None:
    push = {"type": "consent", "channel": "push"}
    sms = {"type": "consent", "channel": "sms"}
    consent = granted("push")
    assert branch({"type": "all", "conditions": [push, sms]}, consent=consent) == "no"
    assert branch({"type": "any", "conditions": [push, sms]}, consent=consent) == "yes"
    assert branch({"type": "not", "condition": sms}, consent=consent) == "yes"


def test_the_first_matching_branch_wins() -> None:
    flow = load_flow(
        {
            "id": "ordered",
            "version": 1,
            "steps": [
                {
                    "type": "split",
                    "id": "split",
                    "branches": [
                        {"when": {"type": "consent", "channel": "email"}, "next": "first"},
                        {"when": {"type": "consent", "channel": "email"}, "next": "second"},
                    ],
                    "otherwise": "second",
                },
                {"type": "send", "id": "first", "channel": "email", "template": "a", "next": "end"},
                {
                    "type": "send",
                    "id": "second",
                    "channel": "email",
                    "template": "b",
                    "next": "end",
                },
                {"type": "exit", "id": "end"},
            ],
        },
        templates=None,
    )
    result = plan(flow, make_cart(), now=T0)
    assert result.step is not None
    assert result.step.id == "first"


def test_coupon_active_while_the_sent_coupon_is_valid() -> None:
    before: list[dict[str, Any]] = [
        {
            "type": "send",
            "id": "coupon",
            "channel": "email",
            "template": "incentive",
            "coupon": {"type": "dynamic", "id": "offer", "valid_for": "3d"},
            "next": "wait",
        },
        {"type": "wait", "id": "wait", "duration": "2d", "next": "split"},
    ]
    flow = split_flow({"type": "coupon_active", "coupon": "offer"}, before=before)
    cart = make_cart()
    enrolment = enrol(cart, flow)
    first = plan_next(flow, enrolment, facts(cart), now=T0)
    assert first.step is not None
    assert first.step.id == "coupon"
    sent_enrolment = enrolment.after(first, at=T0)
    active = plan_next(flow, sent_enrolment, facts(cart), now=T0)
    assert active.step is not None
    assert active.step.id == "yes"
    skipped = enrolment.after(replace(first, kind="skip", reason="no_consent"), at=T0)
    inactive = plan_next(flow, skipped, facts(cart), now=T0)
    assert inactive.step is not None
    assert inactive.step.id == "no"
    expired = plan_next(flow, sent_enrolment, facts(cart), now=T0 + timedelta(days=3))
    assert expired.step is not None
    assert expired.step.id == "no"


# -- A/B ----------------------------------------------------------------------------------------


def ab_flow(weights: tuple[int, int] = (3, 1), flow_id: str = "ab") -> Flow:
    return load_flow(
        {
            "id": flow_id,
            "version": 1,
            "steps": [
                {
                    "type": "ab_split",
                    "id": "test",
                    "variants": [
                        {"name": "conversational", "weight": weights[0], "next": "a"},
                        {"name": "classic", "weight": weights[1], "next": "b"},
                    ],
                },
                {
                    "type": "send",
                    "id": "a",
                    "channel": "email",
                    "template": "conversational",
                    "next": "end",
                },
                {
                    "type": "send",
                    "id": "b",
                    "channel": "email",
                    "template": "reminder",
                    "next": "end",
                },
                {"type": "exit", "id": "end"},
            ],
        },
        templates=None,
    )


def test_a_prospect_always_gets_the_same_variant() -> None:
    flow = ab_flow()
    results = {plan(flow, make_cart(cart_id=f"cart-{n}"), now=T0).message_variant for n in range(5)}
    assert len(results) == 1
    newer = flow.model_copy(update={"version": 2})
    step = flow.steps[0]
    assert isinstance(step, AbSplitStep)
    assert choose_variant(EMAIL, newer.id, step) == choose_variant(EMAIL, flow.id, step)


def test_variants_follow_their_weights() -> None:
    step = ab_flow().steps[0]
    assert isinstance(step, AbSplitStep)
    counts = Counter(choose_variant(f"p{n}@example.com", "ab", step) for n in range(4000))
    assert 0.71 < counts["conversational"] / 4000 < 0.79


def test_the_variant_comes_from_sha256_of_flow_step_and_prospect() -> None:
    # a change here would move every enrolled prospect to another variant
    step = ab_flow((1, 1)).steps[0]
    assert isinstance(step, AbSplitStep)
    for n in range(20):
        prospect = f"p{n}@example.com"
        digest = hashlib.sha256(f"ab\x1ftest\x1f{prospect}".encode()).digest()
        expected = "conversational" if int.from_bytes(digest[:8], "big") % 2 == 0 else "classic"
        assert choose_variant(prospect, "ab", step) == expected


def test_the_variant_is_recorded_on_the_plan_and_the_enrolment() -> None:
    flow = ab_flow()
    cart = make_cart()
    enrolment = enrol(cart, flow)
    result = plan_next(flow, enrolment, facts(cart), now=T0)
    assert result.variant in ("conversational", "classic")
    assert result.message_variant == result.variant
    assert enrolment.after(result, at=T0).variant == result.variant


def test_a_send_steps_own_variant_label_is_what_the_message_records() -> None:
    flow = load_flow(
        {
            "id": "labelled",
            "version": 1,
            "steps": [
                {
                    "type": "send",
                    "id": "s",
                    "channel": "email",
                    "template": "a",
                    "variant": "short",
                    "next": "end",
                },
                {"type": "exit", "id": "end"},
            ],
        },
        templates=None,
    )
    assert plan(flow, make_cart(), now=T0).message_variant == "short"


@pytest.mark.parametrize("count", [1, 2])
def test_splits_before_a_step_in_history_do_not_repeat_it(count: int) -> None:
    flow = ab_flow()
    cart = make_cart()
    enrolment = enrol(cart, flow)
    first = plan_next(flow, enrolment, facts(cart), now=T0)
    assert first.step is not None
    records = [sent("email", T0, cart_id=cart.id, step_id=first.step.id, flow=("ab", 1))] * count
    again = plan_next(flow, enrolment, facts(cart, history=records), now=T0)
    assert (again.kind, again.reason) == ("exit", "completed")


# --- segments as conditions (issue 14) ---------------------------------------------------


def test_a_segment_split_reads_the_live_cart() -> None:
    product = {"type": "segment", "segment": {"type": "product", "product_id": "sourdough"}}
    assert branch(product, cart=make_cart(product_id="sourdough")) == "yes"
    assert branch(product, cart=make_cart(product_id="rye")) == "no"
    band = {"type": "cart_value", "at_least": "50", "below": "100", "currency": "USD"}
    assert branch({"type": "segment", "segment": band}, cart=make_cart(value="80")) == "yes"
    assert branch({"type": "segment", "segment": band}, cart=make_cart(value="120")) == "no"


def test_a_segment_split_combines_negates_and_reads_consent_and_abandonments() -> None:
    repeat = {"type": "repeat_abandoner", "at_least": 3, "within": "30d"}
    sms = {"type": "consent", "channel": "sms"}
    both = {"type": "segment", "segment": {"type": "all", "segments": [repeat, sms]}}
    two_before = [T0 - timedelta(days=3), T0 - timedelta(days=10)]
    assert branch(both, earlier_abandonments=two_before, consent=granted("sms")) == "yes"
    assert branch(both, earlier_abandonments=two_before[:1], consent=granted("sms")) == "no"
    assert branch(both, earlier_abandonments=two_before) == "no"  # SMS never granted
    negated = {"type": "segment", "segment": {"type": "not", "segment": sms}}
    assert branch(negated) == "yes"
    assert branch(negated, consent=granted("sms")) == "no"


def test_a_flow_outcome_segment_reads_this_carts_enrolment() -> None:
    in_flow = {"type": "segment", "segment": {"type": "flow_outcome", "outcome": "in_flow"}}
    assert branch(in_flow) == "yes"  # the cart is in this flow while it runs
    other = {"outcome": "in_flow", "flow_id": "another-flow", "type": "flow_outcome"}
    assert branch({"type": "segment", "segment": other}) == "no"
    control = {"type": "segment", "segment": {"type": "flow_outcome", "outcome": "control"}}
    assert branch(control) == "no"  # a held-out cart is in no flow


def test_a_segment_condition_round_trips_through_the_flows_json() -> None:
    flow = split_flow({"type": "segment", "segment": {"type": "form", "form_id": "checkout"}})
    again = load_flow(flow.model_dump(mode="json"), templates=None)
    assert again == flow
    assert branch({"type": "segment", "segment": {"type": "form", "form_id": "checkout"}}) == "yes"


@pytest.mark.parametrize(
    "segment",
    [
        {"type": "nope"},
        {"type": "product"},
        {"type": "cart_value", "at_least": "9", "below": "1"},
        "x",
    ],
)
def test_a_bad_segment_is_refused_with_its_place(segment: object) -> None:
    with pytest.raises(FlowValidationError) as caught:
        split_flow({"type": "segment", "segment": segment})
    assert any("segment" in problem.path for problem in caught.value.problems)
