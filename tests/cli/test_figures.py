"""``cartback figures``: the headline figures of a period (``Cartback.headline``), on
every backend; whole days for ``--from``/``--to``, ``--days`` back from now, a lift per
flow with a control group, ``--json`` for machines."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest

from cartback import Cartback, Store
from tests.cli.support import ago, at, capture, environment, invoke, message, run, store_messages
from tests.conftest import FakeClock
from tests.store.recovery_support import FakeSender, make_dispatcher


def recovery(client: Cartback, store: Store, clock: FakeClock) -> None:
    """On 24 November: ana gets an email and orders (49.90) the same day, recovered; bo
    orders without one; cy gets an email and does not order. One cart on the 23rd."""
    capture(client, clock, at(23), email="early@example.com")
    ana = capture(client, clock, at(24, 9), email="ana@example.com", cart_value="49.90",
                  currency="USD")  # fmt: skip
    capture(client, clock, at(24, 10), email="bo@example.com", currency="USD")
    cy = capture(client, clock, at(24, 11), email="cy@example.com")
    store_messages(store, [message(ana, 1, at(24, 12)), message(cy, 2, at(24, 14))])
    clock.now = at(24, 18)
    client.mark_ordered(email="ana@example.com", revenue="49.90")
    client.mark_ordered(email="bo@example.com", revenue="20.00")


def test_the_figures_of_a_day(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
    backend: str,
) -> None:
    recovery(client, store, clock)
    command = run if backend == "sqlite" else partial(invoke, capsysbinary)  # one real run
    done = command(
        "figures", "--from", "2026-11-24", "--to", "2026-11-24", env=environment(database)
    )
    assert (done.code, done.err) == (0, "")
    assert done.fields() == {
        "since": "2026-11-24T00:00:00+00:00",
        "until": "2026-11-25T00:00:00+00:00",
        "abandoned": "3",
        "contacted": "2",
        "orders": "2",
        "recovered": "1",
        "recovery_rate": "33.3%",
        "recovered_revenue": "49.90",
        "currency": "USD",
    }
    as_json = invoke(capsysbinary, "figures", "--from", "2026-11-23", "--to",
                     "2026-11-24T23:59:59Z", "--json", env=environment(database))  # fmt: skip
    figures = json.loads(as_json.text)
    assert (figures["abandoned"], figures["recovered"], figures["lifts"]) == (4, 1, [])
    assert figures["recovery_rate"] == {
        "value": 0.25,
        "numerator": 1.0,
        "denominator": 4,
        "not_applicable": None,
    }
    assert Decimal(figures["recovered_revenue"]) == Decimal("49.90")
    headline = client.headline(
        at(23, 0), at(24, 23) + timedelta(minutes=59, seconds=59, microseconds=1)
    )
    assert (headline.abandoned, headline.recovered) == (4, 1)


def test_days_count_back_from_now(
    capsysbinary: pytest.CaptureFixture[bytes], client: Cartback, clock: FakeClock, database: str
) -> None:
    capture(client, clock, ago(days=10), email="recent@example.com")
    capture(client, clock, ago(days=40), email="older@example.com")
    env = environment(database)
    assert invoke(capsysbinary, "figures", env=env).fields()["abandoned"] == "1"  # 30 days
    assert invoke(capsysbinary, "figures", "--days", "60", env=env).fields()["abandoned"] == "2"
    last_week = invoke(capsysbinary, "figures", "--days", "7", "--json", env=env)
    assert json.loads(last_week.text)["recovery_rate"]["not_applicable"] == "no_carts"
    assert (
        invoke(capsysbinary, "figures", "--days", "7", env=env).fields()["recovery_rate"] == "n/a"
    )


def test_a_flow_with_a_control_group_shows_its_lift(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    clock: FakeClock,
    database: str,
) -> None:
    clock.now = at(24, 9)
    dispatcher = make_dispatcher(client, FakeSender(), control={"conversational": 0.5})
    for number in range(12):
        capture(client, clock, at(24, 9), email=f"c{number}@example.com")
    dispatcher.tick()
    for number in range(4):
        client.mark_ordered(email=f"c{number}@example.com", revenue="20.00")
    env = environment(database)
    period = ("--from", "2026-11-24", "--to", "2026-11-24")
    (flow,) = client.headline(at(24, 0), at(25, 0)).lifts
    lines = invoke(capsysbinary, "figures", *period, env=env).fields()
    assert lines["lift.conversational.treated"] == str(flow.treated)
    assert lines["lift.conversational.control"] == str(flow.control)
    assert lines["lift.conversational.status"].startswith("too_small (")
    (lift,) = json.loads(invoke(capsysbinary, "figures", *period, "--json", env=env).text)["lifts"]
    assert (lift["flow_id"], lift["treated"] + lift["control"]) == ("conversational", 12)
    assert lift["status"] == "too_small"
    assert lift["absolute_interval"] is None
