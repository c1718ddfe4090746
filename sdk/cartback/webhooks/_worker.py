"""The webhook worker: the outbox's ``webhook:<id>`` consumers, delivered through the
bounded sender, with every result written back.

A tick (``WebhookWorker.tick``):

1. writes back the results the sender's lanes reported since the last tick: a
   ``Delivered`` is done; a ``RetryLater`` waits for its time; a ``Dead`` becomes a dead
   letter; a ``Deferred`` (nothing sent) is due again without using up an attempt; a
   ``DisableEndpoint`` (410) disables the endpoint with an ``endpoint.disabled`` event
   and keeps the delivery for a replay. Each attempt also updates the endpoint's health;
   an endpoint whose every attempt has failed for ``disable_after`` is disabled the same
   way (reason ``failing``);
2. reads the endpoints from the store (every receiver and worker sees the same ones) and,
   for each enabled one, claims as many due deliveries as its lane has room for, renders
   each event's payload from the store as it is now, and submits it. A delivery whose
   subject was erased is settled at once, and nothing is sent.

The worker runs in its own thread (``start``/``stop``) or process (``python -m
server_example webhooks``); the lanes bound what each endpoint holds, so a slow or dead
endpoint delays nothing else, and the capture path never waits for a webhook. A crash
loses nothing: a claimed delivery's lease expires and another tick claims it again (at
least once; receivers dedupe on ``webhook-id``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from cartback._clock import Clock, ensure_utc, system_clock
from cartback._errors import StoreUnavailableError
from cartback._ids import new_id
from cartback.store import Changes, ReadTransaction, Settlement, Store
from cartback.webhooks._deliver import Delivery, WebhookDeliverer
from cartback.webhooks._endpoint import WebhookEndpoint
from cartback.webhooks._health import DISABLE_AFTER, record_result, should_disable
from cartback.webhooks._payloads import render
from cartback.webhooks._registry import (
    consumer_name,
    disable,
    endpoint_health,
    endpoint_of,
    with_health,
)
from cartback.webhooks._results import DeliveryResult
from cartback.webhooks._sender import WebhookSender

__all__ = ["WebhookWorker", "WorkerReport", "WorkerSettings"]

log = logging.getLogger("cartback.webhooks.worker")

_DEFAULT_OWNER: Final = "webhooks"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How the worker claims and waits."""

    batch: int = 100
    """Deliveries claimed per endpoint and tick, at most."""
    lease: timedelta = timedelta(minutes=5)
    """How long a claimed delivery is held; a crashed worker's claims are due again
    after it."""
    interval: float = 1.0
    """Seconds between ticks when nothing happens (a result wakes the worker early)."""
    disable_after: timedelta = DISABLE_AFTER
    """An endpoint whose every attempt failed for this long is disabled."""
    max_queued: int = 100
    """Deliveries each endpoint's lane holds at most."""


@dataclass
class WorkerReport:
    """What one tick did (counts only: nothing personal)."""

    claimed: int = 0
    """Deliveries claimed."""
    submitted: int = 0
    """Handed to the sender."""
    skipped: int = 0
    """Settled without a request: the subject was erased."""
    delivered: int = 0
    """Results: delivered."""
    retried: int = 0
    """Results: to be retried later."""
    dead: int = 0
    """Results: dead letters."""
    deferred: int = 0
    """Results: handed back unsent."""
    disabled: list[str] = field(default_factory=list)
    """Endpoints disabled in this tick."""


