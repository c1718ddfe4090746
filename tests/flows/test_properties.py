"""Random timelines of captures, orders, consent changes, replies and clock jumps, run
through the simulated dispatcher: whatever happens, no message goes out after an order
or a withdrawal, inside quiet hours, past a cap, or twice for one step, and every
enrolment ends (or waits on a reply)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback._models import Activity, MessageRecord
from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.consent import decide_consent
from cartback.flows import (
    Flow,
    Guards,
    OverallCap,
    conversational_flow,
    load_flow,
    multichannel_flow,
    push_flow,
)
from tests.flows._support import T0, World, consent_event, device, make_cart, recipient


@dataclass(frozen=True)
class Prospect:
    email: str
    country: str
    phone: str | None
    zone: str
    """The zone the prospect lives in, known independently of the planner."""


PROSPECTS = (
    Prospect("ava@example.com", "US", "+14155550100", "America/Los_Angeles"),
    Prospect("ben@example.com", "GB", "+447911123456", "Europe/London"),
    Prospect("cyd@example.com", "AU", None, "UTC"),  # several zones, no phone: the fallback
)

AB_UNTIL = load_flow(
    {
        "id": "ab_until",
        "version": 1,
        "steps": [
            {
                "type": "ab_split",
                "id": "test",
                "variants": [
                    {"name": "morning", "weight": 1, "next": "at_nine"},
                    {"name": "push", "weight": 1, "next": "push"},
                ],
            },
            {"type": "wait", "id": "at_nine", "duration": "20h", "until": "09:00", "next": "sms"},
            {
                "type": "send",
                "id": "sms",
                "channel": "sms",
                "template": "sms_offer",
                "next": "email",
            },
            {
                "type": "send",
                "id": "push",
                "channel": "push",
                "template": "push_reminder",
                "next": "email",
            },
            {
                "type": "send",
                "id": "email",
                "channel": "email",
                "template": "reminder",
                "next": "end",
            },
            {"type": "exit", "id": "end"},
        ],
    },
    templates=None,
)
PUSH_TWICE = load_flow(
    {
        "id": "push_twice",
        "version": 1,
        "steps": [
            {
                "type": "send",
                "id": "one",
                "channel": "push",
                "template": "push_reminder",
                "next": "wait",
            },
            {"type": "wait", "id": "wait", "duration": "30h", "next": "two"},
            {
                "type": "send",
                "id": "two",
                "channel": "push",
                "template": "push_coupon",
                "next": "end",
            },
            {"type": "exit", "id": "end"},
        ],
    },
    templates=None,
)
FLOWS: tuple[Flow, ...] = (
    conversational_flow(),
    multichannel_flow(),
    push_flow(),
    AB_UNTIL,
    PUSH_TWICE,
)

Event = tuple[Any, ...]
MINUTES = 20 * 24 * 60

events = st.lists(
    st.tuples(
        st.integers(0, MINUTES),
        st.one_of(
            st.tuples(
                st.just("capture"),
                st.integers(0, 2),
                st.integers(0, len(FLOWS) - 1),
                st.sampled_from(["60", "150"]),
            ),
            st.tuples(st.just("order"), st.integers(0, 5), st.booleans()),
            st.tuples(st.just("submit"), st.integers(0, 5)),
            st.tuples(
                st.just("consent"),
                st.integers(0, 2),
                st.sampled_from(MESSAGE_CHANNELS),
                st.sampled_from(["granted", "withdrawn"]),
            ),
            st.tuples(st.just("reply"), st.integers(0, 2)),
            st.tuples(st.just("resume"), st.integers(0, 5)),
            st.tuples(st.just("tick")),
        ),
    ),
    max_size=24,
)

guards_strategy = st.builds(
    Guards,
    on_cap=st.sampled_from(["skip", "defer"]),
    reply_pause=st.sampled_from([None, timedelta(days=1)]),
    recent_flow=st.sampled_from([None, timedelta(days=3)]),
    overall_cap=st.sampled_from(
        [
            OverallCap(),
            OverallCap(limit=1, window=timedelta(hours=12)),
            OverallCap(limit=2, window=timedelta(days=2)),
        ]
    ),
)


@dataclass
class Log:
    replies: dict[str, list[datetime]]
    resumes: dict[str, list[datetime]]


def simulate(
    timeline: list[tuple[int, Event]],
    guards: Guards,
    setup: dict[str, Any],
    punctual: bool,
    crashes: set[int],
) -> tuple[World, Log]:
    world = World(flows={(flow.id, flow.version): flow for flow in FLOWS}, guards=guards)
    world.crash_after_send = crashes
    for index, prospect in enumerate(PROSPECTS):
        for channel in setup["grants"][index]:
            world.consent.append(consent_event(channel, prospect=prospect.email))
        if setup["devices"][index]:
            world.devices.append(device(prospect.email))
        if setup["social"][index]:
            world.recipients += [recipient(p, prospect.email) for p in ("messenger", "instagram")]
        for days in range(setup["visits"][index]):
            world.activity.append(
                Activity(
                    prospect=prospect.email, kind="site_activity", at=T0 - timedelta(days=days)
                )
            )
    log = Log(replies=defaultdict(list), resumes=defaultdict(list))
    order: list[str] = []
    ordered = sorted(timeline, key=lambda item: item[0])
    now = T0
    for number, (minute, event) in enumerate(ordered):
        now = T0 + timedelta(minutes=minute)
        apply(world, event, now, order, log)
        world.dispatch(now)
        if punctual and number + 1 < len(ordered):
            world.drain(now, until=T0 + timedelta(minutes=ordered[number + 1][0]))
    world.drain(now)
    return world, log


def apply(world: World, event: Event, now: datetime, order: list[str], log: Log) -> None:
    kind = event[0]
    if kind == "capture":
        prospect = PROSPECTS[event[1]]
        cart = make_cart(
            cart_id=f"cart-{len(order)}",
            email=prospect.email,
            phone=prospect.phone,
            country=prospect.country,
            value=event[3],
            created=now,
        )
        order.append(cart.id)
        world.add(cart, FLOWS[event[2]])
    elif kind in ("order", "submit", "resume") and order:
        cart_id = order[event[1] % len(order)]
        cart = world.carts[cart_id]
        if kind == "order" and cart.status != "ordered":
            world.carts[cart_id] = cart.model_copy(update={"status": "ordered", "ordered_at": now})
            key = cart.contact.prospect_key
            assert key is not None
            if event[2]:  # the shop also tracks the purchase (or it does not)
                world.activity.append(Activity(prospect=key, kind="purchase", at=now))
        elif kind == "submit" and cart.status == "open":
            world.carts[cart_id] = cart.model_copy(
                update={"status": "submitted", "submitted_at": now}
            )
        elif kind == "resume":
            world.enrolments[cart_id] = world.enrolments[cart_id].resume(now)
            log.resumes[cart_id].append(now)
    elif kind == "consent":
        email = PROSPECTS[event[1]].email
        world.consent.append(consent_event(event[2], event[3], now, prospect=email))
    elif kind == "reply":
        email = PROSPECTS[event[1]].email
        world.replied[email] = now
        log.replies[email].append(now)


# -- the invariants ------------------------------------------------------------------------


def check(world: World, log: Log, guards: Guards) -> None:
    audience = guards.audience_templates
    sent = world.sent()
    by_prospect: dict[str, list[MessageRecord]] = defaultdict(list)
    for record in sent:
        if record.template not in audience:
            by_prospect[record.prospect].append(record)

    zones = {prospect.email: ZoneInfo(prospect.zone) for prospect in PROSPECTS}
    for record in sent:
        cart = world.carts[record.cart_id]
        enrolment = world.enrolments[record.cart_id]
        # never after the order, nor after any purchase since the enrolment began
        if cart.ordered_at is not None:
            assert record.at < cart.ordered_at, "a message after the order"
        assert not any(
            item.kind == "purchase"
            and item.prospect == record.prospect
            and enrolment.started_at <= item.at <= record.at
            for item in world.activity
        ), "a message after a purchase"
        # never without consent at the moment it went out
        events = [event for event in world.consent if event.prospect == record.prospect]
        assert decide_consent(events, record.channel, record.at).allowed, (
            "a message without consent"
        )
        # never in quiet hours, in the zone the prospect lives in
        if record.template not in audience:
            local = record.at.astimezone(zones[record.prospect]).time()
            assert 8 <= local.hour < 21, f"a message at {local} local time"
        # never while a reply pauses the flow
        for reply in log.replies[record.prospect]:
            if reply < enrolment.started_at or reply > record.at:
                continue
            if guards.reply_pause is not None and record.at >= reply + guards.reply_pause:
                continue
            assert any(reply <= resume <= record.at for resume in log.resumes[record.cart_id]), (
                "a message while a reply pauses the flow"
            )

    for records in by_prospect.values():
        records.sort(key=lambda record: record.at)
        last: dict[MessageChannel, datetime] = {}
        for position, record in enumerate(records):
            cap = guards.channel_caps.get(record.channel)
            previous = last.get(record.channel)
            if cap and previous is not None:
                assert record.at - previous >= cap, f"{record.channel} cap broken"
            last[record.channel] = record.at
            overall = guards.overall_cap
            if overall is not None:
                window = [r for r in records[: position + 1] if r.at > record.at - overall.window]
                assert len(window) <= overall.limit, "overall cap broken"
            for other in records[:position]:
                if (record.channel == "push") != (other.channel == "push"):
                    assert guards.push_window is not None
                    assert record.at - other.at >= guards.push_window, "a push beside a message"
                if record.channel == other.channel == "push":
                    assert guards.push_min_gap is not None
                    assert record.at - other.at >= guards.push_min_gap, "a daily push"

    # once per step: sent or skipped, never twice
    keys = [
        (record.cart_id, record.flow_id, record.flow_version, record.step_id)
        for record in world.history
        if record.status in ("sent", "skipped")
    ]
    assert len(keys) == len(set(keys)), "a step ran twice"

    # skips are justified
    for record in world.history:
        if record.status != "skipped":
            continue
        events = [event for event in world.consent if event.prospect == record.prospect]
        if record.reason in ("no_consent", "consent_withdrawn"):
            assert not decide_consent(events, record.channel, record.at).allowed
        elif record.reason == "channel_cap":
            cap = guards.channel_caps[record.channel]
            assert any(
                r.channel == record.channel and record.at - cap < r.at <= record.at
                for r in by_prospect[record.prospect]
            )
        elif record.reason == "overall_cap":
            assert guards.overall_cap is not None
            span = guards.overall_cap.window
            count = sum(
                1 for r in by_prospect[record.prospect] if record.at - span < r.at <= record.at
            )
            assert count >= guards.overall_cap.limit
        else:
            assert record.reason == "no_address"

    # every enrolment progressed: it ended for a reason that holds, or waits on a reply
    for cart_id, enrolment in world.enrolments.items():
        if not enrolment.finished:
            plan = world.plan(cart_id, datetime.max.replace(tzinfo=T0.tzinfo) - timedelta(days=1))
            assert (plan.kind, plan.at) == ("pause", None), f"{cart_id} is stuck: {plan}"
            continue
        reason = enrolment.exit_reason
        cart = world.carts[cart_id]
        if reason == "ordered":
            assert cart.status == "ordered"
        elif reason == "purchased":
            assert any(
                a.kind == "purchase" and a.prospect == enrolment.prospect for a in world.activity
            )
        elif reason == "consent_withdrawn":
            assert any(
                e.action == "withdrawn" and e.prospect == enrolment.prospect for e in world.consent
            )
        elif reason == "recent_flow":
            assert guards.recent_flow is not None
        else:
            assert reason == "completed"


grants = st.lists(
    st.frozensets(st.sampled_from(["sms", "push", "messenger", "instagram"])),
    min_size=3,
    max_size=3,
)
flags = st.lists(st.booleans(), min_size=3, max_size=3)
setups = st.fixed_dictionaries(
    {
        "grants": grants,
        "devices": flags,
        "social": flags,
        "visits": st.lists(st.integers(0, 4), min_size=3, max_size=3),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timeline=events,
    guards=guards_strategy,
    setup=setups,
    punctual=st.booleans(),
    crashes=st.sets(st.integers(1, 12), max_size=3),
)
def test_random_timelines_keep_every_promise(
    timeline: list[tuple[int, Event]],
    guards: Guards,
    setup: dict[str, Any],
    punctual: bool,
    crashes: set[int],
) -> None:
    world, log = simulate(timeline, guards, setup, punctual, crashes)
    check(world, log, guards)


@settings(max_examples=60, deadline=None)
@given(
    starts=st.lists(st.integers(0, MINUTES), min_size=1, max_size=4),
    flow=st.sampled_from([flow for flow in FLOWS if flow is not PUSH_TWICE]),
    punctual=st.booleans(),
)
def test_an_untroubled_cart_always_gets_its_first_email(
    starts: list[int], flow: Flow, punctual: bool
) -> None:
    """Carts of one prospect that nobody orders, withdraws or replies to: each flow
    finishes, and the prospect got at least one message from it."""
    timeline = [(minute, ("capture", 0, FLOWS.index(flow), "60")) for minute in starts]
    guards = Guards()
    world, log = simulate(
        timeline,
        guards,
        {
            "grants": [frozenset()] * 3,
            "devices": [False] * 3,
            "social": [False] * 3,
            "visits": [0] * 3,
        },
        punctual,
        set(),
    )
    check(world, log, guards)
    assert all(e.finished and e.exit_reason == "completed" for e in world.enrolments.values())
    assert world.sent(), "nothing was sent"
    first = min(world.enrolments.values(), key=lambda e: e.started_at)
    assert any(r.cart_id == first.cart_id for r in world.sent())


@settings(max_examples=60, deadline=None)
@given(
    starts=st.lists(st.integers(0, 6 * 24 * 60), min_size=1, max_size=4),
    flows=st.lists(st.sampled_from([2, 3, 4]), min_size=4, max_size=4),
    ticks=st.lists(st.integers(0, MINUTES), max_size=6),
    punctual=st.booleans(),
)
def test_push_subscribers_with_several_carts_get_no_daily_push(
    starts: list[int], flows: list[int], ticks: list[int], punctual: bool
) -> None:
    """The push-heavy flows, for one prospect who accepts everything: pushes stay two
    days apart and away from other messages, whatever the carts' overlap."""
    timeline: list[tuple[int, Event]] = [
        (minute, ("capture", 0, flows[number], "150")) for number, minute in enumerate(starts)
    ]
    timeline += [(minute, ("tick",)) for minute in ticks]
    everything = frozenset({"sms", "push", "messenger", "instagram"})
    setup = {
        "grants": [everything] * 3,
        "devices": [True] * 3,
        "social": [True] * 3,
        "visits": [4] * 3,
    }
    guards = Guards()
    world, log = simulate(timeline, guards, setup, punctual, set())
    check(world, log, guards)
    assert any(record.channel == "push" for record in world.sent())
