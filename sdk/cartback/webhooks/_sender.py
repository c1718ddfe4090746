"""The bounded sender: per-endpoint lanes of worker threads, so a slow or dead endpoint
never delays another one, the capture path or the flows.

Threads, not asyncio: the stores are synchronous (sqlite3, psycopg's pool), the
receiver already runs its capture writer as a thread beside the event loop, and a
blocking httpx client in a thread needs no loop to be shared or started. Each endpoint
gets its own lane: a bounded queue, up to ``max_in_flight`` threads (started on
demand, ended after a quiet spell), a token bucket for ``rate_per_second``, and a
pause when the endpoint asks for one (429, 502, 503, 504, ``Retry-After``). A lane's
threads only ever wait on their own endpoint.

The worker loop that claims deliveries from the outbox asks ``free_slots`` how many it
may claim for an endpoint, calls ``submit`` for each (it never blocks), and gets every
result back through ``on_result``, called from the lane's thread: a ``Delivered``,
``RetryLater``, ``DisableEndpoint`` or ``Dead`` from the attempt, or a ``Deferred``
for a delivery handed back unsent (the attempt is not used up). Deliveries with the
same ``ordering_key`` go one at a time in submission order; when one fails, the lane
hands back the later ones queued behind it, so none overtakes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from cartback._clock import Clock, system_clock
from cartback._errors import ConfigurationError
from cartback.webhooks._deliver import Delivery
from cartback.webhooks._endpoint import WebhookEndpoint
from cartback.webhooks._limits import TokenBucket
from cartback.webhooks._results import DeferReason, Deferred, DeliveryResult

__all__ = ["LaneSnapshot", "SubmitStatus", "WebhookSender"]

log = logging.getLogger("cartback.webhooks.sender")

SubmitStatus = Literal["accepted", "full", "disabled", "closed"]
"""What ``submit`` did: queued it; the endpoint's queue is full (claim less); the
endpoint is disabled (its settings, or a 410 in this run); the sender is closed."""

_INTERNAL_ERROR_DELAY: Final = timedelta(seconds=30)

Deliver = Callable[[WebhookEndpoint, Delivery], DeliveryResult]
OnResult = Callable[[Delivery, DeliveryResult], None]


@dataclass(frozen=True, slots=True)
class LaneSnapshot:
    """One endpoint's lane at a glance (for the dashboard and for tests)."""

    endpoint_id: str
    """The endpoint."""
    queued: int
    """Deliveries waiting in the lane."""
    in_flight: int
    """Deliveries being attempted now."""
    threads: int
    """Worker threads alive for the lane."""
    rate_limited: bool
    """A thread is waiting for the token bucket."""
    paused_until: datetime | None
    """The endpoint asked to be left alone until then."""
    disabled: bool
    """The endpoint answered 410 during this run (or was submitted disabled)."""


class _Lane:
    """The state of one endpoint's lane; every field is guarded by ``cond``."""

    def __init__(self, endpoint: WebhookEndpoint, now: float) -> None:
        self.endpoint = endpoint
        self.cond = threading.Condition()
        self.queue: deque[Delivery] = deque()
        self.keys: set[str] = set()
        self.in_flight = 0
        self.threads = 0
        self.rate_waiters = 0
        self.reporting = 0
        """Batches of results taken from the lane and not yet passed to ``on_result``."""
        self.bucket = TokenBucket(endpoint.rate_per_second, endpoint.effective_burst, now=now)
        self.paused_until: float | None = None
        self.paused_until_at: datetime | None = None
        self.disabled = False

    def next_ready(self) -> Delivery | None:
        for delivery in self.queue:
            if delivery.ordering_key is None or delivery.ordering_key not in self.keys:
                return delivery
        return None


