"""Signing and verifying HTTP bodies with the Standard Webhooks scheme.

The signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``; the signature is
HMAC-SHA256 with the secret, base64-encoded and prefixed ``v1,``; several signatures
may be sent separated by spaces (key rotation). Secrets are ``whsec_`` + base64.
Used for the server-to-server "order placed" call and for outbound webhooks
(``cartback.webhooks``). It needs nothing beyond the standard library, so the core
package can verify inbound calls without the HTTP client installed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from cartback._errors import ConfigurationError, SignatureError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "decode_secret",
    "sign_webhook",
    "signature_header",
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


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one message and one secret."""
    return _signature(decode_secret(secret), msg_id, timestamp, body)


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value with one ``v1,`` signature per secret, in order,
    separated by spaces: a receiver that knows any one of the secrets can verify it
    (zero-downtime rotation)."""
    if isinstance(secrets, str) or not secrets:
        raise ConfigurationError("sign with a non-empty sequence of secrets", setting="secrets")
    return " ".join(sign_webhook(secret, msg_id, timestamp, body) for secret in secrets)


def webhook_headers(
    secret: str | Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one message, signed with one secret or
    with each of several (rotation)."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }


def verify_webhook(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check a message's signature on the raw ``body`` before anything parses it.

    ``secret`` may be several secrets while the receiver rotates its own: a signature
    made with any of them passes. ``headers`` must be case-insensitive or lower-cased.
    Returns the ``webhook-id`` (use it to drop replays); raises ``SignatureError`` for
    every failure.
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
    keys = [decode_secret(one) for one in ([secret] if isinstance(secret, str) else secret)]
    expected = [_signature(key, msg_id, timestamp, body).encode() for key in keys]
    for candidate in signatures.split():
        for one in expected:
            if hmac.compare_digest(candidate.encode(), one):
                return msg_id
    raise SignatureError("no signature matches")
