"""Which recovery messages an order is credited to, and how much of it each gets.

The window decides which messages may have caused an order; the model divides the
credit among them. For an order at time ``T`` on a cart, a message about that cart is
*in the window* when it was sent (the provider accepted it) at or before ``T`` and

- it was clicked or replied to (``engaged_kinds``) between ``T - click_window`` and
  ``T`` (an *engaged* touch, at the latest such engagement), or
- it was delivered between ``T - delivery_window`` and ``T`` (a *delivered* touch, at
  its delivery receipt; a message without a receipt counts as delivered when sent, and a
  message whose receipt came after ``T`` was not delivered before the order).

Then ``last_click`` credits the message of the latest engaged touch, or, without one,
the message of the latest delivered touch; ``first_touch`` credits the message sent
first; ``linear`` gives every message in the window an equal share. An order with no
message in its window is *unattributed*: it is not counted as recovered by messages.
Engagements dated before their message was sent are ignored (they cannot be real).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Final, Literal

from cartback._errors import InvalidInputError
from cartback._models import MessageRecord
from cartback.reports._engagement import Engagement
from cartback.reports._journey import Journey
from cartback.reports._settings import DEFAULT_SETTINGS, ReportSettings

__all__ = ["Credit", "TouchKind", "attribute", "split_revenue"]

TouchKind = Literal["engaged", "delivered"]
"""Why a message is in an order's window: it was clicked or replied to, or only
delivered."""

_ONE: Final = Fraction(1)
_CENT_EXPONENT: Final = -2


@dataclass(frozen=True, slots=True)
class Credit:
    """One message's share of one order."""

    message: MessageRecord
    """The credited message."""
    share: Fraction
    """Its share of the order (1 for ``last_click`` and ``first_touch``)."""
    revenue: Decimal | None
    """Its share of the order's revenue (``None`` when the revenue is unknown)."""
    touch: TouchKind
    """``engaged`` (clicked or replied to) or ``delivered``."""
    touched_at: datetime
    """The engagement or delivery that put the message in the window."""
    ordered_at: datetime
    """When the order was placed."""

    def as_engagement(self) -> Engagement:
        """The ``ordered`` engagement that records this credit on the message."""
        return Engagement(
            message_id=self.message.id,
            cart_id=self.message.cart_id,
            kind="ordered",
            at=self.ordered_at,
        )


def split_revenue(revenue: Decimal, parts: int) -> list[Decimal]:
    """``revenue`` in ``parts`` shares that differ by at most one cent (or one unit of
    the revenue's own precision, when finer) and sum to it exactly; the larger shares
    come first. Raises ``InvalidInputError`` for fewer than one part or a revenue that is
    not a finite number."""
    if parts < 1 or not revenue.is_finite():
        raise InvalidInputError(
            "revenue is split into one or more parts of a finite amount",
            field="revenue" if parts >= 1 else "parts",
            reason="invalid",
        )
    exponent = revenue.as_tuple().exponent
    places = min(exponent if isinstance(exponent, int) else 0, _CENT_EXPONENT)
    quantum = Decimal(1).scaleb(places)
    units = int(revenue.scaleb(-places))
    base, extra = divmod(units, parts)
    return [(quantum * (base + 1) if index < extra else quantum * base) for index in range(parts)]


def attribute(journey: Journey, settings: ReportSettings = DEFAULT_SETTINGS) -> tuple[Credit, ...]:
    """The credits of the journey's order (see the module's rules); ``()`` when the cart
    is not ordered or no message is in the order's window (unattributed).

    Credits come in the order the messages were sent; their shares sum to 1 and their
    revenues to the order's revenue.
    """
    ordered_at = journey.ordered_at
    if ordered_at is None:
        return ()
    sent: dict[str, MessageRecord] = {}
    for message in journey.messages:
        if message.status == "sent" and message.at <= ordered_at:
            sent[message.id] = message
    if not sent:
        return ()
    click_from = ordered_at - settings.click_window
    delivery_from = ordered_at - settings.delivery_window
    engaged_kinds = settings.engaged_kinds
    engaged: dict[str, datetime] = {}
    receipts: dict[str, datetime] = {}
    for engagement in journey.engagements:
        record = sent.get(engagement.message_id)
        if record is None or engagement.at < record.at:
            continue
        at = engagement.at
        if engagement.kind == "delivered":
            earliest = receipts.get(record.id)
            if earliest is None or at < earliest:
                receipts[record.id] = at
        elif engagement.kind in engaged_kinds and click_from <= at <= ordered_at:
            latest = engaged.get(record.id)
            if latest is None or at > latest:
                engaged[record.id] = at
    touches: dict[str, tuple[TouchKind, datetime]] = {
        message_id: ("engaged", at) for message_id, at in engaged.items()
    }
    for message_id, message in sent.items():
        if message_id in touches:
            continue
        delivered = receipts.get(message_id, message.at)
        if delivery_from <= delivered <= ordered_at:
            touches[message_id] = ("delivered", delivered)
    if not touches:
        return ()
    if settings.model == "last_click":
        kind: TouchKind = "engaged" if engaged else "delivered"
        chosen = [
            max(
                (message_id for message_id, touch in touches.items() if touch[0] == kind),
                key=lambda message_id: (touches[message_id][1], sent[message_id].at, message_id),
            )
        ]
    else:
        chosen = sorted(touches, key=lambda message_id: (sent[message_id].at, message_id))
        if settings.model == "first_touch":
            chosen = chosen[:1]
    share = _ONE if len(chosen) == 1 else Fraction(1, len(chosen))
    revenue = journey.revenue if journey.revenue is None or journey.revenue.is_finite() else None
    shares: list[Decimal | None] = (
        [None] * len(chosen) if revenue is None else list(split_revenue(revenue, len(chosen)))
    )
    return tuple(
        Credit(
            message=sent[message_id],
            share=share,
            revenue=part,
            touch=touches[message_id][0],
            touched_at=touches[message_id][1],
            ordered_at=ordered_at,
        )
        for message_id, part in zip(chosen, shares, strict=True)
    )
