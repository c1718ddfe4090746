"""The links of one message: the recovery link (web or app) and the unsubscribe link."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from cartback._types import DevicePlatform, MessageChannel
from cartback.links import LinkSigner, utm_parameters, with_query
from cartback.messages._request import MessageRequest
from cartback.messages._settings import ShopSettings

__all__ = ["MessageLinks", "message_links", "utm_content"]


@dataclass(frozen=True, slots=True)
class MessageLinks:
    """Every link one message carries. None holds a contact field: the recovery token
    names the cart, and the receiver pre-fills the form from its store."""

    recovery: str
    """The link the message shows: ``web`` or, for an app push, the app's deep link."""
    web: str
    """``{public_url}/r/{token}`` with the UTM parameters."""
    ios: str | None
    """The iOS deep link with the same token and parameters, when the shop has an app."""
    android: str | None
    """The Android deep link with the same token and parameters, when the shop has an app."""
    unsubscribe: str
    """``{public_url}/u/{token}``: withdraws consent on this message's channel only."""
    token: str
    """The signed, expiring recovery token."""
    pixel: str | None = None
    """``{public_url}/o/{token}``: an email's tracking image, when the shop enables
    ``open_tracking``."""


def utm_content(step: str, variant: str | None) -> str:
    """``utm_content`` of a message: its flow step, and ``:variant`` when in a split."""
    return f"{step}:{variant}" if variant else step


def _deep_link(template: str | None, token: str, web: str, utm: dict[str, str]) -> str | None:
    if template is None:
        return None
    link = template.replace("{token}", token).replace("{web_url}", quote(web, safe=""))
    return with_query(link, utm)


def message_links(
    request: MessageRequest,
    channel: MessageChannel,
    *,
    shop: ShopSettings,
    signer: LinkSigner,
    platform: DevicePlatform | None = None,
) -> MessageLinks:
    """The links of a message on ``channel``: UTM source from the shop, medium = the
    channel, campaign = the flow, content = step and variant. ``platform`` (a push
    device's) picks the deep link a push opens."""
    cart = request.cart
    token = signer.recovery_token(cart.id, now=request.at)
    utm = utm_parameters(
        source=shop.utm_source,
        medium=channel,
        campaign=request.flow,
        content=utm_content(request.step, request.variant),
    )
    web = with_query(f"{shop.public_url}/r/{token}", utm)
    ios = _deep_link(shop.deep_links.ios, token, web, utm)
    android = _deep_link(shop.deep_links.android, token, web, utm)
    recovery = web
    if platform == "ios" and ios:
        recovery = ios
    elif platform == "android" and android:
        recovery = android
    unsubscribe_token = signer.unsubscribe_token(cart.id, channel, message_id=request.message_id)
    pixel = None
    if channel == "email" and shop.open_tracking:
        pixel = f"{shop.public_url}/o/{signer.open_token(cart.id, request.message_id)}"
    return MessageLinks(
        recovery=recovery,
        web=web,
        ios=ios,
        android=android,
        unsubscribe=f"{shop.public_url}/u/{unsubscribe_token}",
        token=token,
        pixel=pixel,
    )
