"""What each channel would send for one cart: the dashboard's message preview."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from cartback._errors import MessageRefusedError
from cartback._models import Cart, MessageRecord, PushDevice, SocialRecipient
from cartback._types import MESSAGE_CHANNELS, Channel, MessageChannel
from cartback.links import LinkSigner
from cartback.messages._coupons import Coupon
from cartback.messages._email import RecoveryEmail, build_email
from cartback.messages._push import ApnsNotification, PushMessage, build_push
from cartback.messages._request import MessageRequest
from cartback.messages._settings import ShopSettings
from cartback.messages._sms import SmsMessage, build_sms
from cartback.messages._social import SocialMessage, build_social_message

__all__ = ["BuiltMessage", "ChannelPreview", "preview"]

BuiltMessage: TypeAlias = RecoveryEmail | SmsMessage | tuple[PushMessage, ...] | SocialMessage
"""What a builder returns: an email, a text, the pushes of every device, a Send API
request."""


@dataclass(frozen=True, slots=True)
class ChannelPreview:
    """What one channel would send, as values and as text a person reads."""

    channel: MessageChannel
    """The channel."""
    message: BuiltMessage | None
    """The built message, or ``None`` when refused."""
    refusal: str | None
    """Why the channel would send nothing (a ``RefusalReason``), else ``None``."""
    title: str | None
    """The email's subject, the first push's title; ``None`` elsewhere."""
    text: str | None
    """The text the prospect would read (the email's plain-text part)."""
    html: str | None
    """The email's HTML part."""


def _shown(channel: MessageChannel, message: BuiltMessage) -> ChannelPreview:
    if isinstance(message, RecoveryEmail):
        email = message.message
        plain = email.get_body(("plain",))
        rich = email.get_body(("html",))
        return ChannelPreview(
            channel=channel,
            message=message,
            refusal=None,
            title=str(email["Subject"]),
            text=plain.get_content() if plain is not None else None,
            html=rich.get_content() if rich is not None else None,
        )
    if isinstance(message, SmsMessage):
        return ChannelPreview(channel, message, None, None, message.text, None)
    if isinstance(message, SocialMessage):
        text = message.body["message"]["attachment"]["payload"]["text"]
        return ChannelPreview(channel, message, None, None, text, None)
    first = message[0]
    if isinstance(first, ApnsNotification):
        alert = first.payload["aps"]["alert"]
    else:
        alert = first.message["notification"]
    return ChannelPreview(channel, message, None, alert["title"], alert["body"], None)


def preview(
    cart: Cart,
    *,
    shop: ShopSettings,
    signer: LinkSigner,
    at: datetime,
    consent: Mapping[Channel, bool] | Mapping[str, bool],
    devices: Sequence[PushDevice] = (),
    recipients: Iterable[SocialRecipient] = (),
    history: Iterable[MessageRecord] = (),
    coupon: Coupon | None = None,
    last_inbound_at: Mapping[str, datetime] | None = None,
) -> tuple[ChannelPreview, ...]:
    """For each message channel in order (email, SMS, push, Messenger, Instagram), what a
    flow's default template would send for ``cart`` at ``at``, or why nothing.

    ``consent`` maps each channel to the ledger's answer; ``last_inbound_at`` maps a
    platform to the prospect's last message to the page. Nothing is sent or stored.
    """
    request = MessageRequest(
        cart=cart, message_id=f"preview-{cart.id}", at=at, flow="preview", step="preview",
        coupon=coupon,
    )  # fmt: skip
    by_platform = {r.platform: r for r in recipients}
    inbound = last_inbound_at or {}
    history = list(history)
    previews: list[ChannelPreview] = []
    for channel in MESSAGE_CHANNELS:
        try:
            built: BuiltMessage
            if channel == "email":
                built = build_email(request, shop=shop, signer=signer, consent=consent)
            elif channel == "sms":
                built = build_sms(request, shop=shop, signer=signer, consent=consent)
            elif channel == "push":
                built = build_push(
                    request, shop=shop, signer=signer, consent=consent, devices=devices,
                    history=history,
                )  # fmt: skip
            else:
                built = build_social_message(
                    request, platform=channel, shop=shop, signer=signer, consent=consent,
                    recipient=by_platform.get(channel), last_inbound_at=inbound.get(channel),
                )  # fmt: skip
        except MessageRefusedError as refused:
            previews.append(ChannelPreview(channel, None, refused.reason, None, None, None))
            continue
        previews.append(_shown(channel, built))
    return tuple(previews)
