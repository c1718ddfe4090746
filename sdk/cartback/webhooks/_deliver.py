"""One attempt to deliver one event to one endpoint, and what to do next.

``WebhookDeliverer.deliver`` signs the body, POSTs it through the SSRF-guarded
transport with the endpoint's timeouts, never follows a redirect, reads at most a few
kilobytes of the answer (and keeps none of it), and returns a typed result:
``Delivered``, ``RetryLater`` (with the next attempt time), ``DisableEndpoint`` (410),
``Dead`` (the last attempt failed) or ``Deferred`` (the endpoint is disabled: nothing
sent). It never raises for anything the network or the receiver does.

Status handling follows Standard Webhooks: 2xx succeeds; 410 disables the endpoint;
every other answer, 3xx and 4xx included, is a failure retried on the schedule (a 401
from a receiver whose secret is being fixed, or a 404 during its deploy, recovers
within the three days of retries instead of losing the event); 429, 502, 503 and 504
also throttle the endpoint. ``RetryPolicy.final_statuses`` turns chosen statuses into
an immediate ``Dead``.
"""

from __future__ import annotations

import logging
import random as random_module
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final

import httpx

from cartback._clock import Clock, system_clock
from cartback._errors import InvalidInputError
from cartback.webhooks._endpoint import WebhookEndpoint
from cartback.webhooks._errors import TargetRefusedError, TargetUnresolvedError
from cartback.webhooks._guard import GuardedTransport, Resolver, TargetPolicy, system_resolver
from cartback.webhooks._results import (
    Dead,
    Deferred,
    Delivered,
    DeliveryError,
    DeliveryResult,
    DisableEndpoint,
    RetryLater,
)
from cartback.webhooks._retry import RetryPolicy, parse_retry_after
from cartback.webhooks._signing import delivery_headers

__all__ = ["THROTTLE_STATUSES", "Delivery", "WebhookDeliverer", "error_for_exception"]

log = logging.getLogger("cartback.webhooks")

THROTTLE_STATUSES: Final = frozenset({429, 502, 503, 504})
"""Answers that say the receiver is overloaded: the endpoint is left alone for a while."""

_LOG_LEVELS: Final = {
    "delivered": logging.DEBUG,
    "retry": logging.INFO,
    "deferred": logging.INFO,
    "disable_endpoint": logging.WARNING,
    "dead": logging.WARNING,
}
"""One line per attempt: ids, status and error code only (never a body or a URL)."""

_MAX_RESPONSE_BYTES: Final = 16_384
"""Bytes of an answer read (so a small answer keeps the connection reusable); the rest
is never read, and nothing of it is kept."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one endpoint, as a worker claimed it from the outbox."""

    event_id: str
    """The outbox event's id: the ``webhook-id``, the same on every retry and replay."""
    body: bytes
    """The JSON body, exactly as signed and sent (see ``webhook_payload``)."""
    attempt: int = 1
    """This attempt's number: attempts already made, plus one."""
    ordering_key: str | None = None
    """Deliveries with the same key (the cart id) to one endpoint go one at a time, in
    the order they were submitted to the sender."""

    def __post_init__(self) -> None:
        if not (
            0 < len(self.event_id) <= 255
            and self.event_id.isascii()
            and self.event_id.isprintable()
            and " " not in self.event_id
            and "." not in self.event_id
        ):
            raise InvalidInputError(
                "event_id must be 1-255 printable ASCII characters without spaces or dots",
                field="event_id",
                reason="invalid_token",
            )
        if not isinstance(self.body, bytes):
            raise InvalidInputError(
                "body must be the encoded JSON bytes", field="body", reason="not_bytes"
            )
        if self.attempt < 1:
            raise InvalidInputError(
                "attempt is numbered from 1", field="attempt", reason="out_of_range"
            )


def error_for_exception(exc: BaseException) -> DeliveryError:
    """The stable code for a failure to get an answer at all."""
    if isinstance(exc, TargetUnresolvedError):
        return "dns_error"
    if isinstance(exc, TargetRefusedError):
        return "address_refused"
    codes: tuple[tuple[type[BaseException], DeliveryError], ...] = (
        (httpx.ConnectTimeout, "connect_timeout"),
        (httpx.ReadTimeout, "read_timeout"),
        (httpx.WriteTimeout, "write_timeout"),
        (httpx.PoolTimeout, "pool_timeout"),
        (httpx.TimeoutException, "read_timeout"),
        (httpx.ConnectError, "connect_error"),
        (httpx.ProtocolError, "protocol_error"),
        (httpx.UnsupportedProtocol, "protocol_error"),
    )
    for kind, code in codes:
        if isinstance(exc, kind):
            if code == "connect_error" and _caused_by_tls(exc):
                return "tls_error"
            return code
    return "network_error"


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _error_for_status(status: int) -> DeliveryError:
    if 300 <= status < 400:
        return "redirect"
    if status == 408:
        return "request_timeout"
    if status == 429:
        return "rate_limited"
    if status == 410:
        return "gone"
    if 400 <= status < 500:
        return "client_error"
    if 500 <= status < 600:
        return "server_error"
    return "unexpected_status"


@dataclass(frozen=True, slots=True)
class _ClientKey:
    """The settings an endpoint's HTTP client is built from."""

    policy: TargetPolicy
    max_in_flight: int
    connect_timeout: float
    read_timeout: float


