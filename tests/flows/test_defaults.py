"""The shipped flows load, validate, round-trip, and produce the documented timelines."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cartback._types import MessageChannel
from cartback.flows import (
    SHIPPED_TEMPLATES,
    DynamicCoupon,
    Flow,
    SendStep,
    conversational_flow,
    load_flow,
    multichannel_flow,
    push_flow,
    shipped_flows,
    track,
)
from tests.flows._support import (
    EMAIL,
    T0,
    World,
    consent_event,
    device,
    make_cart,
    recipient,
    timeline,
)

DOCS = Path(__file__).parent.parent.parent / "docs" / "flows.md"


def run(
    flow: Flow,
    *,
    value: str = "80",
    channels: tuple[MessageChannel, ...] = (),
    push_device: bool = False,
    engaged: bool = False,
    hours_after_t0: int = 0,
) -> list[tuple[str, str, str]]:
    world = World(flows={(flow.id, flow.version): flow})
    world.consent += [consent_event(channel) for channel in channels]
    if push_device:
        world.devices.append(device())
    world.recipients += [recipient(c) for c in channels if c in ("messenger", "instagram")]
    if engaged:
        world.activity += [
            track(EMAIL, "site_activity", at=T0 - timedelta(days=day)) for day in range(3)
        ]
    start = T0 + timedelta(hours=hours_after_t0)
    cart = make_cart(value=value, created=start)
    world.add(cart, flow)
    world.drain(start)
    assert world.enrolments[cart.id].exit_reason == "completed"
    return timeline(world, start)


SOCIAL: tuple[MessageChannel, ...] = ("sms", "instagram", "messenger")
SCENARIOS: dict[str, Callable[[], list[tuple[str, str, str]]]] = {
    "conversational": lambda: run(conversational_flow()),
    "conversational, abandoned at 20:00": lambda: run(conversational_flow(), hours_after_t0=10),
    "multichannel, email only": lambda: run(multichannel_flow()),
    "multichannel, every channel, 80 USD": lambda: run(multichannel_flow(), channels=SOCIAL),
    "multichannel, every channel, 80 USD, highly engaged": lambda: run(
        multichannel_flow(), channels=SOCIAL, engaged=True
    ),
    "multichannel, every channel, 150 USD": lambda: run(
        multichannel_flow(), channels=SOCIAL, value="150"
    ),
    "push, push subscriber with SMS": lambda: run(
        push_flow(), channels=("push", "sms"), push_device=True
    ),
    "push, email only": lambda: run(push_flow()),
}


def documented() -> dict[str, list[tuple[str, str, str]]]:
    text = DOCS.read_text(encoding="utf-8")
    tables: dict[str, list[tuple[str, str, str]]] = {}
    pattern = re.compile(r"<!-- timeline: (.+?) -->\n\| after .*\n\| ---.*\n((?:\|.*\n)*)")
    for match in pattern.finditer(text):
        rows = []
        for line in match.group(2).splitlines():
            cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
            rows.append((cells[0], cells[1], cells[2]))
        tables[match.group(1)] = rows
    return tables


def test_every_shipped_flow_validates_against_the_shipped_templates() -> None:
    for flow in shipped_flows():
        assert load_flow(flow.model_dump_json(), templates=SHIPPED_TEMPLATES) == flow


def test_the_shipped_flows_use_every_shipped_template_and_only_those() -> None:
    used = {
        step.template
        for flow in shipped_flows()
        for step in flow.steps
        if isinstance(step, SendStep)
    }
    assert used == SHIPPED_TEMPLATES


def test_no_shipped_push_carries_a_coupon_and_coupons_go_by_email_or_sms() -> None:
    for flow in shipped_flows():
        for step in flow.steps:
            if isinstance(step, SendStep) and step.coupon is not None:
                assert step.channel in ("email", "sms")
                assert isinstance(step.coupon, DynamicCoupon)


def test_the_high_value_threshold_is_a_setting() -> None:
    # 120 is below a 150 threshold: no SMS offer and no day-7 message
    flow = multichannel_flow(high_value=Decimal("150"))
    rows = run(flow, channels=SOCIAL, value="120")
    assert ("2d", "sms", "sms_offer") not in rows
    assert ("2d", "sms", "sms_offer") in run(flow, channels=SOCIAL, value="150")


def test_push_reminders_stop_when_the_coupon_expires() -> None:
    # valid 3 days from the SMS at 2d1h: one reminder at 4d1h, none at 6d1h
    rows = run(
        push_flow(coupon_valid_for=timedelta(days=3)), channels=("push", "sms"), push_device=True
    )
    assert [row for row in rows if row[2] == "push_coupon"] == [("4d1h", "push", "push_coupon")]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_documented_timelines_are_what_the_planner_does(name: str) -> None:
    tables = documented()
    assert name in tables, f"docs/flows.md has no timeline for {name!r}"
    assert SCENARIOS[name]() == tables[name]


def test_the_docs_show_no_timeline_that_is_not_tested() -> None:
    assert set(documented()) == set(SCENARIOS)
