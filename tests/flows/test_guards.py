"""Each guard on its own: what it does to a planned message and the reason it records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cartback import InvalidInputError
from cartback._models import PaymentFailure
from cartback._types import MessageChannel
from cartback.flows import (
    DEFER_REASONS,
    EXIT_REASONS,
    SKIP_REASONS,
    Flow,
    Guards,
    OverallCap,
    QuietHours,
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

LA = "America/Los_Angeles"


def one_send(
    channel: MessageChannel = "email", *, wait: str = "3h", template: str = "reminder"
) -> Flow:
    return load_flow(
        {
            "id": f"one-{channel}",
            "version": 1,
            "steps": [
                {"type": "wait", "id": "wait", "duration": wait, "next": "send"},
                {
                    "type": "send",
                    "id": "send",
                    "channel": channel,
                    "template": template,
                    "next": "end",
                },
                {"type": "exit", "id": "end"},
            ],
        },
        templates=None,
    )


def two_sends(first: MessageChannel, second: MessageChannel) -> Flow:
    return load_flow(
        {
            "id": "two",
            "version": 1,
            "steps": [
                {"type": "send", "id": "first", "channel": first, "template": "a", "next": "wait"},
                {"type": "wait", "id": "wait", "duration": "1d", "next": "second"},
                {"type": "send", "id": "second", "channel": second, "template": "b", "next": "end"},
                {"type": "exit", "id": "end"},
            ],
        },
        templates=None,
    )


EMAIL_FLOW = one_send()
DUE = T0 + timedelta(hours=3)  # 13:00 in Los Angeles


def test_a_due_email_is_sent_when_nothing_holds_it_back() -> None:
    result = plan(EMAIL_FLOW, make_cart(), now=DUE)
    assert (result.kind, result.at, result.deferred) == ("send", DUE, ())
    assert result.step is not None
    assert result.step.id == "send"
    assert result.due_at(DUE)
    assert result.then == "end"
    assert result.path == ("wait",)


def test_a_future_step_is_planned_for_its_time_and_not_due_yet() -> None:
    result = plan(EMAIL_FLOW, make_cart(), now=T0)
    assert (result.kind, result.at) == ("send", DUE)
    assert not result.due_at(T0)


def test_reason_vocabularies_are_stable() -> None:
    assert SKIP_REASONS == (
        "no_consent",
        "consent_withdrawn",
        "no_address",
        "channel_cap",
        "overall_cap",
    )
    assert DEFER_REASONS == (
        "quiet_hours",
        "push_near_message",
        "no_daily_push",
        "awaiting_order",
        "channel_cap",
        "overall_cap",
    )
    assert EXIT_REASONS == ("ordered", "purchased", "consent_withdrawn", "recent_flow", "completed",
                            "control_group")  # fmt: skip


# -- exits ---------------------------------------------------------------------------------


def test_an_ordered_cart_exits_at_once_even_with_a_message_due() -> None:
    result = plan(EMAIL_FLOW, make_cart(status="ordered"), now=DUE)
    assert (result.kind, result.reason, result.at) == ("exit", "ordered", DUE)
    off = plan(EMAIL_FLOW, make_cart(status="ordered"), now=DUE, guards=Guards(exit_on_order=False))
    assert off.kind == "send"


def test_the_live_cart_is_rechecked_right_before_the_send() -> None:
    cart = make_cart()
    enrolment = enrol(cart, EMAIL_FLOW)
    planned = plan_next(EMAIL_FLOW, enrolment, facts(cart), now=T0)
    assert planned.kind == "send"
    ordered = cart.model_copy(
        update={"status": "ordered", "ordered_at": DUE - timedelta(minutes=1)}
    )
    again = plan_next(EMAIL_FLOW, enrolment, facts(ordered), now=DUE)
    assert (again.kind, again.reason) == ("exit", "ordered")


def test_a_purchase_since_the_enrolment_exits() -> None:
    bought = track(EMAIL, "purchase", at=T0 + timedelta(hours=1), value="80")
    result = plan(EMAIL_FLOW, make_cart(), now=DUE, activity=[bought])
    assert (result.kind, result.reason) == ("exit", "purchased")
    earlier = track(EMAIL, "purchase", at=T0 - timedelta(days=3))
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, activity=[earlier]).kind == "send"
    off = Guards(exit_on_purchase=False)
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, activity=[bought], guards=off).kind == "send"


def test_withdrawal_on_every_remaining_channel_exits() -> None:
    result = plan(EMAIL_FLOW, make_cart(), now=DUE, consent=withdrawn("email"))
    assert (result.kind, result.reason) == ("exit", "consent_withdrawn")


def test_withdrawal_on_some_remaining_channels_skips_those_steps() -> None:
    flow = two_sends("email", "sms")
    consent = granted("sms")
    consent["email"] = withdrawn("email")["email"]
    first = plan(flow, make_cart(), now=T0, consent=consent)
    assert (first.kind, first.reason) == ("skip", "consent_withdrawn")
    guards = Guards(exit_on_withdrawal=False)
    only_email = plan(EMAIL_FLOW, make_cart(), now=DUE, consent=withdrawn("email"), guards=guards)
    assert (only_email.kind, only_email.reason) == ("skip", "consent_withdrawn")


def test_withdrawal_only_counts_channels_still_ahead() -> None:
    flow = two_sends("sms", "email")
    cart = make_cart()
    enrolment = enrol(cart, flow)
    first = plan_next(flow, enrolment, facts(cart, consent=granted("sms")), now=T0)
    assert first.kind == "send"
    after = enrolment.after(first, at=T0)
    # SMS withdrawn once the SMS step is behind: email is still ahead, so no exit
    result = plan_next(
        flow, after, facts(cart, consent=withdrawn("sms")), now=T0 + timedelta(days=1)
    )
    assert result.kind == "send"
    assert result.step is not None
    assert result.step.channel == "email"


def test_recent_flow_rule_is_off_by_default_and_exits_when_set() -> None:
    earlier = sent("email", T0 - timedelta(days=3), cart_id="older")
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, history=[earlier]).kind == "send"
    guards = Guards(recent_flow=timedelta(days=7))
    result = plan(EMAIL_FLOW, make_cart(), now=DUE, history=[earlier], guards=guards)
    assert (result.kind, result.reason) == ("exit", "recent_flow")
    long_ago = sent("email", T0 - timedelta(days=10), cart_id="older")
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, history=[long_ago], guards=guards).kind == "send"
    skipped = sent("email", T0 - timedelta(days=3), cart_id="older", status="skipped")
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, history=[skipped], guards=guards).kind == "send"


def test_a_finished_enrolment_keeps_its_exit() -> None:
    cart = make_cart(status="ordered")
    enrolment = enrol(cart, EMAIL_FLOW)
    exit_plan = plan_next(EMAIL_FLOW, enrolment, facts(cart), now=T0)
    done = enrolment.after(exit_plan, at=T0)
    assert done.finished
    assert done.exit_reason == "ordered"
    again = plan_next(EMAIL_FLOW, done, facts(make_cart()), now=DUE)
    assert (again.kind, again.reason, again.at) == ("exit", "ordered", T0)


# -- reply pause ---------------------------------------------------------------------------


def test_a_reply_pauses_until_staff_resume() -> None:
    cart = make_cart()
    enrolment = enrol(cart, EMAIL_FLOW)
    replied = T0 + timedelta(hours=1)
    paused = plan_next(EMAIL_FLOW, enrolment, facts(cart, replied_at=replied), now=DUE)
    assert (paused.kind, paused.reason, paused.at) == ("pause", "replied", None)
    assert enrolment.after(paused, at=DUE) == enrolment
    resumed = enrolment.resume(DUE)
    assert plan_next(EMAIL_FLOW, resumed, facts(cart, replied_at=replied), now=DUE).kind == "send"
    later_reply = plan_next(
        EMAIL_FLOW, resumed, facts(cart, replied_at=DUE + timedelta(minutes=5)), now=DUE
    )
    assert later_reply.kind == "pause"


def test_a_reply_pause_can_end_by_itself() -> None:
    guards = Guards(reply_pause=timedelta(days=2))
    replied = T0 + timedelta(hours=1)
    paused = plan(EMAIL_FLOW, make_cart(), now=DUE, replied_at=replied, guards=guards)
    assert (paused.kind, paused.at) == ("pause", replied + timedelta(days=2))
    later = replied + timedelta(days=2)
    assert (
        plan(EMAIL_FLOW, make_cart(), now=later, replied_at=replied, guards=guards).kind == "send"
    )


def test_replies_before_the_enrolment_or_with_the_guard_off_do_not_pause() -> None:
    before = T0 - timedelta(days=1)
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, replied_at=before).kind == "send"
    off = Guards(pause_on_reply=False)
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, replied_at=DUE, guards=off).kind == "send"


def test_an_order_wins_over_a_reply() -> None:
    result = plan(EMAIL_FLOW, make_cart(status="ordered"), now=DUE, replied_at=DUE)
    assert (result.kind, result.reason) == ("exit", "ordered")


# -- consent and addresses -----------------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "push", "messenger", "instagram"])
def test_channels_other_than_email_need_a_grant(channel: MessageChannel) -> None:
    flow = one_send(channel)
    result = plan(
        flow,
        make_cart(),
        now=DUE,
        devices=[device()],
        recipients=[recipient("messenger"), recipient("instagram")],
    )
    assert (result.kind, result.reason) == ("skip", "no_consent")
    assert result.then == "end"
    ok = plan(
        flow,
        make_cart(),
        now=DUE,
        consent=granted(channel),
        devices=[device()],
        recipients=[recipient("messenger"), recipient("instagram")],
    )
    assert ok.kind == "send"


def test_email_is_the_default_channel() -> None:
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, consent={}).kind == "send"


@pytest.mark.parametrize(
    ("channel", "cart_changes", "extra"),
    [
        ("email", {"email": None}, {}),
        ("sms", {"phone": None}, {}),
        ("push", {}, {"devices": [device(invalidated=True)]}),
        ("messenger", {}, {"recipients": [recipient("instagram")]}),
        ("instagram", {}, {"recipients": [recipient("messenger")]}),
    ],
)
def test_a_step_with_nowhere_to_send_is_skipped(
    channel: MessageChannel, cart_changes: dict[str, Any], extra: dict[str, Any]
) -> None:
    cart = make_cart(**cart_changes)
    flow = one_send(channel)
    enrolment = enrol(make_cart(), flow)  # the prospect key comes from the enrolment
    consent = granted("sms", "push", "messenger", "instagram")
    result = plan_next(flow, enrolment, facts(cart, consent=consent, **extra), now=DUE)
    assert (result.kind, result.reason) == ("skip", "no_address")


def test_an_unverified_phone_is_not_an_sms_address() -> None:
    cart = make_cart().model_copy(
        update={"contact": make_cart().contact.model_copy(update={"phone_e164": False})}
    )
    flow = one_send("sms")
    enrolment = enrol(make_cart(), flow)
    result = plan_next(flow, enrolment, facts(cart, consent=granted("sms")), now=DUE)
    assert result.reason == "no_address"


# -- push window and no daily push ---------------------------------------------------------


def test_no_push_within_the_window_after_another_message() -> None:
    flow = one_send("push")
    email = sent("email", DUE - timedelta(minutes=20))
    result = plan(
        flow, make_cart(), now=DUE, consent=granted("push"), devices=[device()], history=[email]
    )
    assert (result.kind, result.at, result.deferred) == (
        "send",
        email.at + timedelta(hours=1),
        ("push_near_message",),
    )


def test_no_other_message_within_the_window_after_a_push() -> None:
    push = sent("push", DUE - timedelta(minutes=50))
    result = plan(EMAIL_FLOW, make_cart(), now=DUE, history=[push])
    assert (result.at, result.deferred) == (push.at + timedelta(hours=1), ("push_near_message",))
    off = plan(EMAIL_FLOW, make_cart(), now=DUE, history=[push], guards=Guards(push_window=None))
    assert off.at == DUE


def test_no_daily_push() -> None:
    flow = one_send("push")
    earlier = sent("push", DUE - timedelta(hours=44))
    guards = Guards(channel_caps={})  # the 24 h smart-sending cap alone would allow it
    result = plan(
        flow,
        make_cart(),
        now=DUE,
        consent=granted("push"),
        devices=[device()],
        history=[earlier],
        guards=guards,
    )
    assert (result.kind, result.at, result.deferred) == (
        "send",
        earlier.at + timedelta(hours=48),
        ("no_daily_push",),
    )


# -- caps ----------------------------------------------------------------------------------


def test_smart_sending_skips_an_email_within_16_hours_of_another() -> None:
    other = sent("email", DUE - timedelta(hours=15), cart_id="other-cart", flow=("other", 3))
    result = plan(EMAIL_FLOW, make_cart(), now=DUE, history=[other])
    assert (result.kind, result.reason) == ("skip", "channel_cap")
    after = sent("email", DUE - timedelta(hours=16))
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, history=[after]).kind == "send"


def test_failed_and_skipped_messages_do_not_count_towards_caps() -> None:
    history = [
        sent("email", DUE - timedelta(hours=1), status="failed"),
        sent("email", DUE - timedelta(hours=2), status="skipped"),
    ]
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, history=history).kind == "send"


@pytest.mark.parametrize("channel", ["sms", "push"])
def test_sms_and_push_caps_are_24_hours(channel: MessageChannel) -> None:
    flow = one_send(channel)
    earlier = sent(channel, DUE - timedelta(hours=23))
    kwargs: dict[str, Any] = {"consent": granted(channel), "devices": [device()]}
    guards = Guards(push_min_gap=None)
    result = plan(flow, make_cart(), now=DUE, history=[earlier], guards=guards, **kwargs)
    assert (result.kind, result.reason) == ("skip", "channel_cap")
    ok = sent(channel, DUE - timedelta(hours=24))
    assert plan(flow, make_cart(), now=DUE, history=[ok], guards=guards, **kwargs).kind == "send"


def test_caps_can_defer_instead_of_skipping() -> None:
    other = sent("email", DUE - timedelta(hours=10))
    result = plan(EMAIL_FLOW, make_cart(), now=DUE, history=[other], guards=Guards(on_cap="defer"))
    assert (result.kind, result.at, result.deferred) == (
        "send",
        other.at + timedelta(hours=16),
        ("channel_cap",),
    )


def test_the_overall_cap_counts_every_channel() -> None:
    history = [
        sent("sms", DUE - timedelta(hours=20)),
        sent("messenger", DUE - timedelta(hours=12)),
        sent("instagram", DUE - timedelta(hours=5)),
    ]
    result = plan(EMAIL_FLOW, make_cart(), now=DUE, history=history)
    assert (result.kind, result.reason) == ("skip", "overall_cap")
    deferred = plan(
        EMAIL_FLOW, make_cart(), now=DUE, history=history, guards=Guards(on_cap="defer")
    )
    assert (deferred.at, deferred.deferred) == (
        history[0].at + timedelta(hours=24),
        ("overall_cap",),
    )
    loose = Guards(overall_cap=OverallCap(limit=4))
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, history=history, guards=loose).kind == "send"
    assert (
        plan(
            EMAIL_FLOW, make_cart(), now=DUE, history=history, guards=Guards(overall_cap=None)
        ).kind
        == "send"
    )


def test_audience_events_neither_count_nor_are_capped() -> None:
    audience = sent("instagram", DUE - timedelta(hours=1), template="instagram_audience")
    assert plan(EMAIL_FLOW, make_cart(), now=DUE, history=[audience] * 3).kind == "send"
    flow = one_send("instagram", template="instagram_audience")
    late = DUE + timedelta(hours=10)  # 23:00 in Los Angeles: quiet hours do not apply
    result = plan(flow, make_cart(), now=late, consent=granted("instagram"), history=[audience])
    assert (result.kind, result.at) == ("send", late)


# -- quiet hours ---------------------------------------------------------------------------


def test_quiet_hours_defer_to_the_morning_in_the_prospects_zone() -> None:
    cart = make_cart(created=T0 + timedelta(hours=10))  # 20:00 in Los Angeles; due at 23:00
    result = plan(EMAIL_FLOW, cart, now=cart.created_at + timedelta(hours=3))
    morning = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 08:00 PST
    assert (result.kind, result.at, result.deferred) == ("send", morning, ("quiet_hours",))
    assert result.due == cart.created_at + timedelta(hours=3)


def test_quiet_hours_follow_the_country() -> None:
    cart = make_cart(country="GB", phone=None, created=T0 + timedelta(hours=3))  # 21:00 London
    result = plan(one_send(wait="0m"), cart, now=cart.created_at)
    assert result.at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_quiet_hours_are_configurable_and_can_be_off() -> None:
    cart = make_cart(created=T0 + timedelta(hours=10))
    now = cart.created_at + timedelta(hours=3)
    assert plan(EMAIL_FLOW, cart, now=now, guards=Guards(quiet_hours=None)).at == now
    sms_only = Guards(quiet_hours=QuietHours(channels=frozenset({"sms"})))
    assert plan(EMAIL_FLOW, cart, now=now, guards=sms_only).at == now
    late = Guards(quiet_hours=QuietHours(start="23:30", end="07:00"))
    assert plan(EMAIL_FLOW, cart, now=now, guards=late).at == now


def test_a_dispatcher_that_runs_late_never_sends_in_quiet_hours() -> None:
    # due at 13:00, the dispatcher only runs again at 02:00: the email waits for 08:00
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 02:00 PST
    result = plan(EMAIL_FLOW, make_cart(), now=now)
    assert (result.at, result.deferred) == (
        datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
        ("quiet_hours",),
    )


def test_deferrals_combine_until_every_guard_agrees() -> None:
    # an email at 20:30 pushes this email past the cap (deferred) into quiet hours
    other = sent("email", datetime(2026, 11, 23, 4, 30, tzinfo=UTC))  # 20:30 PST the day before
    now = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)  # 11:00 PST; cap until 12:30 PST
    cart = make_cart(created=now - timedelta(hours=3))
    result = plan(EMAIL_FLOW, cart, now=now, history=[other], guards=Guards(on_cap="defer"))
    assert result.at == other.at + timedelta(hours=16)
    late = sent("email", datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # 04:00 PST: cap to 20:00 PST
    result = plan(
        EMAIL_FLOW,
        cart,
        now=now,
        history=[late],
        guards=Guards(on_cap="defer", quiet_hours=QuietHours(start="19:00", end="08:00")),
    )
    assert result.at == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert result.deferred == ("channel_cap", "quiet_hours")


# -- submitted carts -----------------------------------------------------------------------


def test_a_submitted_cart_waits_for_the_order_confirmation() -> None:
    submitted = DUE - timedelta(minutes=30)
    cart = make_cart(status="submitted", submitted_at=submitted)
    result = plan(EMAIL_FLOW, cart, now=DUE)
    assert (result.kind, result.at, result.deferred) == (
        "send",
        submitted + timedelta(hours=2),
        ("awaiting_order",),
    )
    assert plan(EMAIL_FLOW, cart, now=DUE, guards=Guards(submitted_wait=None)).at == DUE


def test_a_payment_failure_after_the_submission_ends_the_wait() -> None:
    submitted = DUE - timedelta(minutes=30)
    failure = PaymentFailure(reason="authentication_timeout", at=submitted + timedelta(minutes=1))
    cart = make_cart(status="submitted", submitted_at=submitted, payment_failures=(failure,))
    assert plan(EMAIL_FLOW, cart, now=DUE).at == DUE


# -- exactly once, catching up, determinism ------------------------------------------------


def test_a_step_already_in_the_history_is_not_planned_again() -> None:
    # the dispatcher crashed after the send, before it advanced the enrolment
    flow = two_sends("email", "email")
    cart = make_cart()
    enrolment = enrol(cart, flow)
    record = sent("email", T0, cart_id=cart.id, step_id="first", flow=("two", 1))
    result = plan_next(
        flow, enrolment, facts(cart, history=[record]), now=T0 + timedelta(minutes=5)
    )
    assert result.step is not None
    assert result.step.id == "second"
    assert result.at == T0 + timedelta(days=1)
    assert "first" in result.path
    other_version = sent("email", T0, cart_id=cart.id, step_id="first", flow=("two", 2))
    again = plan_next(flow, enrolment, facts(cart, history=[other_version]), now=T0)
    assert again.step is not None
    assert again.step.id == "first"


def test_a_late_dispatcher_catches_up_and_later_waits_count_from_the_send() -> None:
    flow = two_sends("email", "email")
    cart = make_cart()
    enrolment = enrol(cart, flow)
    late = T0 + timedelta(days=2)  # 10:00 PST: not quiet
    first = plan_next(flow, enrolment, facts(cart), now=late)
    assert (first.kind, first.at, first.due) == ("send", late, T0)
    after = enrolment.after(first, at=late)
    second = plan_next(flow, after, facts(cart), now=late)
    assert second.at == late + timedelta(days=1)


def test_the_planner_is_deterministic() -> None:
    history = [sent("email", DUE - timedelta(hours=15))]
    first = plan(EMAIL_FLOW, make_cart(), now=DUE, history=history)
    assert first == plan(EMAIL_FLOW, make_cart(), now=DUE, history=tuple(reversed(history)))


def test_naive_times_and_unpinned_flows_are_refused() -> None:
    cart = make_cart()
    enrolment = enrol(cart, EMAIL_FLOW)
    with pytest.raises(InvalidInputError) as caught:
        plan_next(EMAIL_FLOW, enrolment, facts(cart), now=datetime(2026, 11, 23, 12, 0))
    assert caught.value.reason == "naive_datetime"
    lost = enrolment.model_copy(update={"position": "gone"})
    with pytest.raises(InvalidInputError) as caught:
        plan_next(EMAIL_FLOW, lost, facts(cart), now=DUE)
    assert caught.value.reason == "unknown_step"
    newer = EMAIL_FLOW.model_copy(update={"version": 2})
    with pytest.raises(InvalidInputError) as caught:
        plan_next(newer, enrolment, facts(cart), now=DUE)
    assert caught.value.reason == "not_pinned"


def test_guards_round_trip_through_json_and_refuse_unknown_zones() -> None:
    guards = Guards(on_cap="defer", recent_flow=timedelta(days=14), fallback_time_zone=LA)
    assert Guards.model_validate_json(guards.model_dump_json()) == guards
    assert '"email":"16h"' in Guards().model_dump_json()
    with pytest.raises(ValueError, match="time zone"):
        Guards(fallback_time_zone="Mars/Olympus_Mons")
