"""Carts and consent for the ticket tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cartback import Cart, CartContext, Channel, ConsentAction, ConsentEvent, ConsentSource, Contact

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def cart(
    cart_id: str = "c_1",
    *,
    email: str | None = "jane@example.com",
    phone: str | None = "+14155550123",
    value: str | None = "250.00",
    currency: str | None = "USD",
    product_id: str | None = "p_course",
    form_id: str = "f_main",
    status: str = "open",
    age: timedelta = timedelta(0),
    **changes: Any,
) -> Cart:
    created = NOW - age
    fields: dict[str, Any] = {
        "id": cart_id,
        "status": status,
        "created_at": created,
        "updated_at": created,
        "contact": Contact(
            email=email,
            phone=phone,
            phone_e164=phone is not None and phone.startswith("+"),
            first_name="Jane",
            last_name="Doe",
        ),
        "context": CartContext(
            form_id=form_id,
            product_id=product_id,
            product_name="The course" if product_id else None,
            cart_value=Decimal(value) if value is not None else None,
            currency=currency,
            step=2,
            last_field="card_holder",
        ),
    }
    fields.update(changes)
    return Cart(**fields)


def consent_event(channel: Channel, action: ConsentAction, at: datetime = NOW) -> ConsentEvent:
    return ConsentEvent(
        prospect="jane@example.com",
        channel=channel,
        action=action,
        at=at,
        source=ConsentSource(kind="form", ref="f_main:sms_optin"),
    )
