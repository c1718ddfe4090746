"""The pieces as a worker loop drives them, over a small in-memory outbox: a receiver
that is down for a while then returns gets every event once, in order per cart, each
signature verified; a receiver answering 410 is disabled and keeps its events."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from standardwebhooks.webhooks import Webhook

from cartback.webhooks import (
    Delivery,
    DeliveryResult,
    EndpointDisabled,
    RetryPolicy,
    WebhookDeliverer,
    WebhookEndpoint,
    WebhookSender,
    webhook_payload,
)
from tests.conftest import FakeClock
from tests.webhooks.support import SECRET, RecordingServer, Reply, endpoint

SHORT = RetryPolicy(
    schedule=tuple(timedelta(seconds=seconds) for seconds in (0, 1, 2, 4, 8, 16, 32, 60)),
    throttle_pause=timedelta(milliseconds=50),
)
"""A fast schedule, so the fake clock stays within the receiver's five-minute window,
and a short pause after each 503 (the sender waits it in real time)."""


@dataclass
class Row:
    """One delivery row of the outbox: an event for an endpoint."""

    seq: int
    event_id: str
    endpoint_id: str
    cart_id: str
    body: bytes
    attempts: int = 0
    next_at: datetime | None = None
    state: str = "pending"


class Outbox:
    """Just enough outbox for the loop: due rows, oldest first per cart, and results."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.rows: list[Row] = []
        self.endpoints: dict[str, WebhookEndpoint] = {}
        self.lock = threading.Lock()

    def due(self) -> list[Row]:
        with self.lock:
            blocked: set[tuple[str, str]] = set()
            due = []
            for row in sorted(self.rows, key=lambda one: one.seq):
                lane = (row.endpoint_id, row.cart_id)
                if row.state in ("done", "dead"):
                    continue
                if lane in blocked:
                    continue
                blocked.add(lane)  # later events of the cart wait for this one
                ready = row.next_at is not None and row.next_at <= self.clock()
                if row.state == "pending" and ready and self.endpoints[row.endpoint_id].enabled:
                    due.append(row)
            return due

    def apply(self, delivery: Delivery, result: DeliveryResult) -> None:
        with self.lock:
            [row] = [
                one
                for one in self.rows
                if one.event_id == delivery.event_id and one.endpoint_id == result.endpoint_id
            ]
            row.state = "pending"
            if result.kind == "delivered":
                row.state = "done"
            elif result.kind == "dead":
                row.state = "dead"
            elif result.kind == "retry":
                row.attempts += 1
                row.next_at = result.next_attempt_at
            elif result.kind == "disable_endpoint":
                row.attempts += 1
                target = self.endpoints[result.endpoint_id]
                self.endpoints[result.endpoint_id] = target.model_copy(
                    update={"disabled": EndpointDisabled(reason="gone", at=result.at)}
                )
            else:
                row.next_at = result.next_attempt_at


def test_a_receiver_down_for_a_while_gets_every_event_once_in_order_per_cart(
    server: RecordingServer, real_now_clock: FakeClock
) -> None:
    down_for = 7
    server.answer("/crm", *[Reply(503) for _ in range(down_for)])
    server.answer("/gone", Reply(410))
    outbox = Outbox(real_now_clock)
    outbox.endpoints = {
        "crm": endpoint(server.url("/crm"), id="crm", max_in_flight=3),
        "gone": endpoint(server.url("/gone"), id="gone", max_in_flight=1),
    }
    seq = 0
    for cart in ("c_1", "c_2", "c_3"):
        for step in range(4):
            seq += 1
            body = webhook_payload("cart.updated", real_now_clock(), {"cart": cart, "step": step})
            for endpoint_id in outbox.endpoints:
                outbox.rows.append(
                    Row(seq, f"evt_{seq}", endpoint_id, cart, body, next_at=real_now_clock())
                )

    with WebhookDeliverer(clock=real_now_clock, random=lambda: 0.0, retry=SHORT) as deliverer:
        sender = WebhookSender(deliverer.deliver, outbox.apply, clock=real_now_clock)
        try:
            for _round in range(40):
                due = outbox.due()
                for row in due:
                    target = outbox.endpoints[row.endpoint_id]
                    delivery = Delivery(
                        row.event_id, row.body, attempt=row.attempts + 1, ordering_key=row.cart_id
                    )
                    with outbox.lock:
                        row.state = "leased"
                    assert sender.submit(target, delivery) == "accepted"
                assert sender.wait_idle(timeout=10)
                pending = [one for one in outbox.rows if one.endpoint_id == "crm"]
                if all(one.state == "done" for one in pending):
                    break
                later = [
                    one.next_at
                    for one in pending
                    if one.state == "pending" and one.next_at and one.next_at > real_now_clock()
                ]
                if later:  # jump to the next retry, as a worker sleeping until then would
                    real_now_clock.now = min(later)
        finally:
            sender.close(timeout=5)

    crm = [one for one in outbox.rows if one.endpoint_id == "crm"]
    assert all(one.state == "done" for one in crm)
    requests = server.to("/crm")
    accepted = requests[down_for:]
    ids = [request.headers["webhook-id"] for request in accepted]
    assert sorted(ids) == sorted(one.event_id for one in crm)  # every event, none twice
    for request in requests:
        Webhook(SECRET).verify(request.body, request.headers)
    for cart in ("c_1", "c_2", "c_3"):
        steps = [
            json.loads(request.body)["data"]["step"]
            for request in accepted
            if json.loads(request.body)["data"]["cart"] == cart
        ]
        assert steps == [0, 1, 2, 3]

    assert not outbox.endpoints["gone"].enabled
    assert len(server.to("/gone")) == 1  # disabled after its first answer
    gone = [one for one in outbox.rows if one.endpoint_id == "gone"]
    assert all(one.state == "pending" for one in gone)  # kept, for a replay
