"""One HTTP exchange with a provider, turned into a ``SendResult`` (shared by the HTTP
senders: SMS, APNs, FCM, Graph API)."""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import httpx

from cartback.senders._errors import AccessTokenError
from cartback.senders._result import SendResult
from cartback.senders._retry import parse_retry_after

__all__ = [
    "DEFAULT_TIMEOUT",
    "by_status",
    "exchange",
    "json_object",
    "make_client",
    "retry_after",
    "transient_status",
]

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds an HTTP sender waits to connect, and for each read or write."""

USER_AGENT: Final = "cartback"


@functools.cache
def _tls(http2: bool) -> ssl.SSLContext:
    """One TLS context per protocol set, shared by the clients senders make (loading the
    CA bundle takes tens of milliseconds; HTTP/2 clients set their own ALPN on it)."""
    return httpx.create_ssl_context()


def make_client(timeout: float, *, http2: bool = False) -> httpx.Client:
    """The client a sender makes (and closes) when none is given."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        http2=http2,
        verify=_tls(http2),
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,
    )


def transient_status(status: int) -> bool:
    """Statuses worth another try: 408, 425, 429 and every 5xx."""
    return status in (408, 425, 429) or status >= 500


def exchange(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    classify: Callable[[httpx.Response], SendResult],
) -> SendResult:
    """Build a request, send it, classify the response. A credential that cannot be
    had, a timeout and a network error become results; nothing the network or the
    provider does raises."""
    try:
        request = build()
    except AccessTokenError as error:
        if error.transient:
            return SendResult.retry(error.reason)
        return SendResult.failed(error.reason)
    try:
        response = client.send(request)
    except httpx.TimeoutException:
        return SendResult.retry("timeout")
    except httpx.TransportError:  # connection refused or reset, TLS, protocol errors
        return SendResult.retry("network_error")
    except httpx.RequestError:  # a body that does not decode, a redirect loop
        return SendResult.retry("bad_response")
    return classify(response)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or an empty one (an HTML error page, an
    empty body, a JSON array)."""
    try:
        value = json.loads(response.content)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """The response's ``Retry-After``, in seconds from ``now``."""
    return parse_retry_after(response.headers.get("retry-after"), now)


def by_status(response: httpx.Response, now: datetime, prefix: str) -> SendResult:
    """A response no provider-specific rule matched: 408/425/429/5xx retry (honouring
    ``Retry-After``), anything else fails as ``{prefix}_http_{status}``."""
    status = response.status_code
    if status == 429:
        return SendResult.retry("rate_limited", retry_after=retry_after(response, now), status=429)
    if transient_status(status):
        return SendResult.retry(
            "server_error" if status >= 500 else "timeout",
            retry_after=retry_after(response, now),
            status=status,
        )
    return SendResult.failed(f"{prefix}_http_{status}", status=status)
