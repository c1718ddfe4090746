"""The bounded sender: per-endpoint lanes on real threads against a real receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from cartback.webhooks import (
    Deferred,
    Delivered,
    Delivery,
    DeliveryResult,
    EndpointDisabled,
    RetryLater,
    WebhookDeliverer,
    WebhookEndpoint,
    WebhookSender,
)
from tests.conftest import FakeClock
from tests.server.fixtures import FakeMonotonic
from tests.waiting import wait_until
from tests.webhooks.support import SECRET, RecordingServer, Reply, endpoint


class Results:
    """Collects what the sender reports, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[Delivery, DeliveryResult]] = []

    def __call__(self, delivery: Delivery, result: DeliveryResult) -> None:
        with self._lock:
            self.items.append((delivery, result))

    def of(self, endpoint_id: str) -> list[DeliveryResult]:
        with self._lock:
            return [result for _d, result in self.items if result.endpoint_id == endpoint_id]

    def kinds(self, endpoint_id: str) -> list[str]:
        return [result.kind for result in self.of(endpoint_id)]

    def by_event(self) -> dict[str, DeliveryResult]:
        with self._lock:
            return {delivery.event_id: result for delivery, result in self.items}


@pytest.fixture
def results() -> Results:
    return Results()


@pytest.fixture
def make_sender(
    deliverer: WebhookDeliverer, results: Results, real_now_clock: FakeClock
) -> Iterator[Any]:
    made: list[WebhookSender] = []

    def make(**options: Any) -> WebhookSender:
        sender = WebhookSender(deliverer.deliver, results, clock=real_now_clock, **options)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        sender.close(timeout=5)


def deliveries(prefix: str, count: int, key: str | None = None) -> list[Delivery]:
    return [Delivery(f"{prefix}_{n}", b'{"n":%d}' % n, ordering_key=key) for n in range(count)]


def lane_endpoint(server: RecordingServer, name: str, **settings: Any) -> WebhookEndpoint:
    return endpoint(server.url(f"/{name}"), id=name, **settings)


def test_a_slow_endpoint_never_delays_another_one(
    server: RecordingServer, make_sender: Any, results: Results
) -> None:
    held = server.hold()
    server.answer("/slow", *[Reply(204, hold=held) for _ in range(6)])
    slow = lane_endpoint(server, "slow", max_in_flight=2)
    fast = lane_endpoint(server, "fast", max_in_flight=2)
    sender: WebhookSender = make_sender()

    for delivery in deliveries("s", 6):
        assert sender.submit(slow, delivery) == "accepted"
    for delivery in deliveries("f", 6):
        assert sender.submit(fast, delivery) == "accepted"

    wait_until(lambda: len(results.of("fast")) == 6, what="the fast endpoint's deliveries")
    assert results.kinds("fast") == ["delivered"] * 6
    wait_until(lambda: len(server.to("/slow")) == 2, what="the slow endpoint's first two")
    state = sender.snapshot()["slow"]
    assert (state.in_flight, state.queued, results.of("slow")) == (2, 4, [])

    held.set()
    wait_until(lambda: len(results.of("slow")) == 6, what="the slow endpoint's deliveries")
    assert results.kinds("slow") == ["delivered"] * 6
    assert server.max_in_flight["/slow"] == 2
    for request in server.requests:
        Webhook(SECRET).verify(request.body, request.headers)


def test_deliveries_with_one_ordering_key_go_one_at_a_time_in_order(
    server: RecordingServer, make_sender: Any, results: Results
) -> None:
    held = server.hold()
    server.answer("/ordered", Reply(204, hold=held))
    target = lane_endpoint(server, "ordered", max_in_flight=4)
    sender: WebhookSender = make_sender()
    batch = deliveries("e", 5, key="cart_1")
    for delivery in batch:
        sender.submit(target, delivery)
    wait_until(lambda: len(server.to("/ordered")) == 1, what="the first delivery")
    assert sender.snapshot()["ordered"].queued == 4  # the others wait behind it

    assert not sender.wait_idle(timeout=0.05)  # one is held, four are queued
    held.set()
    assert sender.wait_idle(timeout=5)
    assert len(results.of("ordered")) == 5
    assert [r.headers["webhook-id"] for r in server.to("/ordered")] == [d.event_id for d in batch]
    assert server.max_in_flight["/ordered"] == 1


