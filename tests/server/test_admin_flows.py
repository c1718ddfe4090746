"""The dashboard's flows page over HTTP (the flows in use, their steps, enrolments by state,
messages per step by status, the period picker) and its pure views."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cartback import Cartback
from cartback.flows import ExitStep, Flow, FlowAssignments, SendStep, WaitStep
from server_example.admin_flow_views import flow_views
from server_example.app import create_app
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.fixtures import RECEIVER_PASSWORD, FakeMonotonic
from tests.server.support import cart_submission, log_in, seed


@pytest.fixture
def receiver_settings(receiver_settings: Settings) -> Settings:
    """No background dispatcher (the tests tick it), half the prospects held out of the
    conversational flow."""
    return dataclasses.replace(
        receiver_settings, dispatcher=False, flows={"control": {"conversational": 0.5}}
    )


def article(page: str, flow_id: str) -> str:
    match = re.search(rf'<article class="flow" data-flow="{flow_id}".*?</article>', page, re.S)
    assert match is not None, f"no current version of {flow_id}"
    return match.group(0)


def states(block: str) -> dict[str, int]:
    found = re.findall(r'data-state="([^"]+)"><span class="count">([\d,]+)</span>', block)
    return {state: int(count.replace(",", "")) for state, count in found}


def test_the_flows_in_use_with_their_steps(admin: TestClient) -> None:
    page = admin.get("/admin/flows")
    assert page.status_code == 200
    assert "<h1>Flows</h1>" in page.text
    block = article(page.text, "conversational")
    assert "Carts that enter it: every other cart." in block
    assert "Control group: 50% of prospects are held out" in block
    assert re.search(r'<li data-step="[^"]+"><code>[^<]+</code>: send email', block)
    assert "No cart of the period entered this flow." in block
    assert 'id="no-figures"' in page.text


def test_enrolments_and_messages_of_the_period(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(cartback, clock, [cart_submission(f"p{i}@example.com") for i in range(12)])
    runner = admin.app.state.recovery  # type: ignore[attr-defined]
    runner.tick()
    clock.advance(hours=3, minutes=1)
    runner.tick()
    page = admin.get("/admin/flows?period=7d").text
    block = article(page, "conversational")
    found = states(block)
    assert sum(found.values()) == 12
    assert set(found) <= {"running", "completed", "control_group"}
    held_out = found.get("control_group", 0)
    assert 0 < held_out < 12  # half of the prospects, by a hash: not none, not all
    sent = sum(int(n) for n in re.findall(r'<td class="sent">(\d+)</td>', block))
    assert sent == 12 - held_out
    assert 'id="by-flow"' in page
    assert 'id="by-step"' in page


def test_the_period_picker_picks_the_carts(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    now = clock.now
    clock.now = now - timedelta(days=20)
    seed(cartback, clock, [cart_submission("old@example.com")])
    clock.now = now
    admin.app.state.recovery.tick()  # type: ignore[attr-defined]
    month = sum(
        states(article(admin.get("/admin/flows?period=30d").text, "conversational")).values()
    )
    week = sum(states(article(admin.get("/admin/flows?period=7d").text, "conversational")).values())
    assert (month, week) == (1, 0)
    first = (now - timedelta(days=21)).date().isoformat()
    last = (now - timedelta(days=19)).date().isoformat()
    chosen = admin.get(f"/admin/flows?period=custom&from={first}&to={last}").text
    assert sum(states(article(chosen, "conversational")).values()) == 1


def test_bad_period_input_is_a_400_naming_it(admin: TestClient) -> None:
    page = admin.get("/admin/flows?period=custom&from=yesterday&to=2026-11-01")
    assert page.status_code == 400
    assert "This period cannot be used" in page.text


def test_no_assignment_says_no_cart_enters_a_flow(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> None:
    settings = dataclasses.replace(receiver_settings, flows={"default": None})
    app: Starlette = create_app(settings, clock=clock, monotonic=receiver_monotonic)
    with TestClient(app) as client:
        log_in(client, RECEIVER_PASSWORD)
        page = client.get("/admin/flows").text
    assert 'id="unassigned"' in page
    assert "No cart enters it now" in page


def test_flow_views_say_who_enters_which_version() -> None:
    def flow(version: int) -> Flow:
        return Flow(
            id="vip",
            version=version,
            name="VIP",
            steps=(
                WaitStep(id="w", duration=timedelta(hours=2), next="s"),
                SendStep(id="s", channel="sms", template="reminder", next="end"),
                ExitStep(id="end"),
            ),
        )

    assignments = FlowAssignments(
        flows=(flow(1), flow(2)), by_form={"f9": "vip"}, by_product={"p7": "vip"}
    )
    newest, older = flow_views(assignments)
    assert (newest.version, newest.current, older.version, older.current) == (2, True, 1, False)
    assert newest.entered_by == ("order form f9", "product p7")
    assert [step.text for step in newest.steps] == [
        "wait 2h, then s",
        "send sms with template reminder, then end",
        "end the flow",
    ]
    assert newest.control == 0.0
