"""Type aliases shared across the package: the vocabularies of cartback."""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "CHANNELS",
    "MESSAGE_CHANNELS",
    "CanonicalField",
    "CartStatus",
    "Channel",
    "ConsentAction",
    "ConsentSourceKind",
    "DevicePlatform",
    "MessageChannel",
    "PaymentFailureReason",
    "ReasonCode",
    "SocialPlatform",
]

Channel = Literal["email", "sms", "push", "newsletter", "messenger", "instagram"]
"""A way of reaching a prospect that needs its own consent."""

CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)

MessageChannel = Literal["email", "sms", "push", "messenger", "instagram"]
"""A channel a recovery message goes out on (the newsletter is a consent, not a channel
that recovery messages use)."""

MESSAGE_CHANNELS: Final[tuple[MessageChannel, ...]] = get_args(MessageChannel)

DevicePlatform = Literal["ios", "android", "web"]
"""The platform of a registered push device."""

SocialPlatform = Literal["messenger", "instagram"]
"""A Meta messaging platform with page-scoped recipient ids."""

PaymentFailureReason = Literal[
    "authentication_timeout", "card_declined", "insufficient_funds", "other"
]
"""Why the order platform says a payment attempt failed."""

ConsentAction = Literal["granted", "withdrawn"]
"""What a consent event does to a channel."""

ConsentSourceKind = Literal[
    "form", "api", "unsubscribe_link", "snippet_optout", "device", "platform", "reply"
]
"""Where a consent event came from: the order form's boxes, an SDK or API call, an
unsubscribe link, the snippet's "No thanks", a push device's registration (its
operating system's opt-in), a Messenger or Instagram opt-in, or a reply (an SMS
``STOP``)."""

CartStatus = Literal["open", "submitted", "ordered"]
"""``open`` until the prospect buys; ``submitted`` once the browser saw the order form
submitted (the shop's backend has not confirmed the order yet); ``ordered`` once an
order closed it."""

CanonicalField = Literal[
    "email",
    "phone",
    "first_name",
    "last_name",
    "street",
    "house_number",
    "city",
    "state",
    "postal_code",
    "country",
    "newsletter",
]
"""The contact, address and opt-in fields cartback knows how to store."""

ReasonCode = Literal[
    "seller_missing",
    "seller_not_allowed",
    "country_missing",
    "country_unknown",
    "country_excluded",
    "email_missing",
    "email_invalid",
    "contact_missing",
    "no_step_after_contact",
]
"""Why a prospect may not be stored; stable strings that clients can rely on."""
