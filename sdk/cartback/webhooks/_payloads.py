"""What a webhook carries for each event type: the published, versioned payloads.

An outbox event holds no personal data (``cartback.events``); its webhook adds what the
subscriber needs, read from the store *when it is delivered*:

- ``cart.*``: the event's fields and ``cart``, the cart as stored then (contact and
  context; the "contact data entered on order form" notification holds nothing the
  stored cart does not);
- ``consent.changed``: the event's fields, ``email`` (the prospect's) and ``entry``,
  the ledger entry the event names;
- ``message.sent`` / ``message.failed``: the event's fields and ``message``, its record;
- ``ticket.created``: the event's fields and ``ticket``, the ticket.

When the subject is gone (the prospect was erased, the cart purged), there is nothing
to send: ``render`` returns ``None`` and the delivery is settled without a request.
The body is ``{"type", "version", "timestamp", "data"}`` (``webhook_payload``);
``payload_schemas`` gives the JSON schema of each type's body (docs/webhooks.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.fields import FieldInfo

from cartback._models import (
    Cart,
    CartContext,
    ConsentSource,
    Contact,
    MessageRecord,
    PaymentFailure,
)
from cartback._types import CartStatus, Channel, ConsentAction
from cartback.events import (
    CartCaptured,
    CartOrdered,
    CartRecovered,
    CartUpdated,
    ConsentChanged,
    DomainEvent,
    MessageFailed,
    MessageSent,
    TicketCreated,
)
from cartback.store import Store
from cartback.tickets import Ticket
from cartback.webhooks._signing import webhook_payload

__all__ = [
    "ConsentEntry",
    "WebhookCart",
    "payload_models",
    "payload_schemas",
    "render",
]

_FROZEN: Final = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class WebhookCart(BaseModel):
    """A cart as a webhook carries it: what the store holds, as it is when delivered."""

    model_config = _FROZEN

    id: str
    """The cart's id."""
    status: CartStatus
    """``open``, ``submitted`` or ``ordered``."""
    created_at: datetime
    """When the prospect's data was first captured (UTC)."""
    updated_at: datetime
    """When it last changed (UTC)."""
    contact: Contact
    """The contact and address fields the prospect filled (only those)."""
    context: CartContext
    """Order form, product, value, seller, furthest step, last field touched."""
    newsletter_opt_in: bool | None = None
    """The newsletter box as last submitted (``None``: the form has none)."""
    capture_count: int = 1
    """Captures merged into the cart."""
    order_id: str | None = None
    """The shop's order id, once ordered."""
    revenue: Decimal | None = None
    """The order's revenue, once ordered."""
    ordered_at: datetime | None = None
    """When the order closed it (UTC)."""
    submitted_at: datetime | None = None
    """When the browser saw the form submitted, while awaiting the order (UTC)."""
    payment_failures: tuple[PaymentFailure, ...] = ()
    """Failed payment attempts, oldest first."""

    @classmethod
    def of(cls, cart: Cart) -> WebhookCart:
        """The published view of a stored cart (its browser session id stays home)."""
        return cls.model_validate(cart.model_dump(exclude={"session_id"}))


class ConsentEntry(BaseModel):
    """A consent ledger entry as a webhook carries it."""

    model_config = _FROZEN

    id: str
    """The entry's id (the event's ``consent_id``)."""
    channel: Channel
    """The channel."""
    action: ConsentAction
    """``granted`` or ``withdrawn``."""
    at: datetime
    """When (UTC)."""
    source: ConsentSource
    """Where it came from (form, link, API, device...)."""
    text_version: str | None = None
    """The version of the consent text shown, when recorded."""


_ATTACHMENTS: Final[Mapping[type[BaseModel], tuple[str, type[BaseModel], str]]] = {
    CartCaptured: ("cart", WebhookCart, "The cart as stored when this was delivered."),
    CartUpdated: ("cart", WebhookCart, "The cart as stored when this was delivered."),
    CartOrdered: ("cart", WebhookCart, "The cart as stored when this was delivered."),
    CartRecovered: ("cart", WebhookCart, "The cart as stored when this was delivered."),
    ConsentChanged: ("entry", ConsentEntry, "The ledger entry the event names."),
    MessageSent: ("message", MessageRecord, "The message's record."),
    MessageFailed: ("message", MessageRecord, "The message's record."),
    TicketCreated: ("ticket", Ticket, "The ticket: contact, cart, history, consent, link."),
}
"""Each published event model: the field its webhook adds, that field's model, and its
description."""


