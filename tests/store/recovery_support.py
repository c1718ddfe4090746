"""What the recovery tests share: a shop, a recording sender, a dispatcher on the
shipped flows, ticking for a while, capturing a cart."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cartback import Cartback, LinkSigner, MessageChannel, ShopSettings
from cartback._dispatcher import Dispatcher, DispatcherSettings, TickReport
from cartback.flows import FlowAssignments, conversational_flow, multichannel_flow
from cartback.senders import SendOutcome, SendResult
from tests.conftest import FakeClock
from tests.sdk._support import submission

SHOP = ShopSettings(
    shop_name="Sourdough School",
    sender_name="Claire",
    sender_email="claire@sourdough.example",
    reply_to="claire@sourdough.example",
    public_url="https://carts.sourdough.example",
)
SIGNER = LinkSigner(b"k" * 32)


def Result(outcome: SendOutcome, **fields: Any) -> SendResult:
    return SendResult(outcome=outcome, **fields)


@dataclass
class FakeSender:
    """Records every hand-over; answers from ``script`` (then accepts)."""

    script: list[SendResult] = field(default_factory=list)
    sent: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    channel: MessageChannel = "email"

    def send(self, message: Any, *, idempotency_key: str) -> SendResult:
        with self.lock:
            self.sent.append((idempotency_key, message))
            if self.script:
                return self.script.pop(0)
        return SendResult(outcome="accepted", provider_id="p" + idempotency_key[-6:])


def make_dispatcher(
    client: Cartback,
    sender: FakeSender,
    *,
    owner: str = "d1",
    control: dict[str, float] | None = None,
    **settings: Any,
) -> Dispatcher:
    assignments = FlowAssignments(flows=(conversational_flow(), multichannel_flow()),
                                  default="conversational", control=control or {})  # fmt: skip
    return Dispatcher(
        client,
        {"email": sender, "sms": sender, "push": sender},
        DispatcherSettings(assignments=assignments, shop=SHOP, **settings),
        signer=SIGNER,
        owner=owner,
    )


def run(
    dispatcher: Dispatcher, clock: FakeClock, *, hours: float, step_minutes: int = 10
) -> TickReport:
    """Tick every ``step_minutes`` for ``hours``; the sum of the reports."""
    total = TickReport()
    for _ in range(int(hours * 60 / step_minutes) + 1):
        report = dispatcher.tick()
        for name in ("enrolled", "planned", "sent", "skipped", "deferred", "failed", "exited"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        for reason, count in report.reasons.items():
            total.reasons[reason] = total.reasons.get(reason, 0) + count
        clock.advance(minutes=step_minutes)
    return total


def capture(client: Cartback, **kwargs: Any) -> str:
    result = client.capture(submission(**kwargs))
    assert result.cart is not None
    return result.cart.id
