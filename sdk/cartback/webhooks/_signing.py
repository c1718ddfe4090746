"""What a delivery sends: the JSON body and its Standard Webhooks headers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from cartback._clock import ensure_utc
from cartback.signatures import signature_header
from cartback.webhooks._endpoint import WebhookEndpoint

__all__ = ["USER_AGENT", "delivery_headers", "webhook_payload"]

USER_AGENT: Final = "cartback-webhooks/1"
"""The ``user-agent`` of every delivery, so receivers can route or filter them."""


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _timestamp(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _timestamp(at: datetime) -> str:
    return ensure_utc(at, name="occurred_at").isoformat().replace("+00:00", "Z")


def webhook_payload(
    event_type: str, occurred_at: datetime, data: Mapping[str, Any], *, version: int = 1
) -> bytes:
    """The body of one event, as sent and as signed: compact UTF-8 JSON
    ``{"type", "version", "timestamp", "data"}`` (the Standard Webhooks payload shape,
    with the schema version beside the type). Decimals are written as strings so no
    amount loses a digit; datetimes as ISO 8601 in UTC with a ``Z``."""
    document = {
        "type": event_type,
        "version": version,
        "timestamp": _timestamp(occurred_at),
        "data": dict(data),
    }
    return json.dumps(
        document, ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode()


def delivery_headers(
    endpoint: WebhookEndpoint, event_id: str, body: bytes, at: datetime
) -> dict[str, str]:
    """The headers of one attempt made at ``at``: ``webhook-id`` (the event id, the same
    on every retry), ``webhook-timestamp`` (this attempt's time, whole seconds) and
    ``webhook-signature`` (one ``v1,`` signature per secret active at ``at``)."""
    timestamp = math.floor(ensure_utc(at, name="at").astimezone(UTC).timestamp())
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            endpoint.active_secrets(at), event_id, timestamp, body
        ),
    }
