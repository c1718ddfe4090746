"""Recovery links: the token link with UTM, deep links from the shop's templates, one
unsubscribe link per channel; never a stored field in a URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from pydantic import ValidationError

from cartback.links import utm_parameters, with_query
from cartback.messages import DeepLinkTemplates, ShopSettings, message_links, utm_content
from tests.messages.fixtures import AT, CARTS, SHOP, SIGNER, request

UTM = [
    ("utm_source", "cartback"),
    ("utm_medium", "push"),
    ("utm_campaign", "abandoned"),
    ("utm_content", "3h:b"),
]


def test_the_web_link_is_the_token_link_with_utm() -> None:
    links = message_links(request(CARTS["named"], variant="b"), "push", shop=SHOP, signer=SIGNER)
    parts = urlsplit(links.web)
    assert (parts.scheme, parts.netloc) == ("https", "shop.acme.example")
    assert parts.path == f"/r/{links.token}"
    assert parse_qsl(parts.query) == UTM
    assert SIGNER.verify(links.token, now=AT, kind="recover").cart_id == CARTS["named"].id


def test_deep_links_carry_the_same_token_and_utm() -> None:
    links = message_links(request(CARTS["named"], variant="b"), "push", shop=SHOP, signer=SIGNER,
                          platform="android")  # fmt: skip
    assert links.ios == f"https://app.acme.example/cart/{links.token}?" + "&".join(
        f"{k}={v}" for k, v in UTM
    )
    assert links.android is not None
    assert links.android.startswith(f"intent://cart/{links.token}?utm_source=cartback&")
    assert links.android.endswith("#Intent;scheme=acme;package=com.acme.bakery;end")
    assert links.recovery == links.android
    ios = message_links(request(CARTS["named"]), "push", shop=SHOP, signer=SIGNER,
                        platform="ios")  # fmt: skip
    assert ios.recovery == ios.ios
    web = message_links(request(CARTS["named"]), "push", shop=SHOP, signer=SIGNER,
                        platform="web")  # fmt: skip
    assert web.recovery == web.web


def test_a_custom_scheme_and_an_intent_fallback_to_the_web_link() -> None:
    shop = SHOP.model_copy(update={"deep_links": DeepLinkTemplates(
        ios="acme://cart/{token}",
        android="intent://cart/{token}#Intent;scheme=acme;S.browser_fallback_url={web_url};end",
    )})  # fmt: skip
    links = message_links(request(CARTS["named"]), "email", shop=shop, signer=SIGNER)
    assert links.ios is not None
    assert links.ios.startswith(f"acme://cart/{links.token}?utm_source=cartback")
    assert links.android is not None
    fallback = links.android.split("S.browser_fallback_url=")[1].removesuffix(";end")
    assert ";" not in fallback
    assert "?" not in fallback
    assert unquote(fallback) == links.web


def test_one_unsubscribe_link_per_channel() -> None:
    seen = set()
    for channel in ("email", "sms", "push", "messenger", "instagram"):
        links = message_links(request(CARTS["named"]), channel, shop=SHOP, signer=SIGNER)
        assert links.unsubscribe.startswith("https://shop.acme.example/u/")
        claims = SIGNER.verify(links.unsubscribe.rsplit("/", 1)[1], now=AT, kind="unsubscribe")
        assert claims.channel == channel
        seen.add(links.unsubscribe)
    assert len(seen) == 5


def test_no_stored_field_appears_in_any_link() -> None:
    for c in CARTS.values():
        links = message_links(request(c), "email", shop=SHOP, signer=SIGNER)
        every = " ".join(
            unquote(link)
            for link in (links.web, links.ios, links.android, links.unsubscribe)
            if link
        )
        for value in c.contact.model_dump(exclude={"phone_e164", "address_extra"}).values():
            if value:
                assert str(value) not in every


def test_utm_helpers() -> None:
    assert utm_content("3h", None) == "3h"
    assert utm_content("3h", "b") == "3h:b"
    assert utm_parameters(source="s", medium="sms", campaign="c") == {
        "utm_source": "s", "utm_medium": "sms", "utm_campaign": "c",
    }  # fmt: skip
    assert (
        with_query("https://a.example/x?k=1#f", {"u": "a b"}) == "https://a.example/x?k=1&u=a+b#f"
    )
    assert with_query("https://a.example/x", {}) == "https://a.example/x"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"public_url": "http://shop.example"}, "public_url"),
        ({"public_url": "https://shop.example/?a=1"}, "public_url"),
        ({"sender_email": "not an address"}, "sender_email"),
        ({"sender_name": "Anna\r\nBcc: x@example.com"}, "sender_name"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"deep_links": {"ios": "acme://cart/"}}, "deep_links"),
        ({"deep_links": {"android": "cart/{token}"}}, "deep_links"),
    ],
)
def test_settings_refuse_what_cannot_work(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "shop_name": "Acme", "sender_name": "Anna", "sender_email": "anna@acme.example",
        "public_url": "https://shop.acme.example",
    }  # fmt: skip
    values.update(changes)
    with pytest.raises(ValidationError) as refused:
        ShopSettings(**values)
    assert refused.value.errors()[0]["loc"][0] == field


def test_settings_allow_http_on_loopback_for_the_demo() -> None:
    shop = ShopSettings(shop_name="Demo", sender_name="Anna", sender_email="anna@acme.example",
                        public_url="http://127.0.0.1:8000/")  # fmt: skip
    assert shop.public_url == "http://127.0.0.1:8000"
    assert shop.reply_address == "anna@acme.example"
