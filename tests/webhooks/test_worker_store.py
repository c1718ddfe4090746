"""The webhook worker over a real SQLite store and a real loopback receiver: payloads
read from the store when delivered, erased subjects never sent, 410 and failing days
disabling with an event, dead letters and replay, results written back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from cartback import Cartback, EndpointDisabled, SQLiteStore
from cartback.webhooks import (
    RetryPolicy,
    WebhookDeliverer,
    WebhookWorker,
    WorkerSettings,
    payload_models,
)
from tests.conftest import FakeClock
from tests.sdk._support import outbox, submission
from tests.waiting import wait_until
from tests.webhooks.support import SECRET, RecordingServer, Reply

FAST = RetryPolicy(
    schedule=(timedelta(0), timedelta(seconds=1), timedelta(seconds=2)),
    throttle_pause=timedelta(milliseconds=10),
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "worker.sqlite3", synchronous="NORMAL") as opened:
        yield opened


@pytest.fixture
def client(store: SQLiteStore, real_now_clock: FakeClock) -> Cartback:
    return Cartback(store, clock=real_now_clock)


@pytest.fixture
def worker(store: SQLiteStore, real_now_clock: FakeClock) -> Iterator[WebhookWorker]:
    deliverer = WebhookDeliverer(clock=real_now_clock, random=lambda: 0.0, retry=FAST)
    made = WebhookWorker(
        store,
        deliverer=deliverer,
        clock=real_now_clock,
        settings=WorkerSettings(lease=timedelta(minutes=1)),
    )
    yield made
    made.stop(timeout=5)
    deliverer.close()


def add(client: Cartback, server: RecordingServer, endpoint_id: str, **settings: Any) -> None:
    client.add_webhook_endpoint(
        {
            "id": endpoint_id,
            "url": server.url(f"/{endpoint_id}"),
            "secrets": [SECRET],
            "event_types": ["cart.captured", "cart.updated", "consent.changed", "cart.ordered"],
            "allowed_networks": ["127.0.0.0/8"],
            **settings,
        }
    )


def settle_all(worker: WebhookWorker, rounds: int = 5) -> None:
    """Tick, wait for the lanes, write back: as the running worker would."""
    for _ in range(rounds):
        worker.tick()
        assert worker.wait_idle(10)
    worker.tick()


def bodies(server: RecordingServer, path: str) -> list[dict[str, Any]]:
    found = []
    for request in server.to(path):
        Webhook(SECRET).verify(request.body, request.headers)
        found.append(json.loads(request.body))
    return found


def test_a_cart_webhook_carries_the_cart_as_stored_when_delivered(
    client: Cartback, server: RecordingServer, worker: WebhookWorker
) -> None:
    add(client, server, "crm")
    client.capture(submission(fields={"first_name": "Ann"}, cart_value="49.90", currency="USD"))
    client.capture(submission(fields={"city": "Reno"}))
    settle_all(worker)
    captured, updated = bodies(server, "/crm")
    assert (captured["type"], updated["type"]) == ("cart.captured", "cart.updated")
    # Delivered after the update: both carry the cart as it is now.
    for body in (captured, updated):
        cart = body["data"]["cart"]
        assert cart["contact"]["first_name"] == "Ann"
        assert cart["contact"]["city"] == "Reno"
        assert cart["context"]["cart_value"] == "49.90"
        assert "session_id" not in cart
    assert {"email", "first_name"} <= set(captured["data"]["fields"])
    assert "city" not in captured["data"]["fields"]  # the event says what that capture filled
    for body in (captured, updated):
        payload_models()[body["type"]].model_validate(body)


def test_consent_webhooks_carry_the_email_and_the_ledger_entry(
    client: Cartback, server: RecordingServer, worker: WebhookWorker
) -> None:
    add(client, server, "crm", event_types=["consent.changed"])
    entry = client.record_consent("Ann@Example.com", "sms", "granted", text_version="v3")
    settle_all(worker)
    [body] = bodies(server, "/crm")
    payload_models()["consent.changed"].model_validate(body)
    data = body["data"]
    assert (data["email"], data["consent_id"]) == ("ann@example.com", entry.id)
    assert data["entry"]["text_version"] == "v3"
    assert data["entry"]["source"]["kind"] == "api"


def test_an_erased_prospect_is_never_sent(
    client: Cartback, server: RecordingServer, worker: WebhookWorker, store: SQLiteStore
) -> None:
    add(client, server, "crm")
    client.capture(submission(email="gone@example.com", consent={"sms": True}))
    client.record_consent("gone@example.com", "push", "withdrawn")
    client.capture(submission(email="kept@example.com"))
    client.erase("gone@example.com")
    report = worker.tick()
    assert report.skipped == 1  # the withdrawal names no cart: its ledger entry is gone
    settle_all(worker)
    assert [b["data"]["cart"]["contact"]["email"] for b in bodies(server, "/crm")] == [
        "kept@example.com"
    ]
    assert client.webhook_endpoint("crm").lag == 0


def test_a_410_disables_the_endpoint_with_an_event_and_keeps_the_delivery(
    client: Cartback, server: RecordingServer, worker: WebhookWorker, store: SQLiteStore
) -> None:
    server.answer("/gone", Reply(410))
    add(client, server, "gone")
    add(client, server, "crm")
    client.capture(submission())
    settle_all(worker)
    view = client.webhook_endpoint("gone")
    assert (view.enabled, view.disabled_reason, view.pending) == (False, "gone", 1)
    assert len(server.to("/gone")) == 1
    disabled = [e for e in outbox(store) if isinstance(e, EndpointDisabled)]
    assert [(e.endpoint_id, e.reason) for e in disabled] == [("gone", "gone")]
    assert len(server.to("/crm")) == 1  # the other endpoint went on
    client.enable_webhook_endpoint("gone")
    settle_all(worker)
    assert len(server.to("/gone")) == 2
    assert client.webhook_endpoint("gone").pending == 0


def test_an_endpoint_failing_for_days_is_disabled(
    client: Cartback,
    server: RecordingServer,
    store: SQLiteStore,
    real_now_clock: FakeClock,
) -> None:
    server.answer("/down", *[Reply(500) for _ in range(50)])
    add(client, server, "down")
    slow = RetryPolicy(
        schedule=(timedelta(0), timedelta(days=2), timedelta(days=2), timedelta(days=2))
    )
    deliverer = WebhookDeliverer(clock=real_now_clock, random=lambda: 0.0, retry=slow)
    worker = WebhookWorker(store, deliverer=deliverer, clock=real_now_clock)
    try:
        client.capture(submission())
        for _ in range(4):
            settle_all(worker, rounds=2)
            real_now_clock.advance(days=2, seconds=1)
        settle_all(worker, rounds=1)
    finally:
        worker.stop(timeout=5)
        deliverer.close()
    view = client.webhook_endpoint("down")
    assert (view.enabled, view.disabled_reason) == (False, "failing")
    assert view.consecutive_failures >= 3
    assert [e.reason for e in outbox(store) if isinstance(e, EndpointDisabled)] == ["failing"]


def test_exhausted_deliveries_become_dead_letters_and_replay_sends_the_same_id(
    client: Cartback, server: RecordingServer, worker: WebhookWorker, real_now_clock: FakeClock
) -> None:
    server.answer("/crm", *[Reply(500) for _ in range(3)])
    add(client, server, "crm")
    client.capture(submission())
    for _ in range(4):
        settle_all(worker, rounds=1)
        real_now_clock.advance(seconds=3)
    [letter] = client.webhook_dead_letters("crm")
    assert (letter.attempts, letter.last_error) == (3, "server_error")
    assert client.replay_webhooks("crm") == 1
    settle_all(worker)
    ids = [request.headers["webhook-id"] for request in server.to("/crm")]
    assert ids == [letter.event.event_id] * 4
    assert client.webhook_dead_letters("crm") == []


def test_a_stopped_worker_hands_back_what_it_held_without_using_attempts(
    client: Cartback, server: RecordingServer, worker: WebhookWorker, store: SQLiteStore
) -> None:
    server.answer("/crm", Reply(hold=server.hold()))
    add(client, server, "crm", max_in_flight=1)
    for n in range(3):
        client.capture(submission(email=f"p{n}@example.com"))
    assert worker.tick().submitted == 3
    wait_until(lambda: server.to("/crm"), what="the first delivery to start")
    worker.stop(timeout=0.2)  # the first one is still being answered
    again = store.claim("webhook:crm", owner="next", now=worker.now())
    assert [d.attempts for d in again] == [1, 1]  # the two queued ones, no attempt used
    # the two just claimed, and the held one: its lease stands until it expires
    assert store.consumer_stats("webhook:crm").leased == 3


def test_revenue_and_order_reach_the_cart_ordered_webhook(
    client: Cartback, server: RecordingServer, worker: WebhookWorker
) -> None:
    add(client, server, "crm", event_types=["cart.ordered"])
    client.capture(submission(cart_value="10.00", currency="USD"))
    client.mark_ordered(email="alice@example.com", order_id="o-9", revenue=Decimal("10.00"))
    settle_all(worker)
    [body] = bodies(server, "/crm")
    assert (body["data"]["order_id"], body["data"]["revenue"]) == ("o-9", "10.00")
    assert body["data"]["cart"]["status"] == "ordered"