def _owner() -> str:
    return f"{_DEFAULT_OWNER}-{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class WebhookWorker:
    """Delivers every enabled endpoint's events from ``store``.

    ``deliverer`` makes the attempts (one is made on ``clock`` when not given, and
    closed with the worker); ``clock`` times claims, retries and health. Several workers
    may run against one database: each delivery is leased to one of them.
    """

    def __init__(
        self,
        store: Store,
        *,
        deliverer: WebhookDeliverer | None = None,
        clock: Clock = system_clock,
        settings: WorkerSettings | None = None,
        owner: str | None = None,
        ids: Callable[[str], str] = new_id,
    ) -> None:
        self.store = store
        self.settings = settings or WorkerSettings()
        self.owner = owner or _owner()
        self._clock = clock
        self._ids = ids
        self._own_deliverer = deliverer is None
        self.deliverer = deliverer or WebhookDeliverer(clock=clock)
        self.sender = WebhookSender(
            self.deliverer.deliver,
            self._on_result,
            clock=clock,
            max_queued=self.settings.max_queued,
        )
        self._lock = threading.Lock()
        self._results: deque[tuple[str, int, DeliveryResult]] = deque()
        self._in_flight: dict[tuple[str, str], int] = {}
        self._seen: dict[str, WebhookEndpoint] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> datetime:
        """The clock's time, in UTC."""
        return ensure_utc(self._clock(), name="clock")

    # -- results, from the lanes' threads ---------------------------------------------

    def _on_result(self, delivery: Delivery, result: DeliveryResult) -> None:
        with self._lock:
            seq = self._in_flight.pop((result.endpoint_id, delivery.event_id), None)
            if seq is not None:
                self._results.append((result.endpoint_id, seq, result))
        self._wake.set()

    def _settlement(self, seq: int, result: DeliveryResult, now: datetime) -> Settlement:
        if result.kind == "delivered":
            return Settlement.done(seq)
        if result.kind == "retry":
            return Settlement.retry(seq, result.next_attempt_at, result.error)
        if result.kind == "dead":
            return Settlement.dead(seq, result.error)
        if result.kind == "disable_endpoint":
            return Settlement.retry(seq, result.at, "gone")  # kept for when it is enabled
        return Settlement.release(seq, result.next_attempt_at or now, result.reason)

    def _write_back(self, report: WorkerReport) -> None:
        with self._lock:
            taken = list(self._results)
            self._results.clear()
        if not taken:
            return
        now = self.now()
        try:
            by_consumer: dict[str, list[Settlement]] = {}
            for endpoint_id, seq, result in taken:
                by_consumer.setdefault(consumer_name(endpoint_id), []).append(
                    self._settlement(seq, result, now)
                )
            for consumer, settlements in by_consumer.items():
                self.store.settle(consumer, settlements, now=now)
            self.store.write(lambda tx: self._record_health(tx, taken, now, report))
        except StoreUnavailableError:
            with self._lock:  # try again next tick; the leases cover the wait
                self._results.extendleft(reversed(taken))
            raise
        for _, _, result in taken:
            if result.kind == "delivered":
                report.delivered += 1
            elif result.kind == "retry":
                report.retried += 1
            elif result.kind == "dead":
                report.dead += 1
            elif result.kind == "deferred":
                report.deferred += 1

    def _record_health(
        self,
        tx: ReadTransaction,
        taken: list[tuple[str, int, DeliveryResult]],
        now: datetime,
        report: WorkerReport,
    ) -> None:
        records = tx.endpoints({endpoint_id for endpoint_id, _, _ in taken})
        gone: set[str] = set()
        for endpoint_id, _, result in taken:
            record = records.get(endpoint_id)
            if record is None or result.kind == "deferred":
                continue
            records[endpoint_id] = with_health(
                record, record_result(endpoint_health(record), result), now
            )
            if result.kind == "disable_endpoint":
                gone.add(endpoint_id)
        if records:
            tx.apply(Changes(endpoints=tuple(records.values())))
        for endpoint_id in sorted(gone):
            if disable(tx, endpoint_id, "gone", now, event_id=self._ids("evt_")):
                report.disabled.append(endpoint_id)
                log.warning("webhook endpoint %s disabled: it answered 410", endpoint_id)
        for endpoint_id, record in records.items():
            if endpoint_id in gone or not record.enabled:
                continue
            health = endpoint_health(record)
            if should_disable(health, now, after=self.settings.disable_after) and disable(
                tx, endpoint_id, "failing", now, event_id=self._ids("evt_")
            ):
                report.disabled.append(endpoint_id)
                log.warning("webhook endpoint %s disabled: failing for days", endpoint_id)

    # -- the tick -----------------------------------------------------------------------

    def tick(self) -> WorkerReport:
        """Write results back, then claim and submit what every endpoint has room for."""
        report = WorkerReport()
        self._write_back(report)
        now = self.now()
        for record in self.store.endpoints():
            endpoint = endpoint_of(record)
            if self._seen.get(endpoint.id) != endpoint:
                self._seen[endpoint.id] = endpoint
                self.sender.update_endpoint(endpoint)
            if not endpoint.enabled:
                continue
            if should_disable(endpoint_health(record), now, after=self.settings.disable_after):
                if self._disable_failing(endpoint.id, now):
                    report.disabled.append(endpoint.id)
                continue
            self._claim(endpoint, now, report)
        return report

    def _disable_failing(self, endpoint_id: str, now: datetime) -> bool:
        event_id = self._ids("evt_")

        def work(tx: ReadTransaction) -> bool:
            return disable(tx, endpoint_id, "failing", now, event_id=event_id) is not None

        disabled = self.store.write(work)
        if disabled:
            log.warning("webhook endpoint %s disabled: failing for days", endpoint_id)
        return disabled

    def _room(self, endpoint: WebhookEndpoint) -> int:
        free = self.sender.free_slots(endpoint.id)
        # Never claim more than the lane can start within half a lease.
        startable = int(endpoint.rate_per_second * self.settings.lease.total_seconds() / 2)
        return max(0, min(free, self.settings.batch, max(1, startable)))

    def _claim(self, endpoint: WebhookEndpoint, now: datetime, report: WorkerReport) -> None:
        room = self._room(endpoint)
        if room <= 0:
            return
        consumer = consumer_name(endpoint.id)
        claimed = self.store.claim(
            consumer, owner=self.owner, now=now, limit=room, lease=self.settings.lease
        )
        report.claimed += len(claimed)
        settle_now: list[Settlement] = []
        for row in claimed:
            key = (endpoint.id, row.event.event_id)
            with self._lock:
                if key in self._in_flight:
                    continue  # still in the lane from an earlier claim: its result settles it
            body = render(row.event, self.store)
            if body is None:
                settle_now.append(Settlement.done(row.seq))
                report.skipped += 1
                continue
            with self._lock:
                self._in_flight[key] = row.seq
            status = self.sender.submit(
                endpoint,
                Delivery(
                    row.event.event_id, body, attempt=max(1, row.attempts), ordering_key=row.cart_id
                ),
            )
            if status == "accepted":
                report.submitted += 1
                continue
            with self._lock:
                self._in_flight.pop(key, None)
            settle_now.append(Settlement.release(row.seq, now))
        if settle_now:
            self.store.settle(consumer, settle_now, now=now)

    # -- running ------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Tick until ``stop`` is set (or ``stop()`` is called), waking early when a
        result arrives. A store that cannot be reached is tried again next tick."""
        stopping = stop or self._stop
        while not stopping.is_set() and not self._stop.is_set():
            try:
                self.tick()
            except StoreUnavailableError:
                log.warning("webhook worker: store unavailable, trying again")
            except Exception as exc:  # one bad tick never ends the worker
                log.error("webhook worker tick failed: %s", type(exc).__name__)
            self._wake.wait(self.settings.interval)
            self._wake.clear()

    def start(self) -> None:
        """Run in a daemon thread of its own."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self.run, name="cartback-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop ticking, let the deliveries in flight finish (at most ``timeout``
        seconds), hand the queued ones back and write every result back."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.sender.close(timeout=timeout)
        try:
            self._write_back(WorkerReport())
        except StoreUnavailableError:
            log.warning("webhook worker: results not written back; their leases will expire")
        if self._own_deliverer:
            self.deliverer.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the lanes are empty and every result was reported (tests)."""
        return self.sender.wait_idle(timeout)