def test_when_one_event_fails_the_later_ones_of_its_key_are_handed_back(
    server: RecordingServer, make_sender: Any, results: Results
) -> None:
    held = server.hold()
    server.answer_event("e_0", Reply(500, hold=held))
    target = lane_endpoint(server, "cart", max_in_flight=2)
    sender: WebhookSender = make_sender()
    first, second, third = deliveries("e", 3, key="cart_1")
    other = Delivery("x_0", b"{}", ordering_key="cart_2")
    for delivery in (first, second, third, other):
        sender.submit(target, delivery)
    wait_until(lambda: len(server.to("/cart")) == 2, what="the first of each cart")

    held.set()
    wait_until(lambda: len(results.of("cart")) == 4, what="every result")
    outcome = results.by_event()
    failed = outcome["e_0"]
    assert isinstance(failed, RetryLater)
    for later in ("e_1", "e_2"):
        handed = outcome[later]
        assert isinstance(handed, Deferred)
        assert handed.reason == "earlier_event_pending"
        assert handed.next_attempt_at == failed.next_attempt_at
        assert handed.attempt == 1
    assert isinstance(outcome["x_0"], Delivered)
    assert sorted(r.headers["webhook-id"] for r in server.to("/cart")) == ["e_0", "x_0"]


def test_410_disables_the_lane_and_hands_back_what_is_queued(
    server: RecordingServer, make_sender: Any, results: Results
) -> None:
    held = server.hold()
    server.answer("/gone", Reply(410, hold=held))
    target = lane_endpoint(server, "gone", max_in_flight=1)
    sender: WebhookSender = make_sender()
    for delivery in deliveries("e", 3):
        sender.submit(target, delivery)
    wait_until(lambda: len(server.to("/gone")) == 1, what="the first delivery")

    held.set()
    wait_until(lambda: len(results.of("gone")) == 3, what="every result")
    assert results.kinds("gone") == ["disable_endpoint", "deferred", "deferred"]
    assert {r.reason for r in results.of("gone") if isinstance(r, Deferred)} == {
        "endpoint_disabled"
    }
    assert sender.submit(target, Delivery("e_9", b"{}")) == "disabled"
    assert sender.free_slots("gone") == 0
    assert len(server.to("/gone")) == 1

    # A stale copy of the endpoint does not undo the 410; new settings, or the same
    # ones applied explicitly once the shop re-enables it, do.
    assert sender.submit(target.model_copy(), Delivery("e_10", b"{}")) == "disabled"
    sender.update_endpoint(target)
    assert sender.submit(target, Delivery("e_11", b"{}")) == "accepted"
    wait_until(lambda: len(results.of("gone")) == 4, what="the delivery after re-enabling")
    renewed = target.model_copy(update={"rate_per_second": 5.0})
    assert sender.submit(renewed, Delivery("e_12", b"{}")) == "accepted"
    wait_until(lambda: len(results.of("gone")) == 5, what="the delivery with new settings")
    assert results.kinds("gone")[-2:] == ["delivered", "delivered"]


def test_disabling_an_endpoint_hands_back_its_queue_at_once(
    server: RecordingServer, make_sender: Any, results: Results, real_now_clock: FakeClock
) -> None:
    held = server.hold()
    server.answer("/off", Reply(204, hold=held))
    target = lane_endpoint(server, "off", max_in_flight=1)
    sender: WebhookSender = make_sender()
    for delivery in deliveries("e", 3):
        sender.submit(target, delivery)
    wait_until(lambda: sender.snapshot()["off"].in_flight == 1, what="the first in flight")

    disabled = target.model_copy(
        update={"disabled": EndpointDisabled(reason="manual", at=real_now_clock())}
    )
    sender.update_endpoint(disabled)
    assert [(r.kind, getattr(r, "reason", None)) for r in results.of("off")] == [
        ("deferred", "endpoint_disabled"),
        ("deferred", "endpoint_disabled"),
    ]
    assert sender.submit(disabled, Delivery("e_9", b"{}")) == "disabled"
    held.set()
    wait_until(lambda: len(results.of("off")) == 3, what="the one in flight")
    assert results.kinds("off")[-1] == "delivered"
    assert len(server.to("/off")) == 1


def test_a_long_retry_after_pauses_the_endpoint_and_hands_back_its_queue(
    server: RecordingServer, make_sender: Any, results: Results, real_now_clock: FakeClock
) -> None:
    held = server.hold()
    server.answer("/busy", Reply(429, {"retry-after": "60"}, hold=held))
    target = lane_endpoint(server, "busy", max_in_flight=1)
    sender: WebhookSender = make_sender(max_hold=10.0)
    for delivery in deliveries("e", 3):
        sender.submit(target, delivery)
    wait_until(lambda: len(server.to("/busy")) == 1, what="the first delivery")

    held.set()
    wait_until(lambda: len(results.of("busy")) == 3, what="every result")
    first, *rest = results.of("busy")
    assert isinstance(first, RetryLater)
    assert first.throttle_until is not None
    for handed in rest:
        assert isinstance(handed, Deferred)
        assert handed.reason == "endpoint_paused"
        assert handed.next_attempt_at == first.throttle_until
    assert sender.snapshot()["busy"].paused_until == first.throttle_until
    assert sender.free_slots("busy") == 0
    assert len(server.to("/busy")) == 1


