"""Messenger and Instagram: Send API requests, and the Instagram story step as an audience
event.

Meta's rules (Messenger Platform and Instagram Messaging policy, read in 2026):

- A page may message a person only after that person opened a conversation (a message, a
  "Send to Messenger" opt-in, ...). Within the *standard messaging window* (24 hours
  after the person's last action) any message may be sent, promotional ones included;
  a recovery message is one, sent proactively, so it goes with ``messaging_type``
  ``"UPDATE"``.
- After the window, *message tags* may carry only non-promotional updates (a recovery
  nudge is promotional, so no tag is ever used), and ``HUMAN_AGENT`` is for a person's
  replies within 7 days, never for automation.
- On Messenger, promotional messages after the window go to people who opted in to
  *marketing messages*, addressed by the ``notification_messages_token`` the opt-in
  webhook gave: the builder uses it when given one. Instagram has no such opt-in, so an
  Instagram message outside the window is refused (``outside_messaging_window``).

Reference 002's Instagram *story* is a broadcast to followers, not a private message: the
builder turns that step into an ``AudienceEvent`` (add the prospect to the shop's
retargeting audience) for the shop's ads integration to apply.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from cartback._models import SocialRecipient
from cartback._types import SocialPlatform
from cartback.links import LinkSigner
from cartback.messages._context import template_context
from cartback.messages._links import MessageLinks, message_links
from cartback.messages._request import (
    ConsentInput,
    MessageRequest,
    check_cart,
    check_consent,
    refuse,
)
from cartback.messages._settings import ShopSettings
from cartback.messages._templates import render, resolve_locale
from cartback.messages._text import one_line, shorten

__all__ = [
    "SOCIAL_TEMPLATES",
    "STANDARD_MESSAGING_WINDOW",
    "AudienceEvent",
    "SocialMessage",
    "build_audience_event",
    "build_social_message",
]

STANDARD_MESSAGING_WINDOW: Final = timedelta(hours=24)
"""How long after a person's last action a page may send them any message."""

SOCIAL_TEMPLATES: Final = ("reminder", "offer")
"""The shipped Messenger and Instagram templates: ``reminder`` (the default, reference
002's gentle day-1 reminder) and ``offer`` (needs a coupon)."""

_TEXT_LIMIT: Final = 640  # a button template's text
_BUTTON_TITLE_LIMIT: Final = 20
_PRODUCT_LIMIT: Final = 80


@dataclass(frozen=True, slots=True)
class SocialMessage:
    """One Send API request: ``POST /{page_id}/messages`` with ``body`` as JSON."""

    platform: SocialPlatform
    """``messenger`` or ``instagram``."""
    page_id: str
    """The page (or Instagram professional account) that sends it."""
    body: dict[str, Any]
    """``recipient``, ``messaging_type`` (absent for a marketing message) and
    ``message``: a button template with the text, the recovery button and a button that
    stops these messages."""
    window: Literal["standard", "marketing"]
    """Under which rule it may be sent: inside the standard window, or to a Messenger
    marketing-messages opt-in."""
    template: str
    """The template it was built from."""
    locale: str
    """The locale it was written in."""
    links: MessageLinks
    """Its links."""
    coupon_code: str | None
    """The coupon code it carries, for ``MessageRecord.coupon_code``."""


def _last_action(recipient: SocialRecipient, last_inbound_at: datetime | None) -> datetime:
    if last_inbound_at is None:
        return recipient.opted_in_at
    return max(recipient.opted_in_at, last_inbound_at)


