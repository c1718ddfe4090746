"""Recovery texts: exact output, encoding and segments, the cap, STOP, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import DictLoader

from cartback.messages import (
    OPT_OUT_KEYWORDS,
    Coupon,
    MessageRefusedError,
    build_sms,
    is_opt_out,
    sms_segments,
)
from tests.messages.fixtures import (
    ALL_CONSENT,
    CARTS,
    JANE,
    SHOP,
    SIGNER,
    STATIC_COUPON,
    cart,
    request,
)
from tests.messages.snapshots import assert_snapshot


@pytest.mark.parametrize("cart_name", sorted(CARTS))
@pytest.mark.parametrize("template", ["reminder", "offer"])
def test_every_text_matches_its_snapshot(cart_name: str, template: str) -> None:
    coupon = STATIC_COUPON if template == "offer" else None
    sms = build_sms(
        request(CARTS[cart_name], template=template, coupon=coupon),
        shop=SHOP,
        signer=SIGNER,
        consent=ALL_CONSENT,
    )
    report = f"to: {sms.to}\nencoding: {sms.encoding}\nunits: {sms.units}\n"
    report += f"segments: {sms.segments}\nshortened: {sms.shortened}\n\n{sms.text}\n"
    assert_snapshot(f"sms/{template}.{cart_name}.txt", report)


def test_a_short_personal_text_with_the_link_and_stop() -> None:
    sms = build_sms(request(CARTS["named"]), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    message, link, stop = sms.text.split("\n")
    assert message == (
        "Hi Jane, it's Anna Martin from Acme Bakery. Your order for Sourdough course is saved,"
        " ready to finish:"
    )
    assert link == sms.links.recovery
    assert link.endswith("utm_source=cartback&utm_medium=sms&utm_campaign=abandoned&utm_content=3h")
    assert stop == "Reply STOP to opt out"
    assert sms.to == "+14155552671"
    assert (sms.encoding, sms.segments) == ("gsm7", 3)
    assert sms.units == len(sms.text)


def test_french_texts_stay_in_the_gsm_alphabet() -> None:
    sms = build_sms(request(CARTS["quebec"]), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    assert sms.text.startswith("Bonjour Luc, c'est Anna Martin de Acme Bakery.")
    assert sms.text.endswith("\nRépondez STOP pour ne plus recevoir")
    assert sms.encoding == "gsm7"


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("€" * 80, "gsm7", 160, 1),  # extension characters count two septets
        ("€" * 81, "gsm7", 162, 2),
        ("a" * 159 + "€", "gsm7", 161, 2),
        ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),  # the escape pair is not split
        ("é à ù Ñ ß Δ £ ¥ §", "gsm7", 17, 1),
        ("ç" * 70, "ucs2", 70, 1),  # ç is not in the GSM alphabet (Ç is)
        ("ç" * 71, "ucs2", 71, 2),
        ("ç" * 134, "ucs2", 134, 2),
        ("ç" * 135, "ucs2", 135, 3),
        ("🍞" * 35, "ucs2", 70, 1),  # a surrogate pair is two UTF-16 units
        ("🍞" * 36, "ucs2", 72, 2),
        ("a" * 66 + "🍞" + "a", "ucs2", 69, 1),
        ("a" * 66 + "🍞" + "a" * 4, "ucs2", 72, 2),  # the pair is not split: 66 | 2+4
        ("", "gsm7", 0, 1),
    ],
)
def test_encoding_and_segments(text: str, encoding: str, units: int, segments: int) -> None:
    size = sms_segments(text)
    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)


def test_capped_texts_are_shortened_and_the_link_is_never_cut() -> None:
    for cart_name, c in CARTS.items():
        for cap in (2, 3, 4):
            sms = build_sms(request(c), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT,
                            max_segments=cap)  # fmt: skip
            assert sms.segments <= cap, cart_name
            lines = sms.text.split("\n")
            assert lines[-2] == sms.links.recovery
            assert lines[-1].startswith(("Reply STOP", "Répondez STOP"))
            assert sms_segments(sms.text).segments == sms.segments


def test_shortening_drops_detail_in_a_documented_order() -> None:
    full = build_sms(request(CARTS["long_product"]), shop=SHOP, signer=SIGNER,
                     consent=ALL_CONSENT, max_segments=4)  # fmt: skip
    assert not full.shortened
    assert "Two Live Q&A Sessions per Month is saved" in full.text
    capped = build_sms(request(CARTS["long_product"]), shop=SHOP, signer=SIGNER,
                       consent=ALL_CONSENT, max_segments=3)  # fmt: skip
    assert capped.shortened
    assert "for The Complete Sourdough, Rye, Spelt... is saved" in capped.text
    assert capped.encoding == "gsm7"  # the ellipsis is "...", which GSM-7 has
    bare = build_sms(request(CARTS["named"]), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT,
                     max_segments=2)  # fmt: skip
    message = bare.text.split("\n")[0]
    assert message.startswith("Hi, it's Anna Martin from Acme Bakery.")  # no name left
    assert message.endswith("...")  # and then cut at a word


def test_a_non_gsm_name_may_be_dropped_to_stay_within_the_cap() -> None:
    sms = build_sms(request(CARTS["non_latin"]), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    assert sms.encoding == "gsm7"
    assert "花子" not in sms.text
    roomy = build_sms(request(CARTS["non_latin"]), shop=SHOP, signer=SIGNER,
                      consent=ALL_CONSENT, max_segments=6)  # fmt: skip
    assert roomy.encoding == "ucs2"
    assert roomy.text.startswith("Hi 花子, it's Anna Martin from Acme Bakery.")
    assert "手作りパン講座" in roomy.text


def test_the_message_itself_is_cut_at_a_word_when_nothing_else_is_left() -> None:
    loader = DictLoader({"en/sms/reminder.txt": "word " * 200})
    shop = SHOP.model_copy(update={"templates": loader})
    sms = build_sms(request(CARTS["named"]), shop=shop, signer=SIGNER, consent=ALL_CONSENT)
    message = sms.text.split("\n")[0]
    assert message.endswith("word...")
    assert sms.segments == 3
    assert sms.text.endswith(sms.links.recovery + "\nReply STOP to opt out")


def test_the_offer_text_carries_the_code_and_expiry() -> None:
    sms = build_sms(request(CARTS["named"], template="offer", coupon=STATIC_COUPON), shop=SHOP,
                    signer=SIGNER, consent=ALL_CONSENT)  # fmt: skip
    assert "and code BREAD10 gives you 10% off until November 24:" in sms.text
    assert sms.coupon_code == "BREAD10"


def test_a_cap_that_would_cut_the_coupon_code_is_refused() -> None:
    loader = DictLoader({"en/sms/offer.txt": "word " * 200 + "{{ coupon.code }}"})
    shop = SHOP.model_copy(update={"templates": loader})
    with pytest.raises(MessageRefusedError) as refused:
        build_sms(request(CARTS["named"], template="offer", coupon=STATIC_COUPON), shop=shop,
                  signer=SIGNER, consent=ALL_CONSENT)  # fmt: skip
    assert refused.value.reason == "over_size"


@pytest.mark.parametrize(
    "reply",
    ["STOP", "stop", " Stop ", "stop.", "END", "cancel", "Unsubscribe!", "quit\n", "\tSTOP\t"],
)
def test_carrier_opt_out_keywords_are_recognised(reply: str) -> None:
    assert is_opt_out(reply)


@pytest.mark.parametrize(
    "reply", ["", "yes", "stop it please", "STOPPED", "don't stop", "unstop", "START", "HELP"]
)
def test_other_replies_are_not_opt_outs(reply: str) -> None:
    assert not is_opt_out(reply)


def test_the_keywords_are_the_carriers_five() -> None:
    assert frozenset({"STOP", "END", "CANCEL", "UNSUBSCRIBE", "QUIT"}) == OPT_OUT_KEYWORDS


@pytest.mark.parametrize(
    ("contact", "consent", "kwargs", "reason"),
    [
        (JANE, {"sms": False}, {}, "no_consent"),
        (JANE, {"email": True}, {}, "no_consent"),
        ({"email": "a@example.com"}, ALL_CONSENT, {}, "no_recipient"),
        ({**JANE, "phone": "(415) 555-2671", "phone_e164": False}, ALL_CONSENT, {}, "bad_phone"),
        ({**JANE, "phone": "+1 415 555 2671", "phone_e164": True}, ALL_CONSENT, {}, "bad_phone"),
        (JANE, ALL_CONSENT, {"max_segments": 1}, "over_size"),
    ],
)
def test_refusals(
    contact: dict[str, Any], consent: dict[str, bool], kwargs: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MessageRefusedError) as refused:
        build_sms(request(cart(**contact)), shop=SHOP, signer=SIGNER, consent=consent, **kwargs)
    assert refused.value.reason == reason
    assert refused.value.channel == "sms"
    assert "415" not in str(refused.value)


def test_the_offer_text_needs_a_coupon() -> None:
    with pytest.raises(MessageRefusedError) as refused:
        build_sms(request(CARTS["named"], template="offer"), shop=SHOP, signer=SIGNER,
                  consent=ALL_CONSENT)  # fmt: skip
    assert refused.value.reason == "coupon_required"
    free = Coupon(free_shipping=True)
    sms = build_sms(request(CARTS["named"], template="offer", coupon=free), shop=SHOP,
                    signer=SIGNER, consent=ALL_CONSENT)  # fmt: skip
    assert "is saved, with free shipping:" in sms.text
