"""SMS over a provider's HTTP API: a small base that does the sending and retrying, and
one object per provider that knows its request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import httpx

from cartback._types import MessageChannel
from cartback.messages import SmsMessage
from cartback.senders._http import DEFAULT_TIMEOUT, exchange, make_client
from cartback.senders._protocol import OutgoingMessage, wrong_message
from cartback.senders._result import SendResult
from cartback.senders._retry import RetryPolicy, run_with_retries

__all__ = ["SmsApi", "SmsSender"]


class SmsApi(Protocol):
    """One SMS provider's API shape: how to ask it to send a text and how to read its
    answer. Implement these two methods to add a provider (see ``TwilioSms``)."""

    def request(
        self, client: httpx.Client, message: SmsMessage, *, idempotency_key: str
    ) -> httpx.Request:
        """The HTTP request that sends ``message`` (built with ``client.build_request``);
        a provider with an idempotency header sets it from ``idempotency_key``."""
        ...

    def classify(self, response: httpx.Response, *, now: datetime) -> SendResult:
        """The outcome the provider's response means (``now`` reads a ``Retry-After``
        date). Never put the response's text in the error code."""
        ...


class SmsSender:
    """Sends an ``SmsMessage`` through an ``SmsApi``, with timeouts and the bounded
    immediate retries of ``retry``.

    ``client`` is an ``httpx.Client`` of the caller's (closed by the caller); without
    one the sender makes its own with ``timeout`` and closes it in ``close()``.
    """

    def __init__(
        self,
        api: SmsApi,
        *,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.api = api
        self._owns_client = client is None
        self._client = client or make_client(timeout)
        self._retry = retry or RetryPolicy()

    @property
    def channel(self) -> MessageChannel:
        """``sms``."""
        return "sms"

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Send the text; accepted once the provider answers with its message id."""
        if not isinstance(message, SmsMessage):
            wrong_message("sms", message)

        def attempt() -> SendResult:
            return exchange(
                self._client,
                lambda: self.api.request(self._client, message, idempotency_key=idempotency_key),
                lambda response: self.api.classify(response, now=self._retry.now()),
            )

        return run_with_retries(attempt, self._retry)

    def close(self) -> None:
        """Close the HTTP client the sender made (not one it was given)."""
        if self._owns_client:
            self._client.close()