def build_social_message(
    request: MessageRequest,
    *,
    platform: SocialPlatform,
    shop: ShopSettings,
    signer: LinkSigner,
    consent: ConsentInput,
    recipient: SocialRecipient | None,
    last_inbound_at: datetime | None = None,
    marketing_token: str | None = None,
) -> SocialMessage:
    """The Messenger or Instagram message for ``request``, or ``MessageRefusedError``.

    ``last_inbound_at`` is the person's last message to the page; the opt-in counts as an
    action too. Refused without consent on the platform's channel (``no_consent``),
    without a recipient on ``platform`` for the cart's prospect (``no_recipient``), and
    outside the standard window unless a
    Messenger ``marketing_token`` is given (``outside_messaging_window``).
    """
    check_consent(platform, consent, refusal=platform)
    cart = request.cart
    if (
        recipient is None
        or recipient.platform != platform
        or recipient.prospect != cart.contact.prospect_key
    ):
        raise refuse(platform, "no_recipient", "the prospect has no opted-in recipient id")
    check_cart(request, shop, platform)
    template = request.template or "reminder"
    coupon = request.coupon
    if template == "offer" and coupon is None:
        raise refuse(platform, "coupon_required", "the offer message needs a coupon")
    in_window = request.at < _last_action(recipient, last_inbound_at) + STANDARD_MESSAGING_WINDOW
    if not in_window and not (platform == "messenger" and marketing_token):
        raise refuse(
            platform, "outside_messaging_window", "outside the platform's messaging window"
        )
    locale = resolve_locale(shop, cart)
    links = message_links(request, platform, shop=shop, signer=signer)
    context = template_context(request, shop, links, locale, product_limit=_PRODUCT_LIMIT)
    text = shorten(one_line(render(shop, locale, f"social/{template}.txt", context)), _TEXT_LIMIT)
    button = shorten(
        one_line(render(shop, locale, "social/button.txt", context)), _BUTTON_TITLE_LIMIT
    )
    stop = shorten(one_line(render(shop, locale, "social/stop.txt", context)), _BUTTON_TITLE_LIMIT)
    message = {
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": text,
                "buttons": [
                    {"type": "web_url", "url": links.recovery, "title": button},
                    {"type": "web_url", "url": links.unsubscribe, "title": stop},
                ],
            },
        }
    }
    body: dict[str, Any]
    if in_window:
        body = {
            "recipient": {"id": recipient.recipient_id},
            "messaging_type": "UPDATE",
            "message": message,
        }
    else:
        body = {"recipient": {"notification_messages_token": marketing_token}, "message": message}
    return SocialMessage(
        platform=platform,
        page_id=recipient.page_id,
        body=body,
        window="standard" if in_window else "marketing",
        template=template,
        locale=locale,
        links=links,
        coupon_code=coupon.code if coupon else None,
    )


@dataclass(frozen=True, slots=True)
class AudienceEvent:
    """Add one prospect to a retargeting audience (Meta custom audiences match on the
    SHA-256 of the normalised email and phone; the clear values never leave)."""

    type: Literal["audience.add"]
    """What to do: ``audience.add``."""
    platform: SocialPlatform
    """Where the audience is used: ``instagram`` for reference 002's story step."""
    audience_id: str
    """The shop's custom audience."""
    cart_id: str
    """The cart that put the prospect there."""
    email_sha256: str | None
    """SHA-256 hex of the trimmed, lower-cased email, when one was filled."""
    phone_sha256: str | None
    """SHA-256 hex of the E.164 phone's digits, when one was filled."""
    at: datetime
    """When the step ran (UTC)."""
    flow: str
    """The flow it belongs to."""
    step: str
    """The flow step."""


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def build_audience_event(
    request: MessageRequest,
    *,
    shop: ShopSettings,
    consent: ConsentInput,
    platform: SocialPlatform = "instagram",
) -> AudienceEvent:
    """Reference 002's Instagram story step for one prospect: an ``AudienceEvent``, or
    ``MessageRefusedError``: without consent on ``platform`` (``no_consent``), without a
    configured ``retargeting_audience_id`` (``no_audience``), without an email or E.164
    phone to match on (``no_recipient``)."""
    check_consent(platform, consent, refusal=platform)
    if not shop.retargeting_audience_id:
        raise refuse(platform, "no_audience", "the shop has no retargeting audience")
    check_cart(request, shop, platform)
    contact = request.cart.contact
    email = contact.email.strip().lower() if contact.email else None
    phone = contact.phone.lstrip("+") if contact.phone and contact.phone_e164 else None
    if not email and not phone:
        raise refuse(platform, "no_recipient", "nothing to match the prospect on")
    return AudienceEvent(
        type="audience.add",
        platform=platform,
        audience_id=shop.retargeting_audience_id,
        cart_id=request.cart.id,
        email_sha256=_sha256(email) if email else None,
        phone_sha256=_sha256(phone) if phone else None,
        at=request.at,
        flow=request.flow,
        step=request.step,
    )
