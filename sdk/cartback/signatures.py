"""Signing and verifying HTTP bodies with the Standard Webhooks scheme.

The signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``; the signature is
HMAC-SHA256 with the secret, base64-encoded and prefixed ``v1,``; several signatures
may be sent separated by spaces (key rotation). Secrets are ``whsec_`` + base64.
Used for the server-to-server "order placed" call now, and outbound webhooks later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from cartback._errors import ConfigurationError, SignatureError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "decode_secret",
    "sign_webhook",
    "verify_webhook",
    "webhook_headers",
]

DEFAULT_TOLERANCE_SECONDS: Final = 300
_PREFIX: Final = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` + base64 secret (the prefix is optional)."""
    encoded = secret.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("a webhook secret must be base64", setting="secret") from None
    if len(key) < 16:
        raise ConfigurationError("a webhook secret must hold at least 16 bytes", setting="secret")
    return key


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(secret, msg_id, timestamp, body),
    }


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check a message's signature on the raw ``body`` before anything parses it.

    ``headers`` must be case-insensitive or lower-cased. Returns the ``webhook-id``
    (use it to drop replays); raises ``SignatureError`` for every failure.
    """
    msg_id = headers.get("webhook-id")
    timestamp_text = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp_text or not signatures:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    expected = sign_webhook(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return msg_id
    raise SignatureError("no signature matches")
