"""Messenger and Instagram through Meta's Graph API: Send API messages and the
retargeting audience event.

- A ``SocialMessage`` goes to ``POST /{version}/{page_id}/messages`` with its ``body``
  as JSON and the page access token (for Instagram, the Facebook page linked to the
  professional account, or with ``base_url="https://graph.instagram.com"`` the
  Instagram account itself and its Instagram user token). 200 answers
  ``{"recipient_id": ..., "message_id": ...}``.
- An ``AudienceEvent`` goes to the Marketing API's ``POST /{version}/{audience_id}/users``
  with ``payload={"schema": ["EMAIL", "PHONE"], "data": [[sha256, sha256]]}``
  (form-encoded; the builder already normalised and hashed both) and an access token
  with ``ads_management``. 200 answers ``{"audience_id", "session_id", "num_received",
  "num_invalid_entries", ...}``.

Neither endpoint takes an idempotency key. Adding someone to an audience twice changes
nothing; a message repeated after an unanswered request arrives twice. See
docs/senders.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from cartback._types import MessageChannel, SocialPlatform
from cartback.messages import AudienceEvent, SocialMessage
from cartback.senders._errors import MissingSenderError
from cartback.senders._graph import (
    GRAPH_API,
    GRAPH_API_VERSION,
    appsecret_proof,
    classify_graph_error,
)
from cartback.senders._http import DEFAULT_TIMEOUT, exchange, json_object, make_client
from cartback.senders._protocol import OutgoingMessage, wrong_message
from cartback.senders._result import SendResult
from cartback.senders._retry import RetryPolicy, run_with_retries

__all__ = ["MetaSender"]


class MetaSender:
    """Sends Messenger or Instagram messages (``page_access_token``) and, on the same
    channel, audience events (``ads_access_token``), with the Graph API's rate-limit
    codes (4, 17, 32, 613, 80002, 80006) retried and a person who cannot be reached
    (551, 200/1545041, 10/2018108, 100/2018001) failing with the recipient invalid.

    ``app_secret`` adds the ``appsecret_proof`` an app with "Require App Secret" needs.
    """

    def __init__(
        self,
        channel: SocialPlatform,
        *,
        page_access_token: str | None = None,
        ads_access_token: str | None = None,
        app_secret: str | None = None,
        api_version: str = GRAPH_API_VERSION,
        base_url: str = GRAPH_API,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._channel: SocialPlatform = channel
        self._page_token = page_access_token
        self._ads_token = ads_access_token
        self._app_secret = app_secret
        self.api = f"{base_url.rstrip('/')}/{api_version}"
        self._owns_client = client is None
        self._client = client or make_client(timeout)
        self._retry = retry or RetryPolicy()

    @property
    def channel(self) -> MessageChannel:
        """``messenger`` or ``instagram``."""
        return self._channel

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Send the message (``provider_id``: the Send API's ``message_id``) or apply
        the audience event (``provider_id``: the upload's ``session_id``)."""
        if isinstance(message, SocialMessage) and message.platform == self._channel:
            if self._page_token is None:
                raise MissingSenderError(
                    f"the {self._channel} sender has no page access token", channel=self._channel
                )
            url = f"{self.api}/{message.page_id}/messages"
            token, body = self._page_token, message.body
            return self._run(lambda: self._request(url, token, json_body=body), _message_sent)
        if isinstance(message, AudienceEvent) and message.platform == self._channel:
            if self._ads_token is None:
                raise MissingSenderError(
                    f"the {self._channel} sender has no ads access token", channel=self._channel
                )
            if not (message.email_sha256 or message.phone_sha256):
                return SendResult.failed("no_identifiers")
            url = f"{self.api}/{message.audience_id}/users"
            form = {"payload": json.dumps(_audience_payload(message), separators=(",", ":"))}
            token = self._ads_token
            return self._run(lambda: self._request(url, token, form=form), _audience_added)
        return wrong_message(self._channel, message)

    def close(self) -> None:
        """Close the HTTP client the sender made (not one it was given)."""
        if self._owns_client:
            self._client.close()

    def _request(
        self,
        url: str,
        token: str,
        *,
        json_body: object = None,
        form: dict[str, str] | None = None,
    ) -> httpx.Request:
        params = {}
        if self._app_secret:
            params["appsecret_proof"] = appsecret_proof(token, self._app_secret)
        headers = {"authorization": f"Bearer {token}"}
        if form is not None:
            return self._client.build_request(
                "POST", url, params=params, data=form, headers=headers
            )
        return self._client.build_request(
            "POST", url, params=params, json=json_body, headers=headers
        )

    def _run(
        self,
        build: Callable[[], httpx.Request],
        success: Callable[[httpx.Response], SendResult],
    ) -> SendResult:
        def classify(response: httpx.Response) -> SendResult:
            if 200 <= response.status_code < 300:
                return success(response)
            return classify_graph_error(response, self._retry.now())

        return run_with_retries(lambda: exchange(self._client, build, classify), self._retry)


def _audience_payload(event: AudienceEvent) -> dict[str, object]:
    schema: list[str] = []
    row: list[str] = []
    if event.email_sha256:
        schema.append("EMAIL")
        row.append(event.email_sha256)
    if event.phone_sha256:
        schema.append("PHONE")
        row.append(event.phone_sha256)
    return {"schema": schema, "data": [row]}


def _message_sent(response: httpx.Response) -> SendResult:
    message_id = json_object(response).get("message_id")
    return SendResult.accepted(message_id if isinstance(message_id, str) else None, status=200)


def _audience_added(response: httpx.Response) -> SendResult:
    body = json_object(response)
    invalid = body.get("num_invalid_entries")
    if isinstance(invalid, int) and invalid > 0:
        return SendResult.failed("invalid_identifiers", status=response.status_code)
    session = body.get("session_id")
    return SendResult.accepted(
        str(session) if isinstance(session, str | int) else None, status=response.status_code
    )
