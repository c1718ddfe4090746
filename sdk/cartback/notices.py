"""What a shop's backend (or its order platform, app or mail provider) tells cartback,
as the JSON bodies of the receiver's signed API: orders, failed payments, push devices,
Messenger/Instagram opt-ins, tracked activity, replies, delivery receipts and opens.

Each body is a frozen model with ``parse(data)``, which validates a decoded JSON object
and raises ``InvalidInputError`` naming the field and a stable reason (never echoing a
value), the way ``parse_submission`` does for the snippet's captures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cartback._errors import InvalidInputError
from cartback._models import ActivityKind
from cartback._submission import Money, Text, Token, WireVersion, invalid_input_from
from cartback._types import DevicePlatform, PaymentFailureReason, SocialPlatform

__all__ = [
    "DeviceNotice",
    "EngagementNotice",
    "InboundEmailNotice",
    "InboundSmsNotice",
    "OrderNotice",
    "PaymentFailureNotice",
    "SessionNotice",
    "SocialOptInNotice",
    "TrackNotice",
]

_NOTICE = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

Email = Annotated[str, Field(min_length=3, max_length=320)]
Identifier = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[!-~]+$")]


class _Notice(BaseModel):
    model_config = _NOTICE

    @classmethod
    def parse(cls, data: Mapping[str, Any] | Self) -> Self:
        """Validate a decoded JSON object; raises ``InvalidInputError``."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                "the body must be a JSON object", field="$", reason="not_an_object"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_input_from(exc) from None


class _Someone(_Notice):
    email: Email | None = None
    """The prospect's email address."""
    session_id: Token | None = None
    """The browser session (the snippet's id), when the email is not known."""
    form_id: Annotated[Text, Field(min_length=1, max_length=128)] | None = None
    """Only this order form's carts."""

    @model_validator(mode="after")
    def _names_someone(self) -> Self:
        if self.email is None and self.session_id is None:
            raise PydanticCustomError("missing", "give email or session_id")
        return self


class OrderNotice(_Someone):
    """``{"type": "order.placed"}`` (the default): an order that closes the prospect's
    (or browser session's) open carts."""

    type: Literal["order.placed"] = "order.placed"
    """Tag."""
    order_id: Annotated[Text, Field(min_length=1, max_length=128)] | None = None
    """The shop's order id."""
    revenue: Money | None = None
    """The order's revenue."""


class PaymentFailureNotice(_Someone):
    """``{"type": "payment.failed"}``: a payment attempt failed; the carts stay open and
    keep the reason (the recovery email puts the matching advice first)."""

    type: Literal["payment.failed"]
    """Tag."""
    reason: PaymentFailureReason
    """``authentication_timeout``, ``card_declined``, ``insufficient_funds`` or ``other``."""


class SessionNotice(_Notice):
    """The snippet's ``/complete`` and ``/optout`` bodies: which browser session."""

    v: WireVersion = 1
    """Wire version (1)."""
    session_id: Token
    """The browser session."""
    event_id: Token | None = None
    """The snippet's id for this call."""
    form_id: Annotated[Text, Field(min_length=1, max_length=128)] | None = None
    """The order form, when the page knows it."""


class DeviceNotice(_Notice):
    """An app (or browser) registered its push token for a prospect; ``invalidate``
    instead says the token is dead."""

    email: Email
    """The prospect's email address."""
    platform: DevicePlatform
    """``ios``, ``android`` or ``web``."""
    token: Identifier
    """The APNs device token or FCM registration token."""
    app_id: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[!-~]+$")]
    """Bundle id, package name or site id."""
    invalidate: bool = False
    """True to mark the token unusable instead of registering it."""


class SocialOptInNotice(_Notice):
    """A prospect opted in on Messenger or Instagram (the platform's opt-in)."""

    email: Email
    """The prospect's email address."""
    platform: SocialPlatform
    """``messenger`` or ``instagram``."""
    page_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
    """The shop's page or Instagram account id."""
    recipient_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
    """The page-scoped id of the prospect."""
    text_version: Annotated[Text, Field(max_length=64)] | None = None
    """The version of the opt-in wording the prospect saw."""


class TrackNotice(_Notice):
    """Something the prospect did that flow splits read."""

    email: Email
    """The prospect's email address."""
    kind: ActivityKind
    """``site_activity``, ``app_activity``, ``metric`` or ``purchase``."""
    name: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    """The metric's name (needed for ``metric``), or a page or screen."""
    value: Money | None = None
    """The metric's value or the purchase's amount."""


class EngagementNotice(_Notice):
    """What a provider reported about a sent recovery message: its delivery receipt, or
    an open its own tracking saw. (Clicks, replies and unsubscribes arrive through the
    message's links and the inbound endpoints, so they are not taken here: counting
    them twice would inflate the rates.)"""

    message_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
    """The message (``MessageRecord.id``; the email's Message-ID holds it)."""
    kind: Literal["delivered", "opened"]
    """``delivered`` or ``opened``."""
    at: AwareDatetime | None = None
    """When it happened, as the provider says; now when left out."""


class InboundEmailNotice(_Notice):
    """A reply to a recovery email, as the shop's mail provider forwards it."""

    sender: Email = Field(alias="from")
    """The address the reply came from."""
    text: Annotated[str, Field(max_length=20_000)] = ""
    """The reply's plain text."""
    in_reply_to: Annotated[str, Field(max_length=998)] | None = None
    """The ``In-Reply-To`` header: the recovery email's Message-ID."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True
    )


class InboundSmsNotice(_Notice):
    """An SMS that came back, as the SMS provider forwards it."""

    sender: Annotated[str, Field(min_length=3, max_length=32)] = Field(alias="from")
    """The number it came from (E.164)."""
    text: Annotated[str, Field(max_length=2_000)] = ""
    """What it says (``STOP`` and the other carrier keywords withdraw SMS consent)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True
    )
