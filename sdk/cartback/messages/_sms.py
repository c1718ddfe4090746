"""Recovery texts: a short personal SMS with the link and a "Reply STOP" opt-out.

Encoding and segments follow GSM 03.38 and 3GPP TS 23.040: a text that only uses the
GSM 7-bit default alphabet (its extension table's characters counting two septets) is
sent as GSM-7, 160 septets in one segment or 153 per segment of a longer text; anything
else is UCS-2, 70 UTF-16 code units in one segment or 67 per segment. A two-septet
character or a surrogate pair is never split across segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

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
    "OPT_OUT_KEYWORDS",
    "SMS_TEMPLATES",
    "SmsEncoding",
    "SmsMessage",
    "SmsSegments",
    "build_sms",
    "is_opt_out",
    "sms_segments",
]

SmsEncoding = Literal["gsm7", "ucs2"]
"""How a text travels: the GSM 7-bit alphabet, or UCS-2 (UTF-16) for anything else."""

SMS_TEMPLATES: Final = ("reminder", "offer")
"""The shipped SMS templates: ``reminder`` (the default) and ``offer`` (reference 002's
day-2 text with an exclusive offer; needs a coupon)."""

OPT_OUT_KEYWORDS: Final = frozenset({"STOP", "END", "CANCEL", "UNSUBSCRIBE", "QUIT"})
"""Replies that carriers treat as a withdrawal of SMS consent."""

_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
_NOT_GSM: Final = re.compile(
    "[^" + "".join(re.escape(char) for char in sorted(_GSM_BASIC | _GSM_EXTENSION)) + "]"
)
_GSM_EXTENDED: Final = re.compile("[" + re.escape("".join(sorted(_GSM_EXTENSION))) + "]")
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_STOP_WORD: Final = re.compile(r"[^A-Za-z]+")


@dataclass(frozen=True, slots=True)
class SmsSegments:
    """How a text would travel."""

    encoding: SmsEncoding
    """``gsm7`` or ``ucs2``."""
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text."""
    segments: int
    """How many SMS segments carriers bill."""


def sms_segments(text: str) -> SmsSegments:
    """The encoding, size and segment count of ``text``."""
    if _NOT_GSM.search(text) is None:
        extended = len(_GSM_EXTENDED.findall(text))
        if not extended:
            return SmsSegments("gsm7", len(text), _segments(len(text), single=160, multi=153))
        costs = [2 if char in _GSM_EXTENSION else 1 for char in text]
        return SmsSegments("gsm7", sum(costs), _pack(costs, single=160, multi=153))
    astral = len(_ASTRAL.findall(text))
    if not astral:
        return SmsSegments("ucs2", len(text), _segments(len(text), single=70, multi=67))
    costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SmsSegments("ucs2", sum(costs), _pack(costs, single=70, multi=67))