class WebhookDeliverer:
    """Makes delivery attempts; one instance serves every endpoint and thread.

    It keeps one connection pool per endpoint (as many connections as the endpoint's
    ``max_in_flight``), rebuilt when the endpoint's allow-list, concurrency or timeouts
    change. ``clock`` stamps ``webhook-timestamp`` and schedules retries; ``random``
    draws the jitter; ``resolver`` answers the SSRF guard's look-ups; ``ssl_context``
    replaces the default trust store (tests, private CAs). Close it when done.
    """

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        random: Callable[[], float] = random_module.random,
        resolver: Resolver = system_resolver,
        retry: RetryPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._random = random
        self._resolver = resolver
        self.retry = retry if retry is not None else RetryPolicy()
        """The retry policy in force."""
        self._ssl_context = ssl_context
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[_ClientKey, httpx.Client]] = {}
        self._retired: list[httpx.Client] = []

    def __enter__(self) -> WebhookDeliverer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection pool."""
        with self._lock:
            clients = [client for _key, client in self._clients.values()] + self._retired
            self._clients.clear()
            self._retired.clear()
        for client in clients:
            client.close()

    def _client(self, endpoint: WebhookEndpoint) -> httpx.Client:
        key = _ClientKey(
            TargetPolicy.for_endpoint(endpoint),
            endpoint.max_in_flight,
            endpoint.connect_timeout,
            endpoint.read_timeout,
        )
        with self._lock:
            known = self._clients.get(endpoint.id)
            if known is not None and known[0] == key:
                return known[1]
            if known is not None:
                self._retired.append(known[1])  # another thread may still be using it
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()  # loaded once, shared
            client = httpx.Client(
                transport=GuardedTransport(
                    key.policy,
                    resolver=self._resolver,
                    ssl_context=self._ssl_context,
                    max_connections=key.max_in_flight,
                ),
                timeout=httpx.Timeout(
                    connect=key.connect_timeout,
                    read=key.read_timeout,
                    write=key.read_timeout,
                    pool=key.connect_timeout,
                ),
                follow_redirects=False,
                trust_env=False,
            )
            self._clients[endpoint.id] = (key, client)
            return client

    def deliver(self, endpoint: WebhookEndpoint, delivery: Delivery) -> DeliveryResult:
        """Make one attempt and say what happened and what comes next."""
        if not endpoint.enabled:
            return Deferred(
                event_id=delivery.event_id,
                endpoint_id=endpoint.id,
                attempt=delivery.attempt,
                reason="endpoint_disabled",
                next_attempt_at=None,
            )
        client = self._client(endpoint)
        at = self._clock()
        headers = delivery_headers(endpoint, delivery.event_id, delivery.body, at)
        started = self._monotonic()
        status: int | None = None
        retry_after_header: str | None = None
        error: DeliveryError | None = None
        try:
            with client.stream(
                "POST", endpoint.url, content=delivery.body, headers=headers
            ) as reply:
                status = reply.status_code
                retry_after_header = reply.headers.get("retry-after")
                _drain(reply)
        except (httpx.TransportError, TargetRefusedError, TargetUnresolvedError) as exc:
            error = error_for_exception(exc)
        except httpx.InvalidURL:
            error = "invalid_url"
        finally:
            client.cookies.clear()  # a receiver's cookies never ride on later deliveries
        duration_ms = max(0, round((self._monotonic() - started) * 1000))
        result = self._result(
            endpoint, delivery, at, status, error, retry_after_header, duration_ms
        )
        log.log(
            _LOG_LEVELS[result.kind],
            "webhook %s endpoint=%s event=%s attempt=%d status=%s error=%s",
            result.kind,
            endpoint.id,
            delivery.event_id,
            delivery.attempt,
            status,
            error if error is not None else getattr(result, "error", None),
        )
        return result

    def _result(
        self,
        endpoint: WebhookEndpoint,
        delivery: Delivery,
        at: datetime,
        status: int | None,
        error: DeliveryError | None,
        retry_after_header: str | None,
        duration_ms: int,
    ) -> DeliveryResult:
        event_id, endpoint_id, attempt = delivery.event_id, endpoint.id, delivery.attempt
        if status is not None and 200 <= status < 300:
            return Delivered(
                event_id=event_id,
                endpoint_id=endpoint_id,
                attempt=attempt,
                at=at,
                status=status,
                duration_ms=duration_ms,
            )
        if status == 410:
            return DisableEndpoint(
                event_id=event_id,
                endpoint_id=endpoint_id,
                attempt=attempt,
                at=at,
                duration_ms=duration_ms,
            )
        if error is None:
            assert status is not None
            error = _error_for_status(status)
        ended = self._clock()
        retry_after = parse_retry_after(retry_after_header, ended, cap=self.retry.max_retry_after)
        next_attempt_at = None
        if status not in self.retry.final_statuses:
            next_attempt_at = self.retry.next_attempt_at(
                attempt, ended, retry_after=retry_after, random=self._random
            )
        if next_attempt_at is None:
            return Dead(
                event_id=event_id,
                endpoint_id=endpoint_id,
                attempt=attempt,
                at=at,
                error=error,
                status=status,
                duration_ms=duration_ms,
            )
        throttle_until = None
        if status in THROTTLE_STATUSES:
            throttle_until = ended + (retry_after or self.retry.throttle_pause)
        return RetryLater(
            event_id=event_id,
            endpoint_id=endpoint_id,
            attempt=attempt,
            at=at,
            error=error,
            status=status,
            next_attempt_at=next_attempt_at,
            throttle_until=throttle_until,
            duration_ms=duration_ms,
        )


def _drain(reply: httpx.Response) -> None:
    """Read a little of the answer, so a short one leaves the connection reusable."""
    received = 0
    try:
        for chunk in reply.iter_raw():
            received += len(chunk)
            if received >= _MAX_RESPONSE_BYTES:
                return
    except httpx.TransportError:
        return  # the status is what counts; a broken body does not undo it
