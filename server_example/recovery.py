"""The receiver's recovery runtime: the dispatcher, ticking in the background.

``RecoveryRunner`` ticks ``Dispatcher`` every ``dispatch_interval`` seconds in a thread
of its own (so a slow provider never delays a capture), and opens again the carts whose
submit was never confirmed. ``python -m server_example dispatch`` runs it alone, for
deployments that separate receivers from workers; any number of runners may share one
PostgreSQL database (each enrolment is leased to one of them at a time).

What it sends comes from the settings: ``shop`` (what messages say), ``flows`` (which
carts enter which flow; the shipped conversational email by default) and ``senders``
(SMTP, Twilio, APNs, FCM, Meta); a channel without a configured sender is a dry run:
recorded (and shown in the dashboard) as sent, never sent. Reading those settings is the
SDK's (``cartback._recovery_config``, shared with the ``cartback`` command); this module
re-exports it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cartback import Cartback, ConfigurationError
from cartback._dispatcher import Dispatcher, TickReport
from cartback._recovery_config import (
    build_dispatcher,
    flow_assignments,
    guard_settings,
    make_senders,
    shop_settings,
    smtp_from_url,
)

__all__ = [
    "RecoveryRunner",
    "build_dispatcher",
    "flow_assignments",
    "guard_settings",
    "make_senders",
    "shop_settings",
    "smtp_from_url",
]

log = logging.getLogger("cartback.receiver.recovery")


class RecoveryRunner:
    """Ticks a dispatcher every ``interval`` seconds in a thread of its own.

    ``wait`` is how the thread waits between ticks (injectable: tests and the demo's
    accelerated clock pass their own); ``stop`` ends it within one tick.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        cartback: Cartback,
        *,
        interval: float,
        on_tick: Callable[[TickReport], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ConfigurationError(
                "dispatch_interval must be positive", setting="dispatch_interval"
            )
        self.dispatcher = dispatcher
        self.cartback = cartback
        self.interval = interval
        self._on_tick = on_tick
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cartback-recovery", daemon=True)

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the tick in progress (bounded by ``timeout``)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def tick(self) -> TickReport:
        """One round: stale submissions reopened, then the dispatcher's tick."""
        self.cartback.reopen_stale_submissions()
        report = self.dispatcher.tick()
        if self._on_tick is not None:
            self._on_tick(report)
        return report

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                report = self.tick()
                if report.sent or report.failed:
                    log.info("recovery: %d sent, %d failed", report.sent, report.failed)
            except Exception as exc:  # the database is down, say: try again next tick
                log.warning("recovery tick failed: %s", type(exc).__name__)
            self._stopping.wait(self.interval)
