"""Domain events: typed, versioned facts written to the outbox with the change they report.

Every change the store applies writes its events in the same transaction, so a consumer
(webhook endpoints, the flow engine, ticket rules, metrics) never sees a change without
its event or an event without its change.

What an event carries: ids, names and amounts, never personal data. A cart event names
the cart (``cart_id``) and the contact fields that were filled or changed, not their
values; a consent event names the ledger entry (``consent_id``), not the prospect. A
consumer that needs the contact reads it from the store when it handles the event, so
an erased prospect is erased everywhere at once: there is nothing to scrub in the
outbox, and a webhook for an erased cart is never sent. docs/events.md holds the JSON
schema of every type, generated from these models.

Each type has a ``version``; a change that is not backwards compatible (a field removed
or its meaning changed) becomes a new version, and consumers see which one they get.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from cartback._types import (
    Channel,
    ConsentAction,
    ConsentSourceKind,
    MessageChannel,
    PaymentFailureReason,
)

__all__ = [
    "EVENT_TYPES",
    "CartCaptured",
    "CartOrdered",
    "CartPaymentFailed",
    "CartRecovered",
    "CartReopened",
    "CartSubmitted",
    "CartUpdated",
    "ConsentChanged",
    "DomainEvent",
    "EndpointDisabled",
    "EventType",
    "LinkClicked",
    "MessageFailed",
    "MessageSent",
    "TicketCreated",
    "parse_event",
]

_EVENT = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class _Event(BaseModel):
    """The fields every event has."""

    model_config = _EVENT

    event_id: str
    """Unique id, stable across every delivery attempt (a webhook's ``webhook-id``)."""
    occurred_at: datetime
    """When the change happened (UTC)."""


class _CartEvent(_Event):
    cart_id: str
    """The cart concerned."""
    form_id: str
    """The cart's order form."""


class CartCaptured(_CartEvent):
    """A prospect's contact data was entered on an order form: a new cart ("contact data
    entered on order form" notification)."""

    type: Literal["cart.captured"] = "cart.captured"
    version: Literal[1] = 1
    product_id: str | None = None
    """The product's id, when the form gave one."""
    cart_value: Decimal | None = None
    """The cart's value, when the form gave one."""
    currency: str | None = None
    """ISO 4217 code of ``cart_value``."""
    fields: tuple[str, ...] = ()
    """Names of the contact fields that were filled (e.g. ``email``, ``city``)."""


class CartUpdated(_CartEvent):
    """A later capture changed an open cart."""

    type: Literal["cart.updated"] = "cart.updated"
    version: Literal[1] = 1
    changed: tuple[str, ...] = ()
    """Names of what changed: contact fields, ``product_id``, ``cart_value``, ``step``..."""


class CartSubmitted(_CartEvent):
    """The browser saw the order form submitted; the shop's backend has not yet
    confirmed the order."""

    type: Literal["cart.submitted"] = "cart.submitted"
    version: Literal[1] = 1


class CartPaymentFailed(_CartEvent):
    """The order platform reported a failed payment attempt; the cart stays open."""

    type: Literal["cart.payment_failed"] = "cart.payment_failed"
    version: Literal[1] = 1
    reason: PaymentFailureReason
    """Why the payment failed."""


class CartReopened(_CartEvent):
    """A submitted cart was neither confirmed nor failed in time, and is open again."""

    type: Literal["cart.reopened"] = "cart.reopened"
    version: Literal[1] = 1


class CartOrdered(_CartEvent):
    """An order closed the cart."""

    type: Literal["cart.ordered"] = "cart.ordered"
    version: Literal[1] = 1
    order_id: str | None = None
    """The shop's order id."""
    revenue: Decimal | None = None
    """The order's revenue."""
    currency: str | None = None
    """ISO 4217 code of ``revenue`` (the cart's currency)."""


class CartRecovered(_CartEvent):
    """An order closed a cart after a recovery message or link reached the prospect."""

    type: Literal["cart.recovered"] = "cart.recovered"
    version: Literal[1] = 1
    order_id: str | None = None
    """The shop's order id."""
    revenue: Decimal | None = None
    """The order's revenue."""
    currency: str | None = None
    """ISO 4217 code of ``revenue``."""
    message_id: str | None = None
    """The recovery message credited (last click), if any."""
    channel: MessageChannel | None = None
    """That message's channel."""


class ConsentChanged(_Event):
    """A grant or withdrawal was appended to the consent ledger."""

    type: Literal["consent.changed"] = "consent.changed"
    version: Literal[1] = 1
    consent_id: str
    """The ledger entry (``ConsentEvent.id``; the prospect is read from it)."""
    channel: Channel
    """The channel."""
    action: ConsentAction
    """``granted`` or ``withdrawn``."""
    source: ConsentSourceKind
    """Where it came from."""
    cart_id: str | None = None
    """The cart whose form recorded it, when it came from a form."""


class LinkClicked(_Event):
    """A recovery link was opened."""

    type: Literal["link.clicked"] = "link.clicked"
    version: Literal[1] = 1
    cart_id: str
    """The cart the link reopens."""
    utm: dict[str, str] = Field(default_factory=dict)
    """The link's UTM parameters."""


class MessageSent(_Event):
    """A provider accepted a recovery message."""

    type: Literal["message.sent"] = "message.sent"
    version: Literal[1] = 1
    message_id: str
    """The message."""
    cart_id: str
    """The cart it is about."""
    channel: MessageChannel
    """Its channel."""
    flow_id: str | None = None
    """The flow that planned it."""
    step_id: str | None = None
    """The flow step."""
    variant: str | None = None
    """The A/B variant."""


class MessageFailed(_Event):
    """A recovery message could not be sent (and will not be retried)."""

    type: Literal["message.failed"] = "message.failed"
    version: Literal[1] = 1
    message_id: str
    """The message."""
    cart_id: str
    """The cart it is about."""
    channel: MessageChannel
    """Its channel."""
    reason: str
    """A stable code: why it failed."""


class TicketCreated(_Event):
    """A ticket rule created a sales task."""

    type: Literal["ticket.created"] = "ticket.created"
    version: Literal[1] = 1
    ticket_id: str
    """The ticket."""
    rule: str
    """The rule that created it."""
    cart_id: str | None = None
    """The cart it is about."""


class EndpointDisabled(_Event):
    """A webhook endpoint was disabled (410 Gone, or failing for too long)."""

    type: Literal["endpoint.disabled"] = "endpoint.disabled"
    version: Literal[1] = 1
    endpoint_id: str
    """The endpoint."""
    reason: str
    """``gone`` or ``failing``."""


DomainEvent: TypeAlias = Annotated[
    CartCaptured
    | CartUpdated
    | CartSubmitted
    | CartPaymentFailed
    | CartReopened
    | CartOrdered
    | CartRecovered
    | ConsentChanged
    | LinkClicked
    | MessageSent
    | MessageFailed
    | TicketCreated
    | EndpointDisabled,
    Field(discriminator="type"),
]
"""Any domain event, discriminated by its ``type``."""

EventType = Literal[
    "cart.captured",
    "cart.updated",
    "cart.submitted",
    "cart.payment_failed",
    "cart.reopened",
    "cart.ordered",
    "cart.recovered",
    "consent.changed",
    "link.clicked",
    "message.sent",
    "message.failed",
    "ticket.created",
    "endpoint.disabled",
]
"""The type of a domain event."""

EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)

_ADAPTER: Final[TypeAdapter[DomainEvent]] = TypeAdapter(DomainEvent)


def parse_event(data: str | bytes | dict[str, object]) -> DomainEvent:
    """An event from its JSON text or JSON-ready mapping (as the store keeps it)."""
    if isinstance(data, dict):
        return _ADAPTER.validate_python(data)
    return _ADAPTER.validate_json(data)


def event_json(event: DomainEvent) -> str:
    """An event's JSON text (compact, as the store keeps it)."""
    return event.model_dump_json()


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema of every event type as it is serialised, by type (docs/events.md)."""
    return {
        str(model.model_fields["type"].default): model.model_json_schema(mode="serialization")
        for model in _MODELS
    }


_MODELS: Final[tuple[type[_Event], ...]] = (
    CartCaptured,
    CartUpdated,
    CartSubmitted,
    CartPaymentFailed,
    CartReopened,
    CartOrdered,
    CartRecovered,
    ConsentChanged,
    LinkClicked,
    MessageSent,
    MessageFailed,
    TicketCreated,
    EndpointDisabled,
)
