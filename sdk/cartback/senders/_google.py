"""OAuth 2.0 access tokens for FCM from a Google service account.

A service account JSON key holds ``client_email``, ``private_key`` (PEM),
``private_key_id``, ``token_uri`` and ``project_id``. The token is obtained by signing
an RS256 JWT assertion (``iss`` = the client email, ``scope``, ``aud`` = the token
URI, ``iat``, ``exp`` one hour later) and posting it to the token URI with
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``; the answer's
``access_token`` is used until shortly before its ``expires_in`` runs out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

import httpx

from cartback._clock import Clock, system_clock
from cartback._errors import ConfigurationError
from cartback.senders._errors import AccessTokenError
from cartback.senders._http import DEFAULT_TIMEOUT, json_object, make_client, transient_status
from cartback.senders._jwt import encode_jwt, load_private_key

__all__ = ["FCM_SCOPE", "GOOGLE_TOKEN_URI", "AccessTokenProvider", "ServiceAccountTokens"]

FCM_SCOPE: Final = "https://www.googleapis.com/auth/firebase.messaging"
"""The OAuth scope that lets a token send FCM messages."""

GOOGLE_TOKEN_URI: Final = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
"""Google's OAuth 2.0 token endpoint (a service account's usual ``token_uri``)."""

_GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ASSERTION_LIFETIME: Final = 3600


class AccessTokenProvider(Protocol):
    """Where ``FcmSender`` gets its bearer token: ``ServiceAccountTokens``, or any object
    of the shop's (e.g. one wrapping ``google-auth`` credentials)."""

    def access_token(self) -> str:
        """A valid access token; raises ``AccessTokenError`` when none can be had."""
        ...

    def invalidate(self) -> None:
        """Forget the cached token (FCM answered 401 to it)."""
        ...


class ServiceAccountTokens:
    """Access tokens for a Google service account, cached until ``margin`` before they
    expire. Safe to share between threads.

    ``info`` is the parsed service account JSON key. ``client`` is an ``httpx.Client``
    of the caller's; without one the provider makes its own (closed by ``close()``).
    """

    def __init__(
        self,
        info: Mapping[str, Any],
        *,
        scope: str = FCM_SCOPE,
        clock: Clock = system_clock,
        margin: timedelta = timedelta(minutes=5),
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        for name in ("client_email", "private_key"):
            if not isinstance(info.get(name), str) or not info[name]:
                raise ConfigurationError(
                    f"the service account has no {name}", setting=f"service_account.{name}"
                )
        self.client_email: str = info["client_email"]
        self.project_id: str | None = info.get("project_id") or None
        self.token_uri: str = info.get("token_uri") or GOOGLE_TOKEN_URI
        self._key_id: str | None = info.get("private_key_id") or None
        self._key: Any = load_private_key(
            info["private_key"], setting="service_account.private_key"
        )
        self._scope = scope
        self._clock = clock
        self._margin = margin
        self._owns_client = client is None
        self._client = client or make_client(timeout)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires: datetime | None = None

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> ServiceAccountTokens:
        """The provider for the service account JSON key file at ``path``."""
        info = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ConfigurationError("not a service account key", setting="service_account")
        return cls(info, **options)

    def access_token(self) -> str:
        """The cached token, or a new one from the token endpoint."""
        with self._lock:
            now = self._clock()
            if self._token is None or self._expires is None or now >= self._expires - self._margin:
                self._fetch(now)
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token; the next ``access_token`` fetches a new one."""
        with self._lock:
            self._token = None
            self._expires = None

    def close(self) -> None:
        """Close the HTTP client the provider made (not one it was given)."""
        if self._owns_client:
            self._client.close()

    def _assertion(self, now: datetime) -> str:
        issued = int(now.timestamp())
        claims = {
            "iss": self.client_email,
            "scope": self._scope,
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + _ASSERTION_LIFETIME,
        }
        return encode_jwt(claims, self._key, algorithm="RS256", key_id=self._key_id)

    def _fetch(self, now: datetime) -> None:
        form = {"grant_type": _GRANT_TYPE, "assertion": self._assertion(now)}
        try:
            response = self._client.post(self.token_uri, data=form)
        except httpx.TimeoutException:
            raise AccessTokenError(
                "the token endpoint timed out", reason="token_endpoint_timeout", transient=True
            ) from None
        except httpx.TransportError:
            raise AccessTokenError(
                "the token endpoint cannot be reached",
                reason="token_endpoint_unreachable",
                transient=True,
            ) from None
        if transient_status(response.status_code):
            raise AccessTokenError(
                "the token endpoint failed", reason="token_endpoint_unavailable", transient=True
            )
        body = json_object(response)
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if response.status_code != 200:
            raise AccessTokenError(
                "the token endpoint refused the service account",
                reason="token_rejected",
                transient=False,
            )
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise AccessTokenError(
                "the token endpoint answered without a token",
                reason="token_response_invalid",
                transient=True,
            )
        self._token = token
        self._expires = now + timedelta(seconds=float(lifetime))
