"""The typed values cartback passes around and stores.

Stored values (``Contact``, ``CartContext``, ``Cart``, ``ConsentEvent``,
``OutboxEvent``) are frozen: they are facts about the past, and a changed cart is a
new value produced by a merge, never an object edited in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cartback._ids import new_id
from cartback._types import (
    CartStatus,
    Channel,
    ConsentAction,
    ConsentSourceKind,
    DevicePlatform,
    MessageChannel,
    PaymentFailureReason,
    SocialPlatform,
)

__all__ = [
    "Activity",
    "ActivityKind",
    "Cart",
    "CartContext",
    "ConsentEvent",
    "ConsentSource",
    "Contact",
    "DroppedFields",
    "MessageRecord",
    "MessageStatus",
    "PaymentFailure",
    "PushDevice",
    "Reply",
    "SocialRecipient",
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
    step: int | None = None
    """The furthest step of a multi-step form the prospect reached (1-based)."""
    last_field: str | None = None
    """The name of the input the prospect touched last (a name, never a value)."""


class PaymentFailure(BaseModel):
    """A payment attempt the order platform reported as failed."""

    model_config = _FROZEN

    reason: PaymentFailureReason
    """``authentication_timeout``, ``card_declined``, ``insufficient_funds`` or ``other``."""
    at: datetime
    """When the attempt failed (UTC)."""


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
    submitted_at: datetime | None = None
    """When the browser last saw the form submitted, while awaiting the order (UTC)."""
    payment_failures: tuple[PaymentFailure, ...] = ()
    """Failed payment attempts, oldest first; the cart stays open through them."""

    @property
    def last_payment_failure(self) -> PaymentFailure | None:
        """The most recent failed payment attempt, if any."""
        return self.payment_failures[-1] if self.payment_failures else None


class ConsentSource(BaseModel):
    """How a consent event reached us."""

    model_config = _FROZEN

    kind: ConsentSourceKind
    """``form``, ``api``, ``unsubscribe_link``, ``snippet_optout``, ``device``,
    ``platform`` or ``reply``."""
    ref: str | None = None
    """Detail, e.g. ``"<form id>:<field name>"`` for a form checkbox."""


class ConsentEvent(BaseModel):
    """One grant or withdrawal of consent for one channel. The ledger only appends."""

    model_config = _FROZEN

    id: str = Field(default_factory=lambda: new_id("cns_"))
    """Opaque id of the ledger entry (``consent.changed`` events name it)."""
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


class PushDevice(BaseModel):
    """An app or browser installation that may receive push notifications."""

    model_config = _FROZEN

    prospect: str
    """The prospect key the device was registered for."""
    platform: DevicePlatform
    """``ios`` (APNs), ``android`` (FCM) or ``web`` (FCM or Web Push)."""
    token: str
    """The provider's device token (APNs device token, FCM registration token)."""
    app_id: str
    """The app's bundle id (iOS), package name (Android) or site id (web)."""
    registered_at: datetime
    """When the app registered the token (UTC)."""
    invalidated_at: datetime | None = None
    """When the provider reported the token unregistered; never used again after."""

    @property
    def active(self) -> bool:
        """Whether the token may still be used."""
        return self.invalidated_at is None


class SocialRecipient(BaseModel):
    """A page-scoped Messenger or Instagram recipient obtained through the platform's
    opt-in (Send to Messenger, a conversation the prospect started)."""

    model_config = _FROZEN

    prospect: str
    """The prospect key."""
    platform: SocialPlatform
    """``messenger`` or ``instagram``."""
    page_id: str
    """The shop's Facebook page or Instagram professional account id."""
    recipient_id: str
    """The page-scoped id (PSID or IGSID) of the prospect."""
    opted_in_at: datetime
    """When the prospect opted in (UTC)."""


MessageStatus = Literal["sending", "sent", "failed", "skipped", "deferred"]
"""What became of one planned message: handed to the provider with no answer recorded
yet (after a crash it is sent again under the same id), the provider accepted it, it
failed for good, a guard or the builder skipped it, or it was moved later."""


class MessageRecord(BaseModel):
    """One recovery message as the prospect's history records it."""

    model_config = _FROZEN

    id: str
    """Opaque message id (also the idempotency key the provider sees)."""
    cart_id: str
    """The cart the message is about."""
    prospect: str
    """The prospect key."""
    channel: MessageChannel
    """The channel it went out on (or would have)."""
    status: MessageStatus
    """``sent``, ``failed``, ``skipped`` or ``deferred``."""
    at: datetime
    """When it was sent, failed, skipped or deferred (UTC)."""
    flow_id: str | None = None
    """The flow that planned it."""
    flow_version: int | None = None
    """The version of that flow."""
    step_id: str | None = None
    """The flow step that planned it."""
    variant: str | None = None
    """The A/B variant, when the step is in a split."""
    template: str | None = None
    """The template it was built from."""
    reason: str | None = None
    """Why it was skipped, deferred or failed (a stable code)."""
    provider_id: str | None = None
    """The provider's id for the accepted message."""
    coupon_code: str | None = None
    """The coupon code the message carried, if any."""
    attempts: int = 0
    """How many times it was handed to a provider."""


ActivityKind = Literal["site_activity", "app_activity", "metric", "purchase"]
"""What a tracked activity is: a visit to the site, an app session, a custom
engagement metric (``name`` says which), or a purchase."""


class Activity(BaseModel):
    """Something a prospect did that flow splits read. Consent-neutral, erased with the
    prospect."""

    model_config = _FROZEN

    prospect: str
    """The prospect key."""
    kind: ActivityKind
    """``site_activity``, ``app_activity``, ``metric`` or ``purchase``."""
    at: datetime
    """When it happened (UTC)."""
    name: str | None = None
    """The metric's name (e.g. ``profile_completed``), or a page or screen."""
    value: Decimal | None = None
    """The metric's value or the purchase's amount."""


class Reply(BaseModel):
    """A prospect's reply to a recovery email or SMS (a person takes over: the flow
    pauses). Its text is personal data: shown to staff, erased with the prospect."""

    model_config = _FROZEN

    id: str
    """Opaque id."""
    prospect: str
    """The prospect key."""
    channel: MessageChannel
    """``email`` or ``sms`` (or a social channel)."""
    at: datetime
    """When it arrived (UTC)."""
    text: str = ""
    """What the prospect wrote (trimmed, at most 4,000 characters)."""
    cart_id: str | None = None
    """The cart the reply is about, when known."""
    message_id: str | None = None
    """The recovery message replied to, when known."""
