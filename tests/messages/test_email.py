"""Recovery emails: exact output, parsed back by the stdlib, and every refusal."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from jinja2 import DictLoader

from cartback.messages import (
    EMAIL_TEMPLATES,
    Coupon,
    MessageRefusedError,
    ShopSettings,
    build_email,
    message_id_header,
    resolve_locale,
)
from cartback.messages._request import ConsentInput
from tests.messages.fixtures import (
    ALL_CONSENT,
    AT,
    CARTS,
    FREE_SHIPPING,
    JANE,
    SHOP,
    SIGNER,
    STATIC_COUPON,
    cart,
    request,
)
from tests.messages.snapshots import assert_snapshot

COUPONS = {"discount": STATIC_COUPON, "incentive": FREE_SHIPPING}


def build(cart_name: str = "named", *, shop: ShopSettings = SHOP, **changes: Any) -> EmailMessage:
    built = build_email(
        request(CARTS[cart_name], **changes), shop=shop, signer=SIGNER, consent=ALL_CONSENT
    )
    return built.message


def parsed(message: EmailMessage) -> EmailMessage:
    """The message as a receiving mail server reads it."""
    result = message_from_bytes(message.as_bytes(), policy=default)
    assert isinstance(result, EmailMessage)
    return result


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    # Parsed text parts keep the CRLF line ends of the wire; compare lines.
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


@pytest.mark.parametrize("cart_name", sorted(CARTS))
@pytest.mark.parametrize("template", EMAIL_TEMPLATES)
def test_every_template_for_every_cart_matches_its_snapshot(cart_name: str, template: str) -> None:
    message = build(cart_name, template=template, coupon=COUPONS.get(template))
    assert_snapshot(f"email/{template}.{cart_name}.eml", message.as_string())


def test_the_default_is_the_conversational_email_from_a_named_person() -> None:
    message = parsed(build())
    assert message["Subject"] == "You had started your order…"
    assert message["From"] == "Anna Martin from Acme Bakery <anna@acme.example>"
    assert message["Reply-To"] == "Anna Martin <anna.help@acme.example>"
    assert message["To"] == "Jane Doe <jane@example.com>"
    assert message["Date"] == "Sun, 22 Nov 2026 15:00:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert text.startswith("Hello Jane,\n\nI noticed you had started your order for Sourdough")
    assert "\n3. Still stuck? Just reply to this email: I will help you personally.\n" in text
    assert "<li><strong>Payment authentication expired?</strong>" in html
    assert html.count("<a href=") == 2  # the recovery link and the footer's unsubscribe


def test_one_recovery_link_carries_the_token_and_utm_and_no_contact_field() -> None:
    text, _ = parts(parsed(build()))
    links = [line for line in text.splitlines() if "/r/" in line]
    assert len(links) == 1
    link = links[0]
    assert link.startswith("https://shop.acme.example/r/")
    assert link.endswith(
        "?utm_source=cartback&utm_medium=email&utm_campaign=abandoned&utm_content=3h"
    )
    for value in ("jane", "Jane", "Doe", "4155552671", "example.com"):
        assert value not in link
    claims = SIGNER.verify(link.split("/r/")[1].split("?")[0], now=AT, kind="recover")
    assert claims.cart_id == CARTS["named"].id


def test_list_unsubscribe_is_one_click_per_rfc_8058() -> None:
    message = parsed(build())
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = message["List-Unsubscribe"]
    assert header.startswith("<https://shop.acme.example/u/")
    assert header.endswith(">")
    claims = SIGNER.verify(header[len("<https://shop.acme.example/u/") : -1], now=AT,
                           kind="unsubscribe")  # fmt: skip
    assert claims.channel == "email"
    raw = build().as_bytes()
    assert b"\nList-Unsubscribe: <https://shop.acme.example/u/" in raw  # one unencoded line


def test_the_unsubscribe_link_names_its_message() -> None:
    header = parsed(build())["List-Unsubscribe"]
    claims = SIGNER.verify(header.rsplit("/", 1)[1].rstrip(">"), now=AT, kind="unsubscribe")
    assert claims.message_id == "msg-0001"


def test_an_open_tracking_image_only_when_the_shop_enables_it() -> None:
    _, html = parts(parsed(build()))
    assert "/o/" not in html
    tracked = SHOP.model_copy(update={"open_tracking": True})
    text, html = parts(parsed(build(shop=tracked)))
    assert "/o/" not in text  # nothing to see in the plain text
    (image,) = re.findall(r'<img src="https://shop\.acme\.example/o/([^"]+)"[^>]*>', html)
    assert 'width="1" height="1" alt=""' in html
    assert html.index(image) < html.lower().index("</body>")
    claims = SIGNER.verify(image, now=AT + timedelta(days=3650), kind="open")  # never expires
    assert (claims.cart_id, claims.message_id) == (CARTS["named"].id, "msg-0001")


def test_the_same_message_id_gives_the_same_message_id_header_and_bytes() -> None:
    first, again = build(), build()
    assert first["Message-ID"] == "<cartback.msg-0001@acme.example>"
    assert first.as_bytes() == again.as_bytes()
    assert build(message_id="msg-0002")["Message-ID"] != first["Message-ID"]


def test_an_id_that_is_not_a_dot_atom_is_hashed_into_the_header() -> None:
    header = message_id_header("a b>\r\nX-Evil: 1", "acme.example")
    assert header.startswith("<cartback.")
    assert header.endswith("@acme.example>")
    assert " " not in header
    assert "\n" not in header
    assert message_id_header("a b>\r\nX-Evil: 1", "acme.example") == header


def test_without_a_name_the_greeting_stays_whole() -> None:
    text, html = parts(parsed(build("unnamed")))
    assert text.startswith("Hello,\n")
    assert "<p>Hello,</p>" in html
    for template in EMAIL_TEMPLATES:
        message = parsed(build("unnamed", template=template, coupon=COUPONS.get(template)))
        for part in parts(message):
            assert "Hello ," not in part
            assert "None" not in part
        assert message["To"] == "sam@example.com"


@pytest.mark.parametrize(
    ("reason", "first"),
    [
        ("authentication_timeout", "1. Payment authentication expired?"),
        ("card_declined", "1. Card declined?"),
        ("insufficient_funds", "1. Payment authentication expired?"),
        ("other", "1. Payment authentication expired?"),
    ],
)
def test_the_reported_payment_failure_puts_its_point_first(reason: str, first: str) -> None:
    failed = cart(failure=reason, **JANE)
    built = build_email(request(failed), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    text, html = parts(parsed(built.message))
    assert first in text
    assert "I saw that your payment for Sourdough course did not go through" in text
    assert text.index("3. Still stuck?") > text.index("2. ")
    if reason == "card_declined":
        assert html.index("Card declined?") < html.index("Payment authentication expired?")


def test_the_coupon_code_and_its_expiry_reach_the_discount_email() -> None:
    message = parsed(build(template="discount", coupon=STATIC_COUPON))
    assert message["Subject"] == "An offer for your order: 10% off, until November 24"
    text, html = parts(message)
    assert "Code: BREAD10\nValid until November 24, 2026, 15:00 UTC (48 hours from now)." in text
    assert "<strong>Code: BREAD10</strong>" in html


def test_the_incentive_email_counts_down_to_the_stated_expiry() -> None:
    shop = SHOP.model_copy(update={"timezone": "America/Chicago"})
    coupon = Coupon(code="SHIPFREE", free_shipping=True, expires_at=AT + timedelta(hours=5))
    text, _ = parts(parsed(build(shop=shop, template="incentive", coupon=coupon)))
    assert "worth your while: Free shipping." in text
    assert "Your code: SHIPFREE" in text
    assert "The offer ends on November 22, 2026, 14:00 CST: 5 hours left." in text


def test_the_locale_follows_the_shop_then_the_prospects_country() -> None:
    quebec = parsed(build("quebec"))
    assert quebec["Subject"] == "Vous aviez commencé votre commande…"
    assert quebec["Content-Language"] == "fr"
    text, _ = parts(quebec)
    assert text.startswith("Bonjour Luc,\n")
    assert "Carte refusée\u00a0? Vérifiez que votre code postal" in text
    assert resolve_locale(SHOP, CARTS["named"]) == "en"
    assert resolve_locale(SHOP.model_copy(update={"locale": "fr"}), CARTS["named"]) == "fr"
    ontario = cart(email="a@example.ca", country="CA", state="ON")
    assert resolve_locale(SHOP, ontario) == "en"


def test_a_shop_overrides_a_template_and_keeps_the_others() -> None:
    loader = DictLoader(
        {"en/email/reminder.subject.txt": "{{ shop }} kept your order{% if first_name %}, "
         "{{ first_name }}{% endif %}"}
    )  # fmt: skip
    shop = SHOP.model_copy(update={"templates": loader})
    assert build(shop=shop, template="reminder")["Subject"] == "Acme Bakery kept your order, Jane"
    assert build(shop=shop)["Subject"] == "You had started your order…"


def test_a_new_locale_falls_back_to_english_templates_it_does_not_have() -> None:
    loader = DictLoader({"de/email/conversational.subject.txt": "Sie hatten Ihre Bestellung…"})
    shop = SHOP.model_copy(update={"templates": loader, "locale": "de"})
    message = parsed(build(shop=shop))
    assert message["Subject"] == "Sie hatten Ihre Bestellung…"
    assert parts(message)[0].startswith("Hello Jane,")


def test_html_escapes_every_value_and_text_keeps_them_on_one_line() -> None:
    hostile = cart(
        email="eve@example.com",
        first_name='<img src=x onerror="alert(1)">',
        last_name="O'Brien & Co\r\nBcc: victim@example.com",
        product='<b>Bold</b> & "quoted"\nX-Injected: yes',
    )
    built = build_email(request(hostile), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    message = parsed(built.message)
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert "\n" not in message["To"]
    text, html = parts(message)
    assert "<img" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &#34;quoted&#34; X-Injected: yes" in html
    assert 'for <b>Bold</b> & "quoted" X-Injected: yes and did not' in text


def test_a_message_accepted_over_smtputf8_for_a_non_ascii_address() -> None:
    unicode_cart = cart(email="josé@example.com", first_name="José")
    built = build_email(request(unicode_cart), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    assert getattr(built.message.policy, "utf8", False)
    assert parsed(built.message)["To"] == "José <josé@example.com>"


@pytest.mark.parametrize(
    ("consent", "changes", "contact", "reason"),
    [
        ({"email": False}, {}, JANE, "no_consent"),
        ({}, {}, JANE, "no_consent"),
        (ALL_CONSENT, {}, {"phone": "+14155552671", "phone_e164": True}, "no_recipient"),
        (ALL_CONSENT, {"template": "discount"}, JANE, "coupon_required"),
        (ALL_CONSENT, {"template": "incentive"}, JANE, "coupon_required"),
        (
            ALL_CONSENT,
            {"template": "discount", "coupon": Coupon(free_shipping=True)},
            JANE,
            "coupon_required",
        ),
        (
            ALL_CONSENT,
            {"coupon": Coupon(code="OLD", expires_at=AT - timedelta(seconds=1))},
            JANE,
            "coupon_expired",
        ),
    ],
)
def test_refusals(
    consent: ConsentInput, changes: dict[str, Any], contact: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MessageRefusedError) as refused:
        build_email(request(cart(**contact), **changes), shop=SHOP, signer=SIGNER,
                    consent=consent)  # fmt: skip
    assert refused.value.reason == reason
    assert refused.value.channel == "email"
    assert "jane" not in str(refused.value).lower()


def test_refused_for_an_ordered_cart_a_form_without_url_and_missing_social_proof() -> None:
    cases = [
        (cart(status="ordered", **JANE), SHOP, {}, "cart_closed"),
        (cart(**JANE), SHOP.model_copy(update={"form_urls": {"other": "https://x.example/"}}),
         {}, "no_order_form"),
        (cart(**JANE), SHOP.model_copy(update={"social_proof": None}),
         {"template": "social_proof"}, "missing_content"),
    ]  # fmt: skip
    for cart_, shop, changes, reason in cases:
        with pytest.raises(MessageRefusedError) as refused:
            build_email(request(cart_, **changes), shop=shop, signer=SIGNER, consent=ALL_CONSENT)
        assert refused.value.reason == reason


def test_a_consent_decision_is_accepted_as_well_as_a_mapping() -> None:
    from cartback import ConsentDecision

    allowed = ConsentDecision(allowed=True, basis="default", event=None)
    denied = ConsentDecision(allowed=False, basis="withdrawn", event=None)
    assert build_email(request(CARTS["named"]), shop=SHOP, signer=SIGNER, consent=allowed)
    with pytest.raises(MessageRefusedError):
        build_email(request(CARTS["named"]), shop=SHOP, signer=SIGNER, consent=denied)
