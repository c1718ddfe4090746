"""What became of one delivery, as the worker reports it back to the outbox.

Each result names the event and endpoint, so a worker can apply it without keeping
its own map. Errors are short stable codes with the HTTP status beside them, never a
response body, an address or anything personal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = [
    "Dead",
    "DeferReason",
    "Deferred",
    "Delivered",
    "DeliveryError",
    "DeliveryResult",
    "DisableEndpoint",
    "RetryLater",
]

DeliveryError = Literal[
    "connect_timeout",
    "read_timeout",
    "write_timeout",
    "pool_timeout",
    "dns_error",
    "address_refused",
    "connect_error",
    "tls_error",
    "network_error",
    "protocol_error",
    "redirect",
    "request_timeout",
    "rate_limited",
    "client_error",
    "server_error",
    "gone",
    "unexpected_status",
    "invalid_url",
]
"""Why an attempt failed. Network: ``connect_timeout``, ``read_timeout``,
``write_timeout``, ``pool_timeout``, ``dns_error`` (the name did not resolve),
``address_refused`` (the SSRF guard refused every address), ``connect_error``,
``tls_error``, ``network_error`` (reset mid-request), ``protocol_error`` (not HTTP).
Answers: ``redirect`` (3xx: not followed), ``request_timeout`` (408), ``rate_limited``
(429), ``client_error`` (other 4xx), ``server_error`` (5xx), ``gone`` (410),
``unexpected_status`` (anything else outside 2xx). ``invalid_url``: the HTTP client
cannot use the endpoint's URL (nothing was sent)."""

DeferReason = Literal[
    "endpoint_disabled", "endpoint_paused", "earlier_event_pending", "shutdown", "internal_error"
]
"""Why the sender handed a delivery back without attempting it: the endpoint is
disabled (a 410 during this run, or its settings); it is paused by a long
``Retry-After``; an earlier event with the same ordering key just failed; the sender is
shutting down; the delivery function raised (a bug: logged, never the payload)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """The endpoint answered 2xx: the delivery is done."""

    kind: Literal["delivered"] = "delivered"
    """Discriminator."""
    event_id: str
    """The event (``webhook-id``)."""
    endpoint_id: str
    """The endpoint."""
    attempt: int
    """The attempt that succeeded (1-based)."""
    at: datetime
    """When the attempt started (UTC); also its ``webhook-timestamp``."""
    status: int
    """The 2xx status."""
    duration_ms: int
    """How long the attempt took, for the dashboard."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryLater:
    """The attempt failed and another one is due at ``next_attempt_at``."""

    kind: Literal["retry"] = "retry"
    """Discriminator."""
    event_id: str
    """The event (``webhook-id``)."""
    endpoint_id: str
    """The endpoint."""
    attempt: int
    """The attempt that failed (1-based); the next one is ``attempt + 1``."""
    at: datetime
    """When the failed attempt started (UTC)."""
    error: DeliveryError
    """Why it failed."""
    status: int | None
    """The HTTP status, when the endpoint answered."""
    next_attempt_at: datetime
    """When the next attempt is due (schedule, jitter and ``Retry-After``)."""
    throttle_until: datetime | None
    """Set when the endpoint asked to be left alone (429, 502, 503, 504): no delivery
    to it should start before then."""
    duration_ms: int
    """How long the attempt took."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisableEndpoint:
    """The endpoint answered ``410 Gone``: disable it; this event stays undelivered
    (replayable once the endpoint is enabled again)."""

    kind: Literal["disable_endpoint"] = "disable_endpoint"
    """Discriminator."""
    event_id: str
    """The event (``webhook-id``)."""
    endpoint_id: str
    """The endpoint to disable."""
    attempt: int
    """The attempt that got the 410."""
    at: datetime
    """When that attempt started (UTC)."""
    error: Literal["gone"] = "gone"
    """Always ``gone``."""
    status: int = 410
    """Always 410."""
    duration_ms: int
    """How long the attempt took."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dead:
    """The last attempt failed (or the status is final by policy): move the event to
    the dead-letter list, from which it can be replayed."""

    kind: Literal["dead"] = "dead"
    """Discriminator."""
    event_id: str
    """The event (``webhook-id``)."""
    endpoint_id: str
    """The endpoint."""
    attempt: int
    """The attempt that failed last."""
    at: datetime
    """When it started (UTC)."""
    error: DeliveryError
    """Why it failed."""
    status: int | None
    """The HTTP status, when the endpoint answered."""
    duration_ms: int
    """How long the attempt took."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Deferred:
    """Nothing was sent: the sender hands the delivery back. The attempt is not used
    up; claim the delivery again at ``next_attempt_at`` (``None``: when the endpoint is
    enabled again)."""

    kind: Literal["deferred"] = "deferred"
    """Discriminator."""
    event_id: str
    """The event (``webhook-id``)."""
    endpoint_id: str
    """The endpoint."""
    attempt: int
    """The attempt that was not made; make it next time."""
    reason: DeferReason
    """Why it was handed back."""
    next_attempt_at: datetime | None
    """When to try again."""


DeliveryResult = Delivered | RetryLater | DisableEndpoint | Dead | Deferred
"""One of the five results, told apart by ``kind``."""
