"""End to end: the receiver (uvicorn on loopback) captures over HTTP while its background
webhook worker delivers to real loopback receivers. One is down for a while, then
returns: every event arrives, none twice, every signature verifies (``standardwebhooks``),
each cart's events in order. Another answers 410 and is disabled. The capture path's
latency during the outage and after is measured and printed (never asserted)."""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette

from cartback import Cartback, system_clock
from cartback.webhooks import RetryPolicy, WebhookDeliverer, WorkerSettings
from server_example.app import create_app
from server_example.settings import Settings
from tests.sdk._support import outbox
from tests.server.support import cart_submission
from tests.waiting import wait_until
from tests.webhooks.support import SECRET, RecordingServer, Reply

PROSPECTS = 12
UPDATES = 3
RETRIES = RetryPolicy(
    schedule=(timedelta(0), *[timedelta(milliseconds=300)] * 3, *[timedelta(seconds=1)] * 20),
    throttle_pause=timedelta(milliseconds=50),
)
"""Two dozen attempts a second or so apart: the outage lasts a few seconds."""


@pytest.fixture
def hooks() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def endpoint(hooks: RecordingServer, endpoint_id: str, **settings: Any) -> dict[str, Any]:
    return {
        "id": endpoint_id,
        "url": hooks.url(f"/{endpoint_id}"),
        "secrets": [SECRET],
        "event_types": ["cart.captured", "cart.updated"],
        "allowed_networks": ["127.0.0.0/8"],
        "max_in_flight": 4,
        "rate_per_second": 200,
        **settings,
    }


@pytest.fixture
def receiver_app(receiver_settings: Settings, hooks: RecordingServer) -> Iterator[Starlette]:
    """The receiver on the real clock (signatures are checked against it), with two
    endpoints from its settings and a fast retry schedule."""
    settings = dataclasses.replace(
        receiver_settings,
        webhooks=(endpoint(hooks, "crm"), endpoint(hooks, "gone", max_in_flight=1)),
        rate_per_minute=10**6,
        rate_burst=10**6,
    )
    deliverer = WebhookDeliverer(retry=RETRIES, random=lambda: 0.0)
    yield create_app(
        settings,
        clock=system_clock,
        webhook_deliverer=deliverer,
        webhook_worker=WorkerSettings(interval=0.05),
    )
    deliverer.close()


def post_captures(base_url: str, rounds: range) -> list[float]:
    """Captures over HTTP (one per prospect and round); their latencies in ms."""
    latencies = []
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        for step in rounds:
            for number in range(PROSPECTS):
                body = cart_submission(
                    f"p{number}@example.com",
                    fields={"first_name": f"N{number}", "city": f"c{step}"},
                )
                started = time.perf_counter()
                response = client.post("/api/capture", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
    return latencies


def figures(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return (
        f"n={len(ordered)} median={statistics.median(ordered):.1f} ms "
        f"p95={p95:.1f} ms max={ordered[-1]:.1f} ms"
    )


def test_a_receiver_down_for_a_while_gets_every_event_once_in_order(
    live_receiver: str,
    receiver_app: Starlette,
    hooks: RecordingServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cartback: Cartback = receiver_app.state.cartback
    hooks.answer("/crm", *[Reply(503) for _ in range(100_000)])  # down
    hooks.answer("/gone", Reply(410))

    during = post_captures(live_receiver, range(UPDATES + 1))
    wait_until(
        lambda: len(hooks.to("/crm")) >= 20, what="the worker to try the endpoint that is down"
    )
    assert hooks.accepted("/crm") == []
    during += post_captures(live_receiver, range(UPDATES + 1, UPDATES + 3))
    hooks.clear("/crm")  # back up
    after = post_captures(live_receiver, range(UPDATES + 3, UPDATES + 5))

    def all_delivered() -> bool:
        view = cartback.webhook_endpoint("crm")
        return view.lag == 0 and view.dead == 0 and len(hooks.accepted("/crm")) > 0

    wait_until(all_delivered, what="every event to reach the endpoint", timeout=60)

    events = [e for e in outbox(cartback.store) if e.type in ("cart.captured", "cart.updated")]
    accepted = hooks.accepted("/crm")
    ids = [request.headers["webhook-id"] for request in accepted]
    assert Counter(ids).most_common(1)[0][1] == 1  # none twice
    assert sorted(ids) == sorted(event.event_id for event in events)  # every one
    for request in hooks.to("/crm") + hooks.to("/gone"):
        Webhook(SECRET).verify(request.body, request.headers)
    for cart_id in {getattr(event, "cart_id", None) for event in events}:
        written = [event.event_id for event in events if getattr(event, "cart_id", None) == cart_id]
        received = [
            request.headers["webhook-id"]
            for request in accepted
            if json.loads(request.body)["data"]["cart_id"] == cart_id
        ]
        assert received == written  # in order per cart

    gone = cartback.webhook_endpoint("gone")
    assert (gone.enabled, gone.disabled_reason) == (False, "gone")
    assert len(hooks.to("/gone")) == 1  # one at a time: nothing after its 410

    with capsys.disabled():
        print(
            f"\nwebhooks e2e: {len(events)} events, {len(hooks.to('/crm'))} attempts to the "
            f"endpoint that was down, {len(accepted)} accepted\n"
            f"  capture latency during the outage: {figures(during)}\n"
            f"  capture latency after it returned: {figures(after)}",
            flush=True,
        )
