"""Standard Webhooks interoperability, proven against the `standardwebhooks` package."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cartback import (
    ConfigurationError,
    SignatureError,
    decode_secret,
    sign_webhook,
    verify_webhook,
    webhook_headers,
)

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
BODY = b'{"email":"jane@example.com","order_id":"o-1","revenue":"49.00"}'


def headers(*, at: datetime = NOW, body: bytes = BODY, msg_id: str = "msg_1") -> dict[str, str]:
    return webhook_headers(SECRET, msg_id, int(at.timestamp()), body)


def test_our_signature_verifies_with_the_reference_library() -> None:
    signed = headers(at=datetime.now(UTC))
    assert Webhook(SECRET).verify(BODY, signed) == {
        "email": "jane@example.com",
        "order_id": "o-1",
        "revenue": "49.00",
    }


def test_reference_library_signature_verifies_with_ours() -> None:
    signature = Webhook(SECRET).sign("msg_9", NOW, BODY.decode())
    received = {
        "webhook-id": "msg_9",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": signature,
    }
    assert verify_webhook(SECRET, received, BODY, now=NOW) == "msg_9"


def test_a_signature_from_another_secret_fails_with_the_reference_library() -> None:
    other = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    signed = webhook_headers(other, "msg_1", int(datetime.now(UTC).timestamp()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, signed)


def test_any_of_several_signatures_may_match_during_key_rotation() -> None:
    signed = headers()
    signed["webhook-signature"] = "v1,bm90LXRoaXMtb25l " + signed["webhook-signature"]
    assert verify_webhook(SECRET, signed, BODY, now=NOW) == "msg_1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-id": ""}, "missing"),
        ({"webhook-timestamp": ""}, "missing"),
        ({"webhook-signature": ""}, "missing"),
        ({"webhook-timestamp": "soon"}, "not an integer"),
        ({"webhook-signature": "v1,AAAA"}, "no signature matches"),
        ({"webhook-id": "msg_2"}, "no signature matches"),
    ],
)
def test_every_failure_path_raises_signature_error(change: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_webhook(SECRET, {**headers(), **change}, BODY, now=NOW)


def test_a_changed_body_fails() -> None:
    with pytest.raises(SignatureError):
        verify_webhook(SECRET, headers(), BODY.replace(b"49.00", b"0.01"), now=NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_timestamps_outside_the_tolerance_fail(skew: timedelta) -> None:
    with pytest.raises(SignatureError, match="tolerance"):
        verify_webhook(SECRET, headers(at=NOW + skew), BODY, now=NOW)


def test_timestamps_within_the_tolerance_pass() -> None:
    signed = headers(at=NOW - timedelta(minutes=4))
    assert verify_webhook(SECRET, signed, BODY, now=NOW) == "msg_1"


def test_signature_matches_the_documented_construction() -> None:
    # HMAC-SHA256 over "id.timestamp.body" with the base64-decoded secret.
    import hashlib
    import hmac

    key = decode_secret(SECRET)
    expected = hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()
    assert (
        sign_webhook(SECRET, "msg_1", 1700000000, BODY)
        == "v1," + base64.b64encode(expected).decode()
    )


@pytest.mark.parametrize(
    "secret", ["whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_unusable_secrets_are_configuration_errors(secret: str) -> None:
    with pytest.raises(ConfigurationError):
        decode_secret(secret)