def test_the_rate_limit_spaces_out_the_starts(
    server: RecordingServer,
    deliverer: WebhookDeliverer,
    results: Results,
    real_now_clock: FakeClock,
) -> None:
    monotonic = FakeMonotonic()
    sender = WebhookSender(deliverer.deliver, results, clock=real_now_clock, monotonic=monotonic)
    target = lane_endpoint(server, "rated", max_in_flight=4, rate_per_second=20.0, burst=1)
    try:
        for delivery in deliveries("e", 3):
            sender.submit(target, delivery)
        # Time stands still: one token, one start, then the lane waits for the bucket.
        wait_until(
            lambda: len(results.of("rated")) == 1 and sender.snapshot()["rated"].rate_limited,
            what="the first start and a wait for the next token",
        )
        assert len(server.to("/rated")) == 1
        monotonic.advance(0.06)  # a little over one token at 20 per second
        wait_until(lambda: len(results.of("rated")) == 2, what="the second start")
        wait_until(lambda: sender.snapshot()["rated"].rate_limited, what="the next wait")
        assert len(server.to("/rated")) == 2
        monotonic.advance(0.06)
        wait_until(lambda: len(results.of("rated")) == 3, what="the third start")
    finally:
        sender.close(timeout=5)


def test_a_full_lane_refuses_more_without_blocking(
    server: RecordingServer, make_sender: Any
) -> None:
    held = server.hold()
    server.answer("/full", Reply(204, hold=held))
    target = lane_endpoint(server, "full", max_in_flight=1)
    sender: WebhookSender = make_sender(max_queued=2)
    assert sender.free_slots("full") == 2
    sender.submit(target, Delivery("e_0", b"{}"))
    wait_until(lambda: sender.snapshot()["full"].in_flight == 1, what="the first in flight")
    assert [sender.submit(target, d) for d in deliveries("q", 3)] == ["accepted"] * 2 + ["full"]
    assert sender.free_slots("full") == 0
    held.set()


def test_close_hands_back_the_queue_and_waits_for_what_is_in_flight(
    server: RecordingServer,
    deliverer: WebhookDeliverer,
    results: Results,
    real_now_clock: FakeClock,
) -> None:
    held = server.hold()
    server.answer("/closing", Reply(204, hold=held))
    target = lane_endpoint(server, "closing", max_in_flight=1)
    sender = WebhookSender(deliverer.deliver, results, clock=real_now_clock)
    for delivery in deliveries("e", 3):
        sender.submit(target, delivery)
    wait_until(lambda: sender.snapshot()["closing"].in_flight == 1, what="the first in flight")

    finished: list[bool] = []
    closer = threading.Thread(target=lambda: finished.append(sender.close(timeout=5)))
    closer.start()
    wait_until(lambda: len(results.of("closing")) == 2, what="the queue handed back")
    assert [r.reason for r in results.of("closing") if isinstance(r, Deferred)] == [
        "shutdown",
        "shutdown",
    ]
    held.set()
    closer.join(timeout=5)
    assert finished == [True]
    assert results.kinds("closing")[-1] == "delivered"
    assert sender.submit(target, Delivery("e_9", b"{}")) == "closed"


def test_a_failing_on_result_does_not_stop_the_lane(server: RecordingServer) -> None:
    seen: list[str] = []

    def fragile(delivery: Delivery, result: DeliveryResult) -> None:
        seen.append(delivery.event_id)
        if delivery.event_id == "e_0":
            raise RuntimeError("the store is down")

    with WebhookDeliverer() as deliverer:
        sender = WebhookSender(deliverer.deliver, fragile)
        target = lane_endpoint(server, "fragile", max_in_flight=1)
        for delivery in deliveries("e", 3):
            sender.submit(target, delivery)
        wait_until(lambda: len(seen) == 3, what="every result")
        sender.close(timeout=5)
    assert sorted(seen) == ["e_0", "e_1", "e_2"]


def test_a_delivery_function_that_raises_is_handed_back(
    server: RecordingServer, results: Results, real_now_clock: FakeClock
) -> None:
    def broken(endpoint: WebhookEndpoint, delivery: Delivery) -> DeliveryResult:
        raise RuntimeError("bug")

    sender = WebhookSender(broken, results, clock=real_now_clock)
    try:
        sender.submit(lane_endpoint(server, "broken"), Delivery("e_0", b"{}"))
        wait_until(lambda: results.of("broken"), what="the result")
    finally:
        sender.close(timeout=5)
    [result] = results.of("broken")
    assert isinstance(result, Deferred)
    assert result.reason == "internal_error"
    assert result.next_attempt_at is not None
    assert result.next_attempt_at > real_now_clock()


def test_a_disabled_endpoint_is_not_queued(server: RecordingServer, make_sender: Any) -> None:
    target = lane_endpoint(
        server, "off", disabled={"reason": "manual", "at": "2026-11-22T12:00:00Z"}
    )
    sender: WebhookSender = make_sender()
    assert sender.submit(target, Delivery("e_0", b"{}")) == "disabled"
    assert server.requests == []
