"""Properties over any filled fields: no builder invents a value, leaves one unescaped,
lets a field add a header line, or emits a payload over its limit."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from cartback._models import Cart
from cartback.messages import (
    PUSH_PAYLOAD_LIMIT,
    ApnsNotification,
    build_email,
    build_push,
    build_sms,
    build_social_message,
)
from cartback.messages._text import clean_value
from tests.messages.fixtures import (
    ALL_CONSENT,
    SHOP,
    SIGNER,
    STATIC_COUPON,
    cart,
    devices,
    recipient,
    request,
)

EMAIL = "qzlocalqz@example.com"
PHONE = "+14155559876"
HEADERS = {
    "Subject", "From", "To", "Reply-To", "Date", "Message-ID", "List-Unsubscribe",
    "List-Unsubscribe-Post", "Content-Language", "MIME-Version", "Content-Type",
}  # fmt: skip
ANYTHING = st.text(st.characters(exclude_categories=["Cs"]), max_size=120)
HOSTILE = st.text(
    st.sampled_from(list("ab <>&\"'\r\n\t\x00\u2028\u202e/=:;é山🍞")), min_size=1, max_size=40
)
FIELD = st.one_of(st.none(), ANYTHING, HOSTILE)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def marked(value: str | None) -> str | None:
    """Markers around a value make its raw or escaped form findable in any output."""
    return None if value is None else f"QZ{value}QZ"


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    return cart(
        email=EMAIL,
        phone=PHONE,
        phone_e164=True,
        first_name=marked(draw(FIELD)),
        last_name=marked(draw(FIELD)),
        city=marked(draw(FIELD)),
        country=draw(st.sampled_from([None, "US", "CA", "JP"])),
        state=draw(st.sampled_from([None, "QC", "ON"])),
        product=marked(draw(FIELD)),
    )


def email_of(c: Cart, template: str = "conversational") -> EmailMessage:
    coupon = STATIC_COUPON if template in ("discount", "incentive") else None
    built = build_email(request(c, template=template, coupon=coupon), shop=SHOP, signer=SIGNER,
                        consent=ALL_CONSENT)  # fmt: skip
    parsed = message_from_bytes(built.message.as_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def texts_of(c: Cart) -> list[str]:
    """Every text a prospect reads, on every channel."""
    parsed = email_of(c)
    out = [str(parsed["Subject"])]
    for kind in ("plain", "html"):
        part = parsed.get_body((kind,))
        assert part is not None
        out.append(part.get_content())
    out.append(build_sms(request(c), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT).text)
    for push in build_push(request(c), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT,
                           devices=devices(EMAIL)):  # fmt: skip
        out.append(push.body().decode())
    social = build_social_message(request(c), platform="messenger", shop=SHOP, signer=SIGNER,
                                  consent=ALL_CONSENT, recipient=recipient(EMAIL))  # fmt: skip
    out.append(social.body["message"]["attachment"]["payload"]["text"])
    return out


@SETTINGS
@given(carts(), st.sampled_from(["conversational", "reminder", "social_proof", "discount",
                                 "incentive"]))  # fmt: skip
def test_no_field_adds_a_header_or_a_line_to_one(c: Cart, template: str) -> None:
    parsed = email_of(c, template)
    assert set(parsed.keys()) == HEADERS
    assert not parsed.defects
    for name, value in parsed.items():
        assert "\n" not in str(value)
        assert "\r" not in str(value), name


@SETTINGS
@given(carts())
def test_html_holds_every_value_escaped_and_never_raw(c: Cart) -> None:
    parsed = email_of(c)
    html_part = parsed.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    for value in (c.contact.first_name, c.context.product_name):
        cleaned = clean_value(value)
        if cleaned is None:
            continue
        assert str(escape(cleaned)) in html
        if any(char in cleaned for char in "<>&\"'"):
            assert cleaned not in html


@SETTINGS
@given(carts())
def test_only_filled_values_personalise_and_nothing_is_made_up(c: Cart) -> None:
    used = [clean_value(c.contact.first_name), clean_value(c.context.product_name)]
    unused = [clean_value(c.contact.last_name), clean_value(c.contact.city)]
    for text in texts_of(c):
        for stray in ("None", "null", "Hello ,", "Hi ,", "Bonjour ,", "for  ", "pour  "):
            assert stray not in text
        assert "qzlocalqz" not in text  # the address never stands in for a name
        assert "5559876" not in text  # nor the phone
        if not any(used):
            assert "QZ" not in text  # no name, no product: nothing personal at all
        for value in unused:  # fields no template uses (the last name is only in To)
            if value and not any(value in str(other) for other in used if other):
                assert value not in text


@SETTINGS
@given(carts(), st.integers(min_value=2, max_value=5), st.booleans())
def test_no_payload_is_over_its_limit(c: Cart, cap: int, long_product: bool) -> None:
    if long_product:
        c = c.model_copy(update={"context": c.context.model_copy(
            update={"product_name": "🍞 Very long name " * 400})})  # fmt: skip
    sms = build_sms(request(c), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT, max_segments=cap)
    assert sms.segments <= cap
    assert sms.text.split("\n")[-2] == sms.links.recovery
    for push in build_push(request(c), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT,
                           devices=devices(EMAIL)):  # fmt: skip
        assert push.size <= PUSH_PAYLOAD_LIMIT
        measured: Any = push.payload if isinstance(push, ApnsNotification) else push.message
        assert push.size == len(json.dumps(measured, ensure_ascii=False,
                                           separators=(",", ":")).encode())  # fmt: skip
    social = build_social_message(request(c), platform="instagram", shop=SHOP, signer=SIGNER,
                                  consent=ALL_CONSENT,
                                  recipient=recipient(EMAIL, "instagram"))  # fmt: skip
    payload = social.body["message"]["attachment"]["payload"]
    assert len(payload["text"]) <= 640
    assert all(len(button["title"]) <= 20 for button in payload["buttons"])
