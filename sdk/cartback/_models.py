"""The typed values cartback passes around and stores.

Stored values (``Contact``, ``CartContext``, ``Cart``, ``ConsentEvent``,
``OutboxEvent``) are frozen: they are facts about the past, and a changed cart is a
new value produced by a merge, never an object edited in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cartback._types import (
    CartStatus,
    Channel,
    ConsentAction,
    ConsentSourceKind,
    EventType,
)

__all__ = [
    "Cart",
    "CartContext",
    "ConsentEvent",
    "ConsentSource",
    "Contact",
    "DroppedFields",
    "OutboxEvent",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Contact(BaseModel):
    """The contact and address fields a prospect actually filled, normalised.

    Every field is optional except that a stored contact always has an email or
    (when the policy allows capture without email) a phone number in E.164.
    """

    model_config = _FROZEN

    email: str | None = None
    """Email address as normalised by email-validator (domain lower-cased)."""
    phone: str | None = None
    """Phone number in E.164 when it could be parsed, else exactly as entered."""
    phone_e164: bool | None = None
    """True when ``phone`` was parsed into E.164; False when kept as entered."""
    first_name: str | None = None
    """Given name."""
    last_name: str | None = None
    """Family name."""
    street: str | None = None
    """Street (and house number when the form has a single address line)."""
    house_number: str | None = None
    """House number when the form asks for it separately."""
    city: str | None = None
    """City or town."""
    state: str | None = None
    """State, region or province."""
    postal_code: str | None = None
    """Postal or ZIP code."""
    country: str | None = None
    """ISO 3166-1 alpha-2 country code."""
    address_extra: dict[str, str] = Field(default_factory=dict)
    """Additional address fields the order form declares, by their form field name."""

    @property
    def prospect_key(self) -> str | None:
        """The identity of the prospect: the lower-cased email, else ``tel:`` + E.164."""
        if self.email:
            return self.email.lower()
        if self.phone and self.phone_e164:
            return "tel:" + self.phone
        return None


class CartContext(BaseModel):
    """Where and when the cart was abandoned."""

    model_config = _FROZEN

    form_id: str
    """The order form's id."""
    product_id: str | None = None
    """The product's id in the shop."""
    product_name: str | None = None
    """The product's name as shown on the form."""
    cart_value: Decimal | None = None
    """The value of the cart, in ``currency``."""
    currency: str | None = None
    """ISO 4217 currency code of ``cart_value``."""
    seller: str | None = None
    """The seller of record (an entity id such as ``"us"``)."""


class Cart(BaseModel):
    """An abandoned cart: a prospect's filled fields on one order form."""

    model_config = _FROZEN

    id: str
    """Opaque cart id; ids sort in creation order and end in 64 random bits."""
    status: CartStatus
    """``open`` until an order closes it."""
    created_at: datetime
    """When the prospect's data was first captured on this form (UTC)."""
    updated_at: datetime
    """When a later capture last changed the cart (UTC)."""
    contact: Contact
    """The filled contact and address fields."""
    context: CartContext
    """Product, form and cart value."""
    newsletter_opt_in: bool | None = None
    """The form's newsletter checkbox, when the form has one."""
    session_id: str | None = None
    """The browser session that last captured into this cart (from the snippet)."""
    capture_count: int = 1
    """How many captures changed this cart."""
    order_id: str | None = None
    """The order that closed the cart."""
    revenue: Decimal | None = None
    """The order's revenue, when known."""
    ordered_at: datetime | None = None
    """When the order closed the cart (UTC)."""


class ConsentSource(BaseModel):
    """How a consent event reached us."""

    model_config = _FROZEN

    kind: ConsentSourceKind
    """``form``, ``api``, ``unsubscribe_link`` or ``snippet_optout``."""
    ref: str | None = None
    """Detail, e.g. ``"<form id>:<field name>"`` for a form checkbox."""


class ConsentEvent(BaseModel):
    """One grant or withdrawal of consent for one channel. The ledger only appends."""

    model_config = _FROZEN

    prospect: str
    """The prospect key (lower-cased email, or ``tel:`` + E.164)."""
    channel: Channel
    """The channel the event is about."""
    action: ConsentAction
    """``granted`` or ``withdrawn``."""
    at: datetime
    """When it happened (UTC)."""
    source: ConsentSource
    """Where it came from."""
    text_version: str | None = None
    """The version of the consent text the prospect saw."""
    session_id: str | None = None
    """The browser session it was captured in, if any."""


@dataclass(frozen=True, slots=True)
class DroppedFields:
    """How many submitted fields were not kept, by reason. Never the values.

    A plain dataclass rather than a model: it is built once per capture, on the hot path.
    """

    empty: int = 0
    """Empty or whitespace-only values."""
    placeholder: int = 0
    """Values equal to the field's declared placeholder."""
    extra: int = 0
    """Fields the order form does not map to a contact field (custom inputs)."""
    payment_plan: int = 0
    """The payment plan control."""
    card_number: int = 0
    """Values containing a Luhn-valid payment-card number."""
    invalid: int = 0
    """Values of a known field that could not be used (e.g. an invalid email)."""

    @property
    def total(self) -> int:
        """All dropped fields."""
        return (
            self.empty
            + self.placeholder
            + self.extra
            + self.payment_plan
            + self.card_number
            + self.invalid
        )


class OutboxEvent(BaseModel):
    """A domain event written in the same transaction as the change it reports."""

    model_config = _FROZEN

    seq: int
    """Position in the outbox, increasing."""
    event_id: str
    """Unique id, stable across delivery retries."""
    type: EventType
    """``cart.captured``, ``cart.updated``, ``cart.ordered`` or ``consent.changed``."""
    occurred_at: datetime
    """When the change happened (UTC)."""
    cart_id: str | None
    """The cart concerned, if any."""
    payload: dict[str, Any]
    """The event body, JSON-ready (it holds personal data: never log it)."""
    delivered_at: datetime | None = None
    """When a consumer acknowledged it."""
