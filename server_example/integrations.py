"""The receiver's background integrations: the webhook worker and the ticket triggers.

``Integrations.start()`` stores the endpoints of the settings (``webhooks`` in
``CARTBACK_CONFIG``), then, unless ``run_workers`` is off, runs the webhook worker
(its own thread; each endpoint has its own lane of threads) and the ticket triggers (a
thread ticking every few seconds: new captures at once, every open cart on a schedule).
Neither ever runs on the capture path: a slow or dead endpoint delays no capture.
``python -m server_example webhooks`` runs the same in a process of its own
(``run_forever``), for deployments that separate them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Final

from cartback import Cartback, StoreUnavailableError
from cartback._ticket_pass import TicketPass
from cartback.webhooks import WebhookDeliverer
from cartback.webhooks._worker import WebhookWorker, WorkerSettings
from server_example.settings import Settings

__all__ = ["TICKET_INTERVAL", "Integrations", "run_forever"]

log = logging.getLogger("cartback.receiver.integrations")

TICKET_INTERVAL: Final = 5.0
"""Seconds between two ticket passes over new captures."""
TICKET_SCHEDULE: Final = timedelta(minutes=15)
"""How often every open cart is evaluated again."""


class Integrations:
    """The webhook worker and the ticket pass of one receiver (or worker process)."""

    def __init__(
        self,
        cartback: Cartback,
        settings: Settings,
        *,
        deliverer: WebhookDeliverer | None = None,
        worker_settings: WorkerSettings | None = None,
        ticket_interval: float = TICKET_INTERVAL,
    ) -> None:
        self.cartback = cartback
        self.settings = settings
        owner = f"{socket.gethostname()[:40]}-{os.getpid()}"
        self.worker = WebhookWorker(
            cartback.store,
            deliverer=deliverer,
            clock=cartback.clock,
            settings=worker_settings
            or WorkerSettings(lease=timedelta(seconds=settings.webhook_lease_seconds)),
            owner=f"webhooks-{owner}",
        )
        public = settings.public_url.rstrip("/")
        self.tickets = TicketPass(
            cartback,
            settings.tickets,
            owner=f"tickets-{owner}",
            recovery_url=lambda token: f"{public}/r/{token}",
            schedule_every=TICKET_SCHEDULE,
        )
        self._ticket_interval = ticket_interval
        self._stop = threading.Event()
        self._ticket_thread: threading.Thread | None = None
        self.running = False

    def store_endpoints(self) -> None:
        """Add or update the endpoints the settings declare (the dashboard's own stay)."""
        for endpoint in self.settings.webhooks:
            self.cartback.upsert_webhook_endpoint(endpoint)

    def _tick_tickets(self) -> None:
        while not self._stop.is_set():
            try:
                self.tickets.tick()
            except StoreUnavailableError:
                log.warning("ticket triggers: store unavailable, trying again")
            except Exception as exc:  # one bad pass never ends the thread
                log.error("ticket triggers failed: %s", type(exc).__name__)
            self._stop.wait(self._ticket_interval)

    def start(self) -> None:
        """Store the settings' endpoints; run the worker and the ticket pass in the
        background unless ``settings.run_workers`` is off."""
        self.store_endpoints()
        if not self.settings.run_workers:
            return
        self.worker.start()
        self._ticket_thread = threading.Thread(
            target=self._tick_tickets, name="cartback-tickets", daemon=True
        )
        self._ticket_thread.start()
        self.running = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both, writing back every delivery result that came in."""
        self._stop.set()
        if self._ticket_thread is not None:
            self._ticket_thread.join(timeout)
            self._ticket_thread = None
        self.worker.stop(timeout)
        self.running = False


def run_forever(
    cartback: Cartback,
    settings: Settings,
    *,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run the integrations in this process until SIGTERM or SIGINT."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    integrations = Integrations(cartback, dataclasses.replace(settings, run_workers=True))
    integrations.start()
    if ready is not None:
        ready()
    try:
        stopping.wait()
    finally:
        integrations.stop()
