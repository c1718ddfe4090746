"""Apple Push Notification service: HTTP/2 requests with token-based authentication.

``POST /3/device/{token}`` on ``api.push.apple.com`` (or ``api.sandbox.push.apple.com``
for development builds), with the ``ApnsNotification``'s headers (``apns-id``,
``apns-topic``, ``apns-push-type``, ``apns-priority``, ``apns-expiration``,
``apns-collapse-id``), ``authorization: bearer <provider token>`` and the JSON payload.
200 means accepted (``apns-id`` echoed back); an error answers ``{"reason": ...}``.

The provider token is an ES256 JWT (header ``kid`` = the key id, claims ``iss`` = the
team id and ``iat``) signed with the .p8 key; Apple rejects one older than an hour and
one renewed more often than every 20 minutes, so it is kept and renewed after 50.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx

from cartback._clock import Clock, system_clock
from cartback._errors import ConfigurationError
from cartback._types import MessageChannel
from cartback.messages import ApnsNotification
from cartback.senders._http import DEFAULT_TIMEOUT, by_status, exchange, json_object, make_client
from cartback.senders._http import retry_after as header_retry_after
from cartback.senders._jwt import encode_jwt, load_private_key
from cartback.senders._protocol import OutgoingMessage, wrong_message
from cartback.senders._result import SendResult
from cartback.senders._retry import RetryPolicy, run_with_retries

__all__ = ["APNS_HOSTS", "ApnsEnvironment", "ApnsProviderToken", "ApnsSender"]

ApnsEnvironment = Literal["production", "sandbox"]
"""``production`` for App Store and TestFlight builds, ``sandbox`` for development
builds (a token of one environment is a ``BadDeviceToken`` in the other)."""

APNS_HOSTS: Final[dict[ApnsEnvironment, str]] = {
    "production": "https://api.push.apple.com",
    "sandbox": "https://api.sandbox.push.apple.com",
}
"""The APNs host of each environment."""

_MIN_AGE: Final = timedelta(minutes=20)
_MAX_AGE: Final = timedelta(minutes=60)
_NAMESPACE: Final = uuid.UUID("9f0c1d2e-5b7a-4e61-8a3c-2d4b6f8e0a15")

_DEAD: Final = {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"}
_TRANSIENT: Final[dict[str, str]] = {
    "TooManyRequests": "rate_limited",
    "TooManyProviderTokenUpdates": "too_many_provider_token_updates",
    "IdleTimeout": "idle_timeout",
    "InternalServerError": "server_error",
    "ServiceUnavailable": "service_unavailable",
    "Shutdown": "service_unavailable",
}
_PERMANENT: Final = frozenset(
    {
        "BadCollapseId",
        "BadExpirationDate",
        "BadMessageId",
        "BadPriority",
        "BadTopic",
        "DuplicateHeaders",
        "InvalidPushType",
        "MissingDeviceToken",
        "MissingTopic",
        "PayloadEmpty",
        "TopicDisallowed",
        "BadCertificate",
        "BadCertificateEnvironment",
        "ExpiredProviderToken",
        "Forbidden",
        "InvalidProviderToken",
        "MissingProviderToken",
        "UnrelatedKeyIdInToken",
        "BadEnvironmentKeyInToken",
        "BadPath",
        "MethodNotAllowed",
        "PayloadTooLarge",
    }
)
_CAMEL: Final = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(reason: str) -> str:
    return _CAMEL.sub("_", reason).lower()


class ApnsProviderToken:
    """The provider token for one APNs signing key, minted on first use and renewed
    after ``refresh_after`` (between 20 and 60 minutes; 50 by default).

    ``key`` is the .p8 file's PEM text (an EC P-256 private key); ``key_id`` its
    10-character key id; ``team_id`` the Apple developer team id. Safe to share
    between threads.
    """

    def __init__(
        self,
        key: str | bytes,
        *,
        key_id: str,
        team_id: str,
        clock: Clock = system_clock,
        refresh_after: timedelta = timedelta(minutes=50),
    ) -> None:
        private = load_private_key(key, setting="apns.key")
        curve = getattr(getattr(private, "curve", None), "name", None)
        if curve != "secp256r1":
            raise ConfigurationError("an APNs key is an EC P-256 key", setting="apns.key")
        if not key_id or not team_id:
            raise ConfigurationError("APNs needs the key id and team id", setting="apns.key_id")
        if not _MIN_AGE <= refresh_after < _MAX_AGE:
            raise ConfigurationError(
                "refresh_after must be at least 20 and under 60 minutes",
                setting="apns.refresh_after",
            )
        self._key: Any = private
        self.key_id = key_id
        self.team_id = team_id
        self._clock = clock
        self._refresh_after = refresh_after
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued: datetime | None = None

    @classmethod
    def from_file(cls, path: str | Path, *, key_id: str, team_id: str) -> ApnsProviderToken:
        """The token for the .p8 key file at ``path``."""
        return cls(Path(path).read_bytes(), key_id=key_id, team_id=team_id)

    def token(self) -> str:
        """The current provider token (a new one when the last is ``refresh_after`` old)."""
        with self._lock:
            now = self._clock()
            if (
                self._token is None
                or self._issued is None
                or now - self._issued >= self._refresh_after
            ):
                self._mint(now)
            assert self._token is not None
            return self._token

    def renew(self) -> bool:
        """Mint a new token now, after APNs called the current one expired, unless the
        current one is under 20 minutes old (then the clock is wrong, and renewing
        would only earn ``TooManyProviderTokenUpdates``). Whether it renewed."""
        with self._lock:
            now = self._clock()
            if self._issued is not None and now - self._issued < _MIN_AGE:
                return False
            self._mint(now)
            return True

    def _mint(self, now: datetime) -> None:
        claims = {"iss": self.team_id, "iat": int(now.timestamp())}
        self._token = encode_jwt(claims, self._key, algorithm="ES256", key_id=self.key_id)
        self._issued = now


class ApnsSender:
    """Sends an ``ApnsNotification`` to one iOS device over HTTP/2.

    ``apns-id`` is the notification's (derived from the message id and the device
    token by the builder, or from the idempotency key when absent): it identifies the
    notification to Apple, and ``apns-collapse-id`` makes a repeated notification
    replace the earlier one on the device. ``BadDeviceToken``,
    ``DeviceTokenNotForTopic`` and 410 ``Unregistered`` fail with the device marked
    invalid; 429, 500 and 503 are retried; 403 authentication errors fail (a
    configuration error), an expired provider token is renewed once first.
    """

    def __init__(
        self,
        token: ApnsProviderToken,
        *,
        environment: ApnsEnvironment = "production",
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.token = token
        self.environment: ApnsEnvironment = environment
        self.host = APNS_HOSTS[environment]
        self._owns_client = client is None
        if client is None:
            try:
                client = make_client(timeout, http2=True)
            except ImportError:
                raise ConfigurationError(
                    "APNs needs HTTP/2: pip install 'cartback[push]'", setting="push"
                ) from None
        self._client = client
        self._retry = retry or RetryPolicy()

    @property
    def channel(self) -> MessageChannel:
        """``push``."""
        return "push"

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Send the notification; ``provider_id`` is the ``apns-id``."""
        if not isinstance(message, ApnsNotification):
            wrong_message("push", message)
        headers = {name.lower(): value for name, value in message.headers.items()}
        headers.setdefault(
            "apns-id", str(uuid.uuid5(_NAMESPACE, f"{idempotency_key}\n{message.device.token}"))
        )
        headers["content-type"] = "application/json"
        url = f"{self.host}/3/device/{quote(message.device.token, safe='')}"
        body = message.body()
        apns_id = headers["apns-id"]

        def build() -> httpx.Request:
            signed = {**headers, "authorization": f"bearer {self.token.token()}"}
            return self._client.build_request("POST", url, content=body, headers=signed)

        def classify(response: httpx.Response) -> SendResult:
            return _classify(response, apns_id, self._retry.now())

        def attempt() -> SendResult:
            result = exchange(self._client, build, classify)
            if result.error == "expired_provider_token" and self.token.renew():
                result = exchange(self._client, build, classify)
            return result

        return run_with_retries(attempt, self._retry)

    def close(self) -> None:
        """Close the HTTP client the sender made (not one it was given)."""
        if self._owns_client:
            self._client.close()


def _classify(response: httpx.Response, apns_id: str, now: datetime) -> SendResult:
    status = response.status_code
    if status == 200:
        return SendResult.accepted(response.headers.get("apns-id") or apns_id, status=200)
    reason = json_object(response).get("reason")
    reason = reason if isinstance(reason, str) else ""
    if status == 410 or reason in _DEAD:
        error = _snake(reason) if reason in _DEAD else "unregistered"
        return SendResult.failed(error, invalid_recipient=True, status=status)
    if reason in _TRANSIENT:
        return SendResult.retry(
            _TRANSIENT[reason], retry_after=header_retry_after(response, now), status=status
        )
    if reason in _PERMANENT:
        return SendResult.failed(_snake(reason), status=status)
    return by_status(response, now, "apns")
