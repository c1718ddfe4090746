"""Firebase Cloud Messaging HTTP v1: ``POST /v1/projects/{project}/messages:send``.

The body is ``{"message": ...}`` (``FcmMessage.body()``), the bearer token an OAuth 2.0
access token (``ServiceAccountTokens`` or any ``AccessTokenProvider``). 200 answers
``{"name": "projects/{project}/messages/{id}"}``; an error answers
``{"error": {"code": 404, "status": "NOT_FOUND", "message": ..., "details": [{"@type":
"type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}``,
and the ``errorCode`` (else the HTTP status) decides.

FCM takes no idempotency key: a request repeated after an unanswered one can notify
twice, though a notification with the same ``collapse_key``/``tag`` (the builder sets
both from the cart) replaces the earlier one on the device. See docs/senders.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import httpx

from cartback._errors import ConfigurationError
from cartback._types import MessageChannel
from cartback.messages import FcmMessage
from cartback.senders._google import AccessTokenProvider, ServiceAccountTokens
from cartback.senders._http import DEFAULT_TIMEOUT, by_status, exchange, json_object, make_client
from cartback.senders._http import retry_after as header_retry_after
from cartback.senders._protocol import OutgoingMessage, wrong_message
from cartback.senders._result import SendResult
from cartback.senders._retry import RetryPolicy, run_with_retries

__all__ = ["FCM_API", "FcmSender"]

FCM_API: Final = "https://fcm.googleapis.com"
"""The FCM HTTP v1 API host."""

_FCM_ERROR: Final = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST: Final = "type.googleapis.com/google.rpc.BadRequest"


class FcmSender:
    """Sends an ``FcmMessage`` (Android, web, or iOS through Firebase) to one device.

    404 ``UNREGISTERED`` and a 400 ``INVALID_ARGUMENT`` about the registration token
    fail with the device marked invalid; 429 ``QUOTA_EXCEEDED``, 500 and 503
    ``UNAVAILABLE`` are retried, honouring ``Retry-After``; 401 and 403 fail (a
    configuration error: a 401 first drops the cached token and tries once more).
    """

    def __init__(
        self,
        project_id: str,
        tokens: AccessTokenProvider,
        *,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        base_url: str = FCM_API,
    ) -> None:
        if not project_id:
            raise ConfigurationError("FCM needs the Firebase project id", setting="fcm.project_id")
        self.project_id = project_id
        self.tokens = tokens
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._owns_client = client is None
        self._client = client or make_client(timeout)
        self._retry = retry or RetryPolicy()

    @classmethod
    def from_service_account(
        cls,
        service_account: str | Path | Mapping[str, Any],
        *,
        project_id: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> FcmSender:
        """A sender authenticated as the service account (a JSON key file's path, or its
        parsed content), for its own project unless ``project_id`` says otherwise."""
        retry = retry or RetryPolicy()
        if isinstance(service_account, Mapping):
            tokens = ServiceAccountTokens(
                service_account, client=client, timeout=timeout, clock=retry.now
            )
        else:
            tokens = ServiceAccountTokens.from_file(
                service_account, client=client, timeout=timeout, clock=retry.now
            )
        project = project_id or tokens.project_id
        if not project:
            raise ConfigurationError(
                "the service account names no project", setting="fcm.project_id"
            )
        return cls(project, tokens, client=client, timeout=timeout, retry=retry)

    @property
    def channel(self) -> MessageChannel:
        """``push``."""
        return "push"

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Send the message; ``provider_id`` is FCM's message name."""
        if not isinstance(message, FcmMessage):
            wrong_message("push", message)
        body = message.body()
        renewed = False

        def build() -> httpx.Request:
            headers = {
                "authorization": f"Bearer {self.tokens.access_token()}",
                "content-type": "application/json; charset=utf-8",
            }
            return self._client.build_request("POST", self.url, content=body, headers=headers)

        def classify(response: httpx.Response) -> SendResult:
            return _classify(response, self._retry.now())

        def attempt() -> SendResult:
            nonlocal renewed
            result = exchange(self._client, build, classify)
            if result.error == "unauthenticated" and not renewed:
                renewed = True
                self.tokens.invalidate()
                result = exchange(self._client, build, classify)
            return result

        return run_with_retries(attempt, self._retry)

    def close(self) -> None:
        """Close the HTTP clients the sender made (not one it was given)."""
        if self._owns_client:
            self._client.close()
        close = getattr(self.tokens, "close", None)
        if callable(close):
            close()


def _details(error: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """FCM's ``errorCode`` and the fields a ``BadRequest`` names."""
    code: str | None = None
    fields: list[str] = []
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        kind = detail.get("@type")
        if kind == _FCM_ERROR and isinstance(detail.get("errorCode"), str):
            code = code or detail["errorCode"]
        elif kind == _BAD_REQUEST and isinstance(detail.get("fieldViolations"), list):
            fields += [
                str(violation.get("field"))
                for violation in detail["fieldViolations"]
                if isinstance(violation, dict)
            ]
    return code, fields


def _about_token(error: Mapping[str, Any], fields: list[str]) -> bool:
    """Whether an ``INVALID_ARGUMENT`` is about the registration token (read, never
    repeated: the text stays out of the result)."""
    text = error.get("message")
    mentions = isinstance(text, str) and "registration token" in text.lower()
    return mentions or any(field == "message.token" for field in fields)


def _classify(response: httpx.Response, now: datetime) -> SendResult:
    status = response.status_code
    body = json_object(response)
    if status == 200:
        name = body.get("name")
        return SendResult.accepted(name if isinstance(name, str) else None, status=200)
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    code, fields = _details(error)
    wait = header_retry_after(response, now)
    if code == "UNREGISTERED":
        return SendResult.failed("unregistered", invalid_recipient=True, status=status)
    if code == "INVALID_ARGUMENT" or (code is None and status == 400):
        if _about_token(error, fields):
            return SendResult.failed(
                "invalid_registration_token", invalid_recipient=True, status=status
            )
        return SendResult.failed("invalid_argument", status=status)
    if code == "SENDER_ID_MISMATCH":
        return SendResult.failed("sender_id_mismatch", status=status)
    if code == "THIRD_PARTY_AUTH_ERROR":
        return SendResult.failed("third_party_auth_error", status=status)
    if code == "QUOTA_EXCEEDED" or status == 429:
        return SendResult.retry("quota_exceeded", retry_after=wait, status=status)
    if code == "UNAVAILABLE" or status == 503:
        return SendResult.retry("unavailable", retry_after=wait, status=status)
    if code == "INTERNAL" or status == 500:
        return SendResult.retry("internal", retry_after=wait, status=status)
    if status == 401:
        return SendResult.failed("unauthenticated", status=status)
    if status == 403:
        return SendResult.failed("permission_denied", status=status)
    if status == 404:
        return SendResult.failed("not_found", status=status)
    return by_status(response, now, "fcm")
