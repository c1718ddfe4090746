"""Recovery and unsubscribe links: signed, expiring, tamper-evident, pre-filling."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from cartback import (
    Cartback,
    ConfigurationError,
    LinkSigner,
    SignatureError,
    SQLiteStore,
    TokenExpiredError,
    prefill_url,
)
from tests.conftest import FakeClock
from tests.sdk._support import outbox

KEY = b"k" * 32
SUBMISSION = {
    "form_id": "f1",
    "seller": "us",
    "session_id": "s1",
    "fields": {
        "email": "Jane@Example.com",
        "first_name": "Jane",
        "country": "US",
        "city": "Austin",
        "billing_address_2": "Apt 4",
    },
}


@pytest.fixture
def linked(store: SQLiteStore, clock: FakeClock) -> Cartback:
    return Cartback(store, clock=clock, links=LinkSigner(KEY))


def cart_id(client: Cartback) -> str:
    result = client.capture(SUBMISSION)
    assert result.cart is not None
    return result.cart.id


def test_recovery_link_opens_the_cart_and_records_the_click_with_utm(
    linked: Cartback, store: SQLiteStore
) -> None:
    cid = cart_id(linked)
    token = linked.recovery_token(cid)
    utm = {"utm_source": "cartback", "utm_medium": "email", "utm_campaign": "3h", "x": "dropped"}
    cart = linked.open_recovery_link(token, utm)
    assert cart.id == cid
    [click] = store.clicks(cid)
    recorded = click.utm
    assert recorded == {"utm_source": "cartback", "utm_medium": "email", "utm_campaign": "3h"}
    assert [e.type for e in outbox(store)][-1] == "link.clicked"


def test_recovery_tokens_expire(linked: Cartback, clock: FakeClock) -> None:
    token = linked.recovery_token(cart_id(linked))
    clock.advance(days=30, seconds=1)
    with pytest.raises(TokenExpiredError):
        linked.open_recovery_link(token)


def test_tampered_tokens_are_refused(linked: Cartback) -> None:
    token = linked.recovery_token(cart_id(linked))
    claims, signature = token.split(".")
    for forged in (claims + "x." + signature, claims + "." + signature[:-2], "garbage", ""):
        with pytest.raises(SignatureError):
            linked.open_recovery_link(forged)


def test_a_token_of_one_kind_is_not_accepted_as_another(linked: Cartback) -> None:
    cid = cart_id(linked)
    with pytest.raises(SignatureError):
        linked.open_recovery_link(linked.unsubscribe_token(cid, "email"))
    with pytest.raises(SignatureError):
        linked.unsubscribe(linked.recovery_token(cid))


def test_a_token_signed_with_another_key_is_refused(linked: Cartback, clock: FakeClock) -> None:
    other = LinkSigner(b"o" * 32).recovery_token(cart_id(linked), now=clock())
    with pytest.raises(SignatureError):
        linked.open_recovery_link(other)


def test_unsubscribe_withdraws_that_channel_only(linked: Cartback, clock: FakeClock) -> None:
    cid = cart_id(linked)
    linked.record_consent("jane@example.com", "sms", "granted")
    clock.advance(minutes=1)
    linked.unsubscribe(linked.unsubscribe_token(cid, "sms"))
    assert not linked.may_contact("jane@example.com", "sms")
    assert linked.may_contact("jane@example.com", "email")
    event = linked.consent("jane@example.com", "sms").event
    assert event is not None
    assert event.source.kind == "unsubscribe_link"


def test_unsubscribe_tokens_never_expire(linked: Cartback, clock: FakeClock) -> None:
    token = linked.unsubscribe_token(cart_id(linked), "email")
    clock.advance(days=3650)
    linked.unsubscribe(token)
    assert not linked.may_contact("jane@example.com", "email")


def test_tokens_carry_no_contact_data(linked: Cartback) -> None:
    cid = cart_id(linked)
    for token in (linked.recovery_token(cid), linked.unsubscribe_token(cid, "email")):
        import base64

        claims = base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()
        assert "jane" not in claims.lower()
        assert "example" not in claims.lower()


def test_short_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        LinkSigner(b"short")


def test_without_a_signer_links_are_a_configuration_error(client: Cartback) -> None:
    with pytest.raises(ConfigurationError):
        client.recovery_token(cart_id(client))


def test_prefill_url_carries_stored_fields_renamed_and_utm(linked: Cartback) -> None:
    cart = linked.get_cart(cart_id(linked))
    url = prefill_url(
        "https://shop.example/checkout?lang=en",
        cart,
        utm={"utm_source": "cartback", "utm_medium": "sms"},
        field_names={"email": "billing_email"},
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.netloc == "shop.example"
    assert query == {
        "lang": ["en"],
        "billing_email": ["Jane@example.com"],
        "first_name": ["Jane"],
        "city": ["Austin"],
        "country": ["US"],
        "billing_address_2": ["Apt 4"],
        "utm_source": ["cartback"],
        "utm_medium": ["sms"],
    }


def test_recovery_ttl_is_configurable(store: SQLiteStore, clock: FakeClock) -> None:
    client = Cartback(store, clock=clock, links=LinkSigner(KEY, recovery_ttl=timedelta(hours=1)))
    token = client.recovery_token(cart_id(client))
    clock.advance(minutes=59)
    client.open_recovery_link(token)
    clock.advance(minutes=2)
    with pytest.raises(TokenExpiredError):
        client.open_recovery_link(token)
