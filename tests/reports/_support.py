"""Builders for report tests: messages, engagements, journeys and carts at fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cartback._models import Cart, CartContext, Contact, MessageRecord, PaymentFailure
from cartback._types import MessageChannel
from cartback.reports import Engagement, EngagementKind

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
"""A Monday, noon UTC."""


def at(**delta: float) -> datetime:
    """``T0`` plus a ``timedelta(**delta)``."""
    return T0 + timedelta(**delta)


def message(
    message_id: str,
    *,
    cart_id: str = "cart-a",
    channel: MessageChannel = "email",
    when: datetime = T0,
    status: Any = "sent",
    flow_id: str | None = "conversational",
    step_id: str | None = "email_3h",
    variant: str | None = None,
) -> MessageRecord:
    return MessageRecord(
        id=message_id,
        cart_id=cart_id,
        prospect=f"{cart_id}@example.com",
        channel=channel,
        status=status,
        at=when,
        flow_id=flow_id,
        flow_version=1 if flow_id else None,
        step_id=step_id,
        variant=variant,
    )


def engagement(
    record: MessageRecord, kind: EngagementKind, when: datetime, **utm: str
) -> Engagement:
    return Engagement(message_id=record.id, cart_id=record.cart_id, kind=kind, at=when, utm=utm)


def cart(
    cart_id: str = "cart-a",
    *,
    created: datetime = T0,
    form_id: str = "checkout",
    product_id: str | None = "p1",
    product_name: str | None = "Course",
    ordered_at: datetime | None = None,
    revenue: str | None = None,
    value: str | None = "49.00",
    currency: str | None = "USD",
    email: str | None = None,
    step: int | None = None,
    last_field: str | None = None,
    failures: tuple[tuple[Any, datetime], ...] = (),
) -> Cart:
    return Cart(
        id=cart_id,
        status="ordered" if ordered_at else "open",
        created_at=created,
        updated_at=created,
        contact=Contact(email=email or f"{cart_id}@example.com"),
        context=CartContext(
            form_id=form_id,
            product_id=product_id,
            product_name=product_name,
            cart_value=Decimal(value) if value is not None else None,
            currency=currency,
            step=step,
            last_field=last_field,
        ),
        order_id="ord-" + cart_id if ordered_at else None,
        revenue=Decimal(revenue) if revenue is not None else None,
        ordered_at=ordered_at,
        payment_failures=tuple(PaymentFailure(reason=reason, at=when) for reason, when in failures),
    )
