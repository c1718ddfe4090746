"""Signatures as the ``standardwebhooks`` reference library makes and checks them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from cartback import ConfigurationError, SignatureError
from cartback.signatures import sign_webhook, signature_header, verify_webhook, webhook_headers
from cartback.webhooks import USER_AGENT, delivery_headers, webhook_payload
from tests.webhooks.support import OLD_SECRET, SECRET, endpoint

AT = datetime(2026, 11, 22, 12, 0, 0, 750_000, tzinfo=UTC)
ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="."),
    min_size=1,
    max_size=40,
)


@given(msg_id=ids, body=st.binary(max_size=300), timestamp=st.integers(0, 2**33))
def test_every_signature_in_the_header_is_the_reference_librarys(
    msg_id: str, body: bytes, timestamp: int
) -> None:
    text = body.decode("latin-1")
    header = signature_header([SECRET, OLD_SECRET], msg_id, timestamp, text.encode())
    moment = datetime.fromtimestamp(timestamp, UTC)
    assert header.split(" ") == [
        Webhook(SECRET).sign(msg_id, moment, text),
        Webhook(OLD_SECRET).sign(msg_id, moment, text),
    ]


def test_delivery_headers_sign_with_each_active_secret_at_the_attempt_time() -> None:
    target = endpoint(
        "https://hooks.example.com/x",
        secrets=[SECRET, {"value": OLD_SECRET, "active_until": AT + timedelta(minutes=1)}],
    )
    body = webhook_payload("cart.captured", AT, {"cart_id": "c_1"})
    headers = delivery_headers(target, "evt_1", body, AT)
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(int(AT.timestamp()))  # whole seconds, floored
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert headers["webhook-signature"] == " ".join(
        [
            Webhook(SECRET).sign("evt_1", AT, body.decode()),
            Webhook(OLD_SECRET).sign("evt_1", AT, body.decode()),
        ]
    )
    later = delivery_headers(target, "evt_1", body, AT + timedelta(minutes=2))
    assert later["webhook-signature"] == Webhook(SECRET).sign(
        "evt_1", AT + timedelta(minutes=2), body.decode()
    )


def test_the_payload_is_compact_json_with_type_version_timestamp_and_data() -> None:
    body = webhook_payload(
        "cart.captured",
        AT,
        {"cart_value": Decimal("49.90"), "name": "Zoë", "seen": AT},
        version=2,
    )
    assert (
        body
        == (
            '{"type":"cart.captured","version":2,"timestamp":"2026-11-22T12:00:00.750000Z",'
            '"data":{"cart_value":"49.90","name":"Zoë","seen":"2026-11-22T12:00:00.750000Z"}}'
        ).encode()
    )
    assert json.loads(body)["data"]["cart_value"] == "49.90"


def test_a_payload_with_a_value_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError):
        webhook_payload("cart.captured", AT, {"raw": object()})


def test_webhook_headers_accept_several_secrets_and_the_receiver_may_hold_several() -> None:
    body = b'{"order_id":"o-1"}'
    headers = webhook_headers([SECRET, OLD_SECRET], "msg_1", int(AT.timestamp()), body)
    assert headers["webhook-signature"].split(" ") == [
        sign_webhook(SECRET, "msg_1", int(AT.timestamp()), body),
        sign_webhook(OLD_SECRET, "msg_1", int(AT.timestamp()), body),
    ]
    only_old = webhook_headers(OLD_SECRET, "msg_1", int(AT.timestamp()), body)
    assert verify_webhook([SECRET, OLD_SECRET], only_old, body, now=AT) == "msg_1"
    with pytest.raises(SignatureError):
        verify_webhook(SECRET, only_old, body, now=AT)


@pytest.mark.parametrize("secrets", [[], SECRET])
def test_signing_needs_a_sequence_of_secrets(secrets: list[str] | str) -> None:
    with pytest.raises(ConfigurationError):
        signature_header(secrets, "msg_1", 0, b"{}")
