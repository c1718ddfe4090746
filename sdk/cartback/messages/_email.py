"""Recovery emails: a stdlib ``EmailMessage``, text and HTML, from a named person."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime
from html import escape
from typing import Final, Literal, get_args

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
from cartback.messages._text import clean_value, one_line

__all__ = ["EMAIL_TEMPLATES", "EmailTemplate", "RecoveryEmail", "build_email", "message_id_header"]

EmailTemplate = Literal["conversational", "social_proof", "discount", "reminder", "incentive"]
"""The shipped email templates:

- ``conversational`` (the default, reference 001): first person, "You had started your
  order…", the three-point troubleshooting list, "just reply to this email";
- ``social_proof`` (reference 002, day 3): the shop's ``social_proof`` sentence;
- ``discount`` (reference 002, day 5): a time-limited code (needs a coupon with a code);
- ``reminder`` (reference 004): a short reminder within hours;
- ``incentive`` (reference 004): free shipping or a code, counting down to its expiry
  (needs a coupon).
"""

EMAIL_TEMPLATES: Final[tuple[EmailTemplate, ...]] = get_args(EmailTemplate)


class _HeaderClasses(HeaderRegistry):
    """The stdlib's header registry makes a new class each time a header is set; this one
    makes it once per header name (the classes are stateless), which halves the cost of
    building a message."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


_HEADERS: Final = _HeaderClasses()
_ASCII_POLICY: Final = SMTP.clone(header_factory=_HEADERS)
_UTF8_POLICY: Final = SMTPUTF8.clone(header_factory=_HEADERS)

_SUBJECT_PRODUCT: Final = 50
"""The most characters of a product name in a subject line."""
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True, slots=True)
class RecoveryEmail:
    """A built email and what the flow records about it."""

    message: EmailMessage
    """Ready for ``smtplib.SMTP.send_message`` (headers, text and HTML alternatives)."""
    template: str
    """The template it was built from."""
    locale: str
    """The locale it was written in."""
    links: MessageLinks
    """Its recovery and unsubscribe links."""
    coupon_code: str | None
    """The coupon code it carries, for ``MessageRecord.coupon_code``."""


def message_id_header(message_id: str, domain: str) -> str:
    """The ``Message-ID`` for ``message_id``: the same id always gives the same header, so
    a resend after a crash is recognisably the same message. An id that is not a plain
    dot-atom is replaced by its SHA-256 (the header never holds arbitrary text)."""
    local = (
        message_id
        if _SAFE_ID.fullmatch(message_id)
        else hashlib.sha256(message_id.encode()).hexdigest()[:40]
    )
    return f"<cartback.{local}@{domain}>"


def _with_pixel(html: str, pixel: str | None) -> str:
    """``html`` with the tracking image (when there is one) just before ``</body>``."""
    html = html.strip()
    if pixel is None:
        return html + "\n"
    image = (
        f'<img src="{escape(pixel)}" width="1" height="1" alt="" style="display:block;border:0">'
    )
    at = html.lower().rfind("</body>")
    if at < 0:
        return f"{html}\n{image}\n"
    return f"{html[:at]}{image}\n{html[at:]}\n"


def _require_content(request: MessageRequest, shop: ShopSettings, template: str) -> None:
    coupon = request.coupon
    if template == "discount" and (coupon is None or coupon.code is None):
        raise refuse("email", "coupon_required", "the discount email needs a coupon code")
    if template == "incentive" and (
        coupon is None or (coupon.code is None and not coupon.free_shipping)
    ):
        raise refuse("email", "coupon_required", "the incentive email needs a coupon")
    if template == "social_proof" and not shop.social_proof:
        raise refuse("email", "missing_content", "the social proof email needs social_proof")


def build_email(
    request: MessageRequest,
    *,
    shop: ShopSettings,
    signer: LinkSigner,
    consent: ConsentInput,
) -> RecoveryEmail:
    """The recovery email for ``request``, or ``MessageRefusedError``.

    Refused without email consent (``no_consent``), without an address
    (``no_recipient``), for an ordered cart (``cart_closed``), a form without a URL
    (``no_order_form``), an expired coupon, and a template whose content is missing.
    """
    check_consent("email", consent, refusal="email")
    cart = request.cart
    address = clean_value(cart.contact.email)
    if not address or "@" not in address:
        raise refuse("email", "no_recipient", "the cart has no email address")
    check_cart(request, shop, "email")
    template = request.template or "conversational"
    _require_content(request, shop, template)
    locale = resolve_locale(shop, cart)
    links = message_links(request, "email", shop=shop, signer=signer)
    context = template_context(request, shop, links, locale)
    short = template_context(request, shop, links, locale, product_limit=_SUBJECT_PRODUCT)
    subject = one_line(render(shop, locale, f"email/{template}.subject.txt", short))
    context["subject"] = subject
    text = render(shop, locale, f"email/{template}.txt", context).strip() + "\n"
    html = _with_pixel(render(shop, locale, f"email/{template}.html", context), links.pixel)
    sender = one_line(render(shop, locale, "email/from.txt", context))

    message = EmailMessage(policy=_ASCII_POLICY if address.isascii() else _UTF8_POLICY)
    message["Subject"] = subject
    message["From"] = Address(display_name=sender, addr_spec=shop.sender_email)
    local_part, _, domain = address.rpartition("@")
    to = Address(display_name=_full_name(request) or "", username=local_part, domain=domain)
    message["To"] = to
    message["Reply-To"] = Address(display_name=shop.sender_name, addr_spec=shop.reply_address)
    message["Date"] = format_datetime(request.at)
    message["Message-ID"] = message_id_header(
        request.message_id, shop.sender_email.rpartition("@")[2]
    )
    message["List-Unsubscribe"] = f"<{links.unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    message["Content-Language"] = locale  # after: make_alternative moves Content-* down
    # A boundary derived from the message id: the same message serialises to the same
    # bytes (and the hex of a hash cannot occur in quoted-printable text by chance).
    digest = hashlib.sha256(request.message_id.encode()).hexdigest()[:32]
    message.set_boundary(f"cartback-{digest}")
    # Bodies are encoded (76-character lines) by now; headers fold at serialisation. RFC
    # 5322 allows 998 characters on a line, and a List-Unsubscribe URL must stay one
    # token: folded at 78 it would become encoded words that no mail client reads.
    message.policy = message.policy.clone(max_line_length=998)
    coupon = request.coupon
    return RecoveryEmail(
        message=message,
        template=template,
        locale=locale,
        links=links,
        coupon_code=coupon.code if coupon else None,
    )


def _full_name(request: MessageRequest) -> str | None:
    contact = request.cart.contact
    parts = [clean_value(contact.first_name), clean_value(contact.last_name)]
    return " ".join(part for part in parts if part) or None