class WebhookSender:
    """Sends deliveries through ``deliver`` on per-endpoint worker threads.

    ``deliver`` is usually ``WebhookDeliverer.deliver``; ``on_result`` must be
    thread-safe (it is called from the lanes' threads) and should be quick (it holds
    one of the endpoint's slots while it runs). ``max_queued`` bounds each lane's queue;
    a pause longer than ``max_hold`` seconds hands the queued deliveries back rather
    than holding them (and their leases); a lane's idle threads end after
    ``idle_timeout`` seconds. ``clock`` and ``monotonic`` come in for tests.
    """

    def __init__(
        self,
        deliver: Deliver,
        on_result: OnResult,
        *,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        max_queued: int = 100,
        max_hold: float = 10.0,
        idle_timeout: float = 30.0,
    ) -> None:
        if max_queued < 1 or max_hold < 0 or idle_timeout <= 0:
            raise ConfigurationError(
                "max_queued must be at least 1, max_hold and idle_timeout positive",
                setting="max_queued",
            )
        self._deliver = deliver
        self._on_result = on_result
        self._clock = clock
        self._monotonic = monotonic
        self._max_queued = max_queued
        self._max_hold = max_hold
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._closed = False

    # -- the worker loop's side ------------------------------------------------------

    def _lane(self, endpoint: WebhookEndpoint) -> _Lane:
        with self._lock:
            lane = self._lanes.get(endpoint.id)
            if lane is None:
                lane = self._lanes[endpoint.id] = _Lane(endpoint, self._monotonic())
            return lane

    def submit(self, endpoint: WebhookEndpoint, delivery: Delivery) -> SubmitStatus:
        """Queue one delivery for ``endpoint``; never blocks.

        An endpoint whose settings changed (rate, concurrency, a re-enabled endpoint
        after a 410) takes effect for the whole lane from this call on.
        """
        if self._closed:
            return "closed"
        if not endpoint.enabled:
            self.update_endpoint(endpoint)
            return "disabled"
        lane = self._lane(endpoint)
        with lane.cond:
            if self._closed:
                return "closed"
            self._apply_settings(lane, endpoint, force=False)
            if lane.disabled:
                return "disabled"
            if len(lane.queue) >= self._max_queued:
                return "full"
            lane.queue.append(delivery)
            wanted = min(endpoint.max_in_flight, lane.in_flight + len(lane.queue))
            while lane.threads < wanted:
                lane.threads += 1
                threading.Thread(
                    target=self._work,
                    args=(lane,),
                    name=f"cartback-webhooks-{endpoint.id}",
                    daemon=True,
                ).start()
            lane.cond.notify()
        return "accepted"

    def _apply_settings(self, lane: _Lane, endpoint: WebhookEndpoint, *, force: bool) -> None:
        """New settings for a lane (under its lock): the rate, the concurrency, whether
        it is disabled. Unless ``force``, the same settings change nothing, so a stale
        copy of an endpoint does not undo a 410 seen during this run."""
        if endpoint == lane.endpoint and not force:
            return
        lane.endpoint = endpoint
        lane.disabled = not endpoint.enabled
        lane.bucket.reconfigure(
            endpoint.rate_per_second, endpoint.effective_burst, now=self._monotonic()
        )
        lane.cond.notify_all()

    def update_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Apply an endpoint's settings now, including whether it is enabled: call it
        when an endpoint is disabled (its queued deliveries are handed back, the ones in
        flight finish) or enabled again after a 410."""
        with self._lock:
            lane = self._lanes.get(endpoint.id)
        if lane is None:
            return
        handed: list[tuple[Delivery, DeliveryResult]] = []
        with lane.cond:
            self._apply_settings(lane, endpoint, force=True)
            if lane.disabled:
                handed = self._reporting(
                    lane, self._hand_back(lane, lane.queue, "endpoint_disabled", None)
                )
        self._report(lane, handed)

    def free_slots(self, endpoint_id: str) -> int:
        """How many more deliveries the endpoint's queue takes now: 0 while it is
        disabled, or paused for longer than ``max_hold``."""
        with self._lock:
            lane = self._lanes.get(endpoint_id)
        if lane is None:
            return 0 if self._closed else self._max_queued
        with lane.cond:
            if self._closed or lane.disabled:
                return 0
            if (
                lane.paused_until is not None
                and lane.paused_until - self._monotonic() > self._max_hold
            ):
                return 0
            return self._max_queued - len(lane.queue)

    def snapshot(self) -> dict[str, LaneSnapshot]:
        """Every lane's state, by endpoint id."""
        with self._lock:
            lanes = list(self._lanes.values())
        states = {}
        for lane in lanes:
            with lane.cond:
                states[lane.endpoint.id] = LaneSnapshot(
                    endpoint_id=lane.endpoint.id,
                    queued=len(lane.queue),
                    in_flight=lane.in_flight,
                    threads=lane.threads,
                    rate_limited=lane.rate_waiters > 0,
                    paused_until=lane.paused_until_at if lane.paused_until is not None else None,
                    disabled=lane.disabled,
                )
        return states

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every lane is empty, with nothing in flight and every result passed
        to ``on_result``; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            with lane.cond:
                while lane.queue or lane.in_flight or lane.reporting:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    lane.cond.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Stop: hand back every queued delivery (``Deferred``, ``shutdown``), let the
        ones in flight finish, and wait for them at most ``timeout`` seconds. Returns
        whether every thread finished."""
        self._closed = True
        with self._lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            with lane.cond:
                handed = self._reporting(
                    lane, self._hand_back(lane, lane.queue, "shutdown", self._clock())
                )
                lane.cond.notify_all()
            self._report(lane, handed)
        deadline = time.monotonic() + timeout
        for lane in lanes:
            with lane.cond:
                while lane.threads or lane.in_flight or lane.reporting:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    lane.cond.wait(remaining)
        return True

    # -- the lanes' threads ----------------------------------------------------------

    def _hand_back(
        self,
        lane: _Lane,
        deliveries: deque[Delivery] | list[Delivery],
        reason: DeferReason,
        next_attempt_at: datetime | None,
    ) -> list[tuple[Delivery, DeliveryResult]]:
        """Turn deliveries into ``Deferred`` results and drop them from the queue."""
        handed: list[tuple[Delivery, DeliveryResult]] = []
        for delivery in list(deliveries):
            lane.queue.remove(delivery)
            handed.append(
                (
                    delivery,
                    Deferred(
                        event_id=delivery.event_id,
                        endpoint_id=lane.endpoint.id,
                        attempt=delivery.attempt,
                        reason=reason,
                        next_attempt_at=next_attempt_at,
                    ),
                )
            )
        return handed

    @staticmethod
    def _reporting(
        lane: _Lane, results: list[tuple[Delivery, DeliveryResult]]
    ) -> list[tuple[Delivery, DeliveryResult]]:
        """Count a batch as being reported (under the lane's lock)."""
        if results:
            lane.reporting += 1
        return results

    def _report(self, lane: _Lane, results: list[tuple[Delivery, DeliveryResult]]) -> None:
        """Pass results to ``on_result`` (outside the lane's lock), then uncount them."""
        if not results:
            return
        try:
            for delivery, result in results:
                try:
                    self._on_result(delivery, result)
                except Exception as exc:  # the lane must go on; the lease will expire
                    log.error(
                        "on_result failed for event %s: %s",
                        delivery.event_id,
                        type(exc).__name__,
                    )
        finally:
            with lane.cond:
                lane.reporting -= 1
                lane.cond.notify_all()

    def _take(self, lane: _Lane) -> tuple[Delivery | None, list[tuple[Delivery, DeliveryResult]]]:
        """Wait for a delivery this thread may start, under the lane's lock. Returns
        ``(None, [])`` when the thread should end, or deliveries to hand back."""
        while True:
            if self._closed or lane.threads > lane.endpoint.max_in_flight:
                return None, []
            if lane.disabled and lane.queue:
                return None, self._hand_back(lane, lane.queue, "endpoint_disabled", None)
            now = self._monotonic()
            if lane.paused_until is not None:
                remaining = lane.paused_until - now
                if remaining > 0:
                    if remaining > self._max_hold and lane.queue:
                        return None, self._hand_back(
                            lane, lane.queue, "endpoint_paused", lane.paused_until_at
                        )
                    lane.cond.wait(remaining)
                    continue
                lane.paused_until = lane.paused_until_at = None
            delivery = lane.next_ready()
            if delivery is None:
                if not lane.cond.wait(self._idle_timeout) and not lane.queue:
                    return None, []
                continue
            delay = lane.bucket.take(now)
            if delay > 0:
                lane.rate_waiters += 1
                try:
                    lane.cond.wait(delay)
                finally:
                    lane.rate_waiters -= 1
                continue
            lane.queue.remove(delivery)
            lane.in_flight += 1
            if delivery.ordering_key is not None:
                lane.keys.add(delivery.ordering_key)
            return delivery, []

    def _work(self, lane: _Lane) -> None:
        try:
            while True:
                with lane.cond:
                    delivery, handed = self._take(lane)
                    if delivery is None and not handed:
                        lane.threads -= 1
                        lane.cond.notify_all()
                        return
                    endpoint = lane.endpoint
                    self._reporting(lane, handed)
                self._report(lane, handed)
                if delivery is None:
                    continue
                result = self._attempt(endpoint, delivery)
                with lane.cond:
                    settled = [(delivery, result), *self._settle(lane, delivery, result)]
                    self._reporting(lane, settled)
                    lane.cond.notify_all()
                self._report(lane, settled)
        except BaseException:
            with lane.cond:
                lane.threads -= 1
                lane.cond.notify_all()
            raise

    def _attempt(self, endpoint: WebhookEndpoint, delivery: Delivery) -> DeliveryResult:
        try:
            return self._deliver(endpoint, delivery)
        except Exception as exc:
            log.error(
                "webhook delivery raised for event %s: %s", delivery.event_id, type(exc).__name__
            )
            return Deferred(
                event_id=delivery.event_id,
                endpoint_id=endpoint.id,
                attempt=delivery.attempt,
                reason="internal_error",
                next_attempt_at=self._clock() + _INTERNAL_ERROR_DELAY,
            )

    def _settle(
        self, lane: _Lane, delivery: Delivery, result: DeliveryResult
    ) -> list[tuple[Delivery, DeliveryResult]]:
        """Apply one result to the lane, under its lock; returns what to hand back."""
        lane.in_flight -= 1
        if delivery.ordering_key is not None:
            lane.keys.discard(delivery.ordering_key)
        if result.kind == "disable_endpoint":
            lane.disabled = True
            return self._hand_back(lane, lane.queue, "endpoint_disabled", None)
        if result.kind == "retry" and result.throttle_until is not None:
            wait = max(0.0, (result.throttle_until - self._clock()).total_seconds())
            until = self._monotonic() + wait
            if lane.paused_until is None or until > lane.paused_until:
                lane.paused_until = until
                lane.paused_until_at = result.throttle_until
        if delivery.ordering_key is None or result.kind in ("delivered", "dead"):
            return []
        behind = [queued for queued in lane.queue if queued.ordering_key == delivery.ordering_key]
        next_attempt_at = result.next_attempt_at if result.kind in ("retry", "deferred") else None
        return self._hand_back(lane, behind, "earlier_event_pending", next_attempt_at)
