"""App and browser push: APNs requests and FCM HTTP v1 messages, with deep links.

Each device gets one value: an iOS device an ``ApnsNotification`` (headers and JSON
payload for ``POST /3/device/{token}``), an Android device an ``FcmMessage`` with an
``android`` block, a browser an ``FcmMessage`` with a ``webpush`` block whose
``fcm_options.link`` is the HTTPS recovery link. (Web Push with VAPID directly is not
built: it needs the subscription's keys and a random salt to encrypt each message, so
it is a sender's job, not a pure value; browsers registered through FCM get the same
notification through its ``webpush`` block.) A shop whose iOS app uses Firebase sets
``ios_via_fcm`` and its iPhones get an ``FcmMessage`` with an ``apns`` block.

Reference 003's rules hold: the sound is optional (``ShopSettings.push_sound``), a static
coupon may go in a push, a dynamic (per-prospect) coupon only once the same code went out
by email or SMS, and a content check warns on repeated emojis.

Size: APNs and FCM refuse payloads over 4,096 bytes. The size is the UTF-8 length of the
compact JSON (the APNs payload; the whole FCM ``message`` object, which is stricter
than FCM's own count). Over it, the body is shortened (at a word, with "…"), then the
title; when even that cannot fit (a very long deep link), the push is refused with
``over_size``.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from cartback._models import MessageRecord, PushDevice
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
    "PUSH_PAYLOAD_LIMIT",
    "PUSH_TEMPLATES",
    "ApnsNotification",
    "ContentWarning",
    "FcmMessage",
    "PushMessage",
    "build_push",
    "content_warnings",
    "payload_size",
]

PUSH_PAYLOAD_LIMIT: Final = 4096
"""The most bytes APNs and FCM accept in one notification."""

PUSH_TEMPLATES: Final = ("reminder", "coupon")
"""The shipped push templates: ``reminder`` (the default) and ``coupon`` (reminds of a
coupon; needs one)."""

ContentWarning = Literal["repeated_emoji", "many_emojis"]
"""A push content check (reference 003): the same emoji more than once, or more than
three emojis in all; spam filters and people alike read both as spam."""

_NAMESPACE: Final = uuid.UUID("6c1f1e9e-2b5e-4cb8-9d55-0e4f1f0c7a11")
_DEEP_LINK_KEY: Final = "deep_link"
_TITLE_LIMIT: Final = 80
_PRODUCT_LIMIT: Final = 80


@dataclass(frozen=True, slots=True)
class ApnsNotification:
    """One APNs request: ``POST /3/device/{device.token}`` with ``headers`` and the JSON
    of ``payload``."""

    device: PushDevice
    """The device it goes to."""
    headers: dict[str, str]
    """``apns-push-type``, ``apns-priority``, ``apns-expiration``, ``apns-collapse-id``,
    ``apns-topic`` (the app's bundle id) and ``apns-id`` (derived from the message id)."""
    payload: dict[str, Any]
    """``aps`` (alert title and body, sound, mutable-content, thread-id,
    interruption-level, category) and the deep link under ``deep_link``."""
    size: int
    """UTF-8 bytes of the serialised payload (at most 4,096)."""
    shortened: bool
    """Whether the body or title was shortened to fit."""
    warnings: tuple[ContentWarning, ...]
    """Content checks that failed; the push is still built."""
    links: MessageLinks
    """Its links."""
    coupon_code: str | None
    """The coupon code it mentions, for ``MessageRecord.coupon_code``."""

    def body(self) -> bytes:
        """The request body: the compact JSON of ``payload``."""
        return _serialise(self.payload)


@dataclass(frozen=True, slots=True)
class FcmMessage:
    """One FCM HTTP v1 request: ``POST /v1/projects/{project}/messages:send`` with
    ``{"message": message}``."""

    device: PushDevice
    """The device it goes to."""
    message: dict[str, Any]
    """The ``message`` object: ``token``, ``notification``, string-only ``data`` and the
    device's ``android``, ``webpush`` or ``apns`` block."""
    size: int
    """UTF-8 bytes of the serialised ``message`` object (at most 4,096)."""
    shortened: bool
    """Whether the body or title was shortened to fit."""
    warnings: tuple[ContentWarning, ...]
    """Content checks that failed; the push is still built."""
    links: MessageLinks
    """Its links."""
    coupon_code: str | None
    """The coupon code it mentions, for ``MessageRecord.coupon_code``."""

    def body(self) -> bytes:
        """The request body: ``{"message": ...}`` as compact JSON."""
        return _serialise({"message": self.message})


PushMessage = ApnsNotification | FcmMessage
"""What one device receives."""


def _serialise(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def payload_size(value: Any) -> int:
    """UTF-8 bytes of ``value`` as compact JSON: what the 4,096-byte limit counts."""
    return len(_serialise(value))


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x2600 <= code <= 0x27BF
        or 0x2B00 <= code <= 0x2BFF
        or (0x2190 <= code <= 0x21FF and unicodedata.category(char) == "So")
    ) and not (0x1F3FB <= code <= 0x1F3FF)


def content_warnings(*texts: str) -> tuple[ContentWarning, ...]:
    """Reference 003's content check over a push's title and body."""
    emojis = [char for text in texts for char in text if _is_emoji(char)]
    warnings: list[ContentWarning] = []
    if len(emojis) != len(set(emojis)):
        warnings.append("repeated_emoji")
    if len(emojis) > 3:
        warnings.append("many_emojis")
    return tuple(warnings)


def _dynamic_coupon_sent_before(code: str, prospect: str, history: Iterable[MessageRecord]) -> bool:
    return any(
        record.prospect == prospect
        and record.channel in ("email", "sms")
        and record.status == "sent"
        and record.coupon_code == code
        for record in history
    )


def _aps(title: str, body: str, shop: ShopSettings, thread: str) -> dict[str, Any]:
    aps: dict[str, Any] = {"alert": {"title": title, "body": body}}
    if shop.push_sound:
        aps["sound"] = "default"
    aps["mutable-content"] = 1
    aps["thread-id"] = thread
    aps["interruption-level"] = "active"
    if shop.apns_category:
        aps["category"] = shop.apns_category
    return aps


def _apns_headers(
    request: MessageRequest, shop: ShopSettings, device: PushDevice, collapse: str
) -> dict[str, str]:
    expiration = int((request.at + shop.push_ttl).timestamp())
    return {
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(expiration),
        "apns-collapse-id": collapse,
        "apns-topic": device.app_id,
        "apns-id": str(uuid.uuid5(_NAMESPACE, f"{request.message_id}\n{device.token}")),
    }


def _build_one(
    request: MessageRequest,
    shop: ShopSettings,
    device: PushDevice,
    links: MessageLinks,
    action: str,
    title: str,
    body: str,
) -> dict[str, Any]:
    """The payload (APNs) or message object (FCM) for one device."""
    cart = request.cart
    collapse = f"cart-{cart.id}"[:64]
    link = links.recovery
    data = {_DEEP_LINK_KEY: link, "message_id": request.message_id}
    if device.platform == "ios" and not shop.ios_via_fcm:
        return {"aps": _aps(title, body, shop, collapse), _DEEP_LINK_KEY: link}
    ttl_seconds = int(shop.push_ttl.total_seconds())
    message: dict[str, Any] = {
        "token": device.token,
        "notification": {"title": title, "body": body},
        "data": data,
    }
    if device.platform == "android":
        notification: dict[str, Any] = {"tag": collapse}
        if shop.push_sound:
            notification["sound"] = "default"
        message["android"] = {
            "priority": "high",
            "ttl": f"{ttl_seconds}s",
            "collapse_key": collapse,
            "notification": notification,
        }
    elif device.platform == "web":
        web_notification: dict[str, Any] = {"tag": collapse, "renotify": False}
        if shop.push_icon_url:
            web_notification["icon"] = shop.push_icon_url
        web_notification["actions"] = [{"action": "open", "title": action}]
        message["webpush"] = {
            "headers": {"TTL": str(ttl_seconds), "Urgency": "normal"},
            "notification": web_notification,
            "fcm_options": {"link": links.web},
        }
    else:  # an iOS app on Firebase
        headers = _apns_headers(request, shop, device, collapse)
        del headers["apns-topic"], headers["apns-id"]  # FCM sets both itself
        message["apns"] = {
            "headers": headers,
            "payload": {"aps": _aps(title, body, shop, collapse), _DEEP_LINK_KEY: link},
        }
    return message


def build_push(
    request: MessageRequest,
    *,
    shop: ShopSettings,
    signer: LinkSigner,
    consent: ConsentInput,
    devices: Sequence[PushDevice],
    history: Iterable[MessageRecord] = (),
) -> tuple[PushMessage, ...]:
    """One push per active device of the cart's prospect, or ``MessageRefusedError``.

    Refused without push consent (``no_consent``), without an active device
    (``no_recipient``), with a dynamic coupon that ``history`` (the prospect's message
    records) shows no sent email or SMS carrying first (``dynamic_coupon_in_push``), and
    when a payload cannot fit 4,096 bytes (``over_size``).
    """
    check_consent("push", consent, refusal="push")
    cart = request.cart
    prospect = cart.contact.prospect_key
    active = [d for d in devices if d.active and d.prospect == prospect]
    if prospect is None or not active:
        raise refuse("push", "no_recipient", "the prospect has no active push device")
    check_cart(request, shop, "push")
    template = request.template or "reminder"
    coupon = request.coupon
    if template == "coupon" and coupon is None:
        raise refuse("push", "coupon_required", "the coupon push needs a coupon")
    if (
        coupon is not None
        and coupon.kind == "dynamic"
        and (
            coupon.code is None
            or not _dynamic_coupon_sent_before(coupon.code, prospect, list(history))
        )
    ):
        raise refuse(
            "push", "dynamic_coupon_in_push", "a dynamic coupon goes by email or SMS first"
        )
    locale = resolve_locale(shop, cart)
    built: list[PushMessage] = []
    for device in active:
        links = message_links(request, "push", shop=shop, signer=signer, platform=device.platform)
        context = template_context(request, shop, links, locale, product_limit=_PRODUCT_LIMIT)
        title = shorten(
            one_line(render(shop, locale, f"push/{template}.title.txt", context)), _TITLE_LIMIT
        )
        body = one_line(render(shop, locale, f"push/{template}.body.txt", context))
        warnings = content_warnings(title, body)
        action = one_line(render(shop, locale, "push/action.txt", context))
        value, shortened = _fit(request, shop, device, links, action, title, body)
        code = coupon.code if coupon else None
        if device.platform == "ios" and not shop.ios_via_fcm:
            built.append(
                ApnsNotification(
                    device=device,
                    headers=_apns_headers(request, shop, device, f"cart-{cart.id}"[:64]),
                    payload=value,
                    size=payload_size(value),
                    shortened=shortened,
                    warnings=warnings,
                    links=links,
                    coupon_code=code,
                )
            )
        else:
            built.append(
                FcmMessage(
                    device=device,
                    message=value,
                    size=payload_size(value),
                    shortened=shortened,
                    warnings=warnings,
                    links=links,
                    coupon_code=code,
                )
            )
    return tuple(built)


def _fit(
    request: MessageRequest,
    shop: ShopSettings,
    device: PushDevice,
    links: MessageLinks,
    action: str,
    title: str,
    body: str,
) -> tuple[dict[str, Any], bool]:
    """The value within the limit, shortening the body, then the title."""
    value = _build_one(request, shop, device, links, action, title, body)
    if payload_size(value) <= PUSH_PAYLOAD_LIMIT:
        return value, False
    for field in ("body", "title"):
        text = body if field == "body" else title
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            cut = shorten(text, middle) if middle else ""
            trial = (title, cut) if field == "body" else (cut, body)
            if (
                payload_size(_build_one(request, shop, device, links, action, *trial))
                <= PUSH_PAYLOAD_LIMIT
            ):
                low = middle
            else:
                high = middle - 1
        cut = shorten(text, low) if low else ""
        if field == "body":
            body = cut
        else:
            title = cut
        value = _build_one(request, shop, device, links, action, title, body)
        if payload_size(value) <= PUSH_PAYLOAD_LIMIT and (title or body):
            return value, True
    raise refuse("push", "over_size", "the push cannot fit 4,096 bytes")