def _data_model(event_model: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in event_model.model_fields.items()
        if name not in ("type", "version")
    }
    name, model, description = _ATTACHMENTS[event_model]
    fields[name] = (model, FieldInfo(description=description))
    if event_model is ConsentChanged:
        fields["email"] = (
            str | None,
            FieldInfo(
                default=None,
                description="The prospect's email address (``None`` for a phone-only one).",
            ),
        )
        fields["prospect"] = (str, FieldInfo(description="The prospect's key."))
    data: type[BaseModel] = create_model(
        event_model.__name__ + "Data",
        __config__=_FROZEN,
        __doc__=f"The ``data`` of a ``{event_model.model_fields['type'].default}`` webhook.",
        **fields,
    )
    return data


def _envelope(event_model: type[BaseModel], data: type[BaseModel]) -> type[BaseModel]:
    event_type = event_model.model_fields["type"].default
    version = event_model.model_fields["version"].default
    envelope: type[BaseModel] = create_model(
        event_model.__name__ + "Webhook",
        __config__=_FROZEN,
        __doc__=f"The body of a ``{event_type}`` webhook, version {version}.",
        type=(Literal[event_type], FieldInfo(description="The event type.")),  # type: ignore[arg-type]
        version=(Literal[version], FieldInfo(description="The payload's version.")),  # type: ignore[arg-type]
        timestamp=(datetime, FieldInfo(description="When the event happened (UTC).")),
        data=(data, FieldInfo(description="The event and what it is about.")),
    )
    return envelope


_DATA: Final[dict[str, type[BaseModel]]] = {
    str(model.model_fields["type"].default): _data_model(model) for model in _ATTACHMENTS
}
_ENVELOPES: Final[dict[str, type[BaseModel]]] = {
    str(model.model_fields["type"].default): _envelope(
        model, _DATA[str(model.model_fields["type"].default)]
    )
    for model in _ATTACHMENTS
}


def payload_models() -> dict[str, type[BaseModel]]:
    """The model of each event type's webhook body, by type (validate a body with it)."""
    return dict(_ENVELOPES)


def payload_schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema of each event type's webhook body, by type (docs/webhooks.md)."""
    return {
        event_type: model.model_json_schema(mode="serialization")
        for event_type, model in _ENVELOPES.items()
    }


def _attachment(event: DomainEvent, store: Store) -> dict[str, Any] | None:
    """What the webhook adds to the event, read now; ``None`` when its subject is gone."""
    if isinstance(event, CartCaptured | CartUpdated | CartOrdered | CartRecovered):
        try:
            cart = store.get_cart(event.cart_id)
        except LookupError:
            return None
        return {"cart": WebhookCart.of(cart)}
    if isinstance(event, ConsentChanged):
        entry = store.consent_event(event.consent_id)
        if entry is None:
            return None
        prospect = entry.prospect
        return {
            "entry": ConsentEntry.model_validate(
                entry.model_dump(include=set(ConsentEntry.model_fields))
            ),
            "prospect": prospect,
            "email": None if prospect.startswith("tel:") else prospect,
        }
    if isinstance(event, MessageSent | MessageFailed):
        records = [
            one for one in store.messages(cart_id=event.cart_id) if one.id == event.message_id
        ]
        return {"message": records[-1]} if records else None
    if isinstance(event, TicketCreated):
        ticket = store.ticket(event.ticket_id)
        return {"ticket": ticket} if ticket is not None else None
    return None


def render(event: DomainEvent, store: Store) -> bytes | None:
    """The webhook body of ``event``, with what it is about as stored now; ``None`` when
    there is nothing to send (an erased subject, or a type no endpoint may subscribe
    to)."""
    model = _DATA.get(event.type)
    if model is None:
        return None
    extra = _attachment(event, store)
    if extra is None:
        return None
    fields = {
        name: getattr(event, name)
        for name in type(event).model_fields
        if name not in ("type", "version")
    }
    data = model.model_validate({**fields, **extra})
    return webhook_payload(
        event.type, event.occurred_at, data.model_dump(mode="json"), version=event.version
    )