def _segments(units: int, *, single: int, multi: int) -> int:
    """Segments of a text whose characters all cost one unit."""
    return 1 if units <= single else -(-units // multi)


def _pack(costs: list[int], *, single: int, multi: int) -> int:
    """Segments of a text with two-unit characters, which no segment boundary splits."""
    total = sum(costs)
    if total <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments, used = segments + 1, 0
        used += cost
    return segments


def is_opt_out(reply: str) -> bool:
    """Whether an inbound SMS withdraws consent: ``STOP``, ``END``, ``CANCEL``,
    ``UNSUBSCRIBE`` or ``QUIT`` alone, in any case, with any spaces or punctuation
    around it (``" stop. "``, ``"Stop!"``)."""
    word = _STOP_WORD.sub(" ", reply).strip().upper()
    return word in OPT_OUT_KEYWORDS


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """A built text and how it will travel."""

    to: str
    """The recipient in E.164."""
    text: str
    """The whole text: the message, the link on its own line, the opt-out line."""
    encoding: SmsEncoding
    """``gsm7`` or ``ucs2``."""
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    segments: int
    """How many segments it takes (at most the cap it was built with)."""
    shortened: bool
    """Whether the message was shortened to fit the cap (the link never is)."""
    template: str
    """The template it was built from."""
    locale: str
    """The locale it was written in."""
    links: MessageLinks
    """Its links (the text shows ``links.recovery``; opting out is by replying STOP)."""
    coupon_code: str | None
    """The coupon code it carries, for ``MessageRecord.coupon_code``."""


def _candidates(
    request: MessageRequest, shop: ShopSettings, links: MessageLinks, locale: str
) -> Iterator[dict[str, Any]]:
    """Contexts from the fullest to the barest: the product name shortened, then gone,
    then the first name gone (made one at a time: most texts fit the first)."""
    yield template_context(request, shop, links, locale)
    for limit in (40, 20):
        yield template_context(request, shop, links, locale, product_limit=limit, ellipsis="...")
    yield template_context(request, shop, links, locale, with_product=False)
    yield template_context(request, shop, links, locale, with_product=False, with_name=False)


def build_sms(
    request: MessageRequest,
    *,
    shop: ShopSettings,
    signer: LinkSigner,
    consent: ConsentInput,
    max_segments: int | None = None,
) -> SmsMessage:
    """The recovery text for ``request``, at most ``max_segments`` long (default: the
    shop's ``sms_max_segments``), or ``MessageRefusedError``.

    Refused without SMS consent (``no_consent``), without a phone (``no_recipient``),
    with a phone that is not E.164 (``bad_phone``), and when even the link and the
    opt-out line do not fit the cap (``over_size``). To fit, the message part is
    shortened in this order: the product name to 40 then 20 characters, then left out,
    then the first name left out, then the message cut at a word with "..."; the link and
    the opt-out line are never touched, and a text that would lose its coupon code is
    refused (``over_size``) rather than sent without it.
    """
    check_consent("sms", consent, refusal="sms")
    contact = request.cart.contact
    if not contact.phone:
        raise refuse("sms", "no_recipient", "the cart has no phone number")
    if not contact.phone_e164 or not _E164.fullmatch(contact.phone):
        raise refuse("sms", "bad_phone", "the cart's phone number is not in E.164")
    check_cart(request, shop, "sms")
    template = request.template or "reminder"
    coupon = request.coupon
    if template == "offer" and (
        coupon is None or (coupon.code is None and not coupon.free_shipping)
    ):
        raise refuse("sms", "coupon_required", "the offer text needs a coupon")
    cap = max_segments or shop.sms_max_segments
    locale = resolve_locale(shop, request.cart)
    links = message_links(request, "sms", shop=shop, signer=signer)
    stop = one_line(
        render(shop, locale, "sms/stop.txt", template_context(request, shop, links, locale))
    )
    tail = f"\n{links.recovery}\n{stop}"
    if sms_segments(tail.lstrip("\n")).segments > cap:
        raise refuse("sms", "over_size", "the link and opt-out line alone exceed the cap")
    body = ""
    for index, context in enumerate(_candidates(request, shop, links, locale)):
        body = one_line(render(shop, locale, f"sms/{template}.txt", context))
        if sms_segments(body + tail).segments <= cap:
            return _message(contact.phone, body + tail, index > 0, template, locale, links, request)
    ellipsis = "..." if sms_segments(body).encoding == "gsm7" else "…"
    low, high = 0, len(body)
    while low < high:  # the longest cut of the message that still fits
        middle = (low + high + 1) // 2
        if sms_segments(shorten(body, middle, ellipsis=ellipsis) + tail).segments <= cap:
            low = middle
        else:
            high = middle - 1
    text = (shorten(body, low, ellipsis=ellipsis) + tail) if low else tail.lstrip("\n")
    if coupon is not None and coupon.code is not None and coupon.code not in text:
        raise refuse("sms", "over_size", "the coupon code does not fit the cap")
    return _message(contact.phone, text, True, template, locale, links, request)


def _message(
    to: str,
    text: str,
    shortened: bool,
    template: str,
    locale: str,
    links: MessageLinks,
    request: MessageRequest,
) -> SmsMessage:
    size = sms_segments(text)
    coupon = request.coupon
    return SmsMessage(
        to=to,
        text=text,
        encoding=size.encoding,
        units=size.units,
        segments=size.segments,
        shortened=shortened,
        template=template,
        locale=locale,
        links=links,
        coupon_code=coupon.code if coupon else None,
    )
