"""A webhook endpoint's configuration: where to send, how to sign, how hard to push.

An endpoint is a frozen model: the settings, the receiver and the dashboard build a new
one for every change, and a sender working from an old value keeps a consistent view of
it. ``parse_endpoint`` turns settings input into an endpoint or an
``EndpointConfigError`` naming the setting and a stable reason code.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args
from urllib.parse import urlsplit

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cartback._clock import ensure_utc
from cartback.webhooks._addresses import IPNetwork, parse_ip_literal, refused_class
from cartback.webhooks._errors import EndpointConfigError

__all__ = [
    "WEBHOOK_EVENT_TYPES",
    "DisabledReason",
    "EndpointDisabled",
    "EndpointSecret",
    "WebhookEndpoint",
    "WebhookEventType",
    "parse_endpoint",
]

WebhookEventType = Literal[
    "cart.captured",
    "cart.updated",
    "cart.ordered",
    "cart.recovered",
    "consent.changed",
    "message.sent",
    "message.failed",
    "ticket.created",
]
"""The event types an endpoint may subscribe to: a cart captured or updated (the
"contact data entered on an order form" notification), ordered, or recovered (ordered
after a recovery message or link); a consent change; a recovery message sent or failed;
a sales ticket created."""

WEBHOOK_EVENT_TYPES: Final[tuple[WebhookEventType, ...]] = get_args(WebhookEventType)

DisabledReason = Literal["gone", "failing", "manual"]
"""Why an endpoint is disabled: it answered ``410 Gone``; every attempt failed for
days; or staff disabled it."""

_FROZEN: Final = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
_SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_MIN_SECRET_BYTES: Final = 24
_MAX_SECRET_BYTES: Final = 64
_MAX_SECRETS: Final = 5
_MAX_URL_LENGTH: Final = 2048
_HOST_LABEL: Final = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _fail(reason: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(reason, message)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail("naive_datetime", "must be timezone-aware")
    return ensure_utc(value, name="datetime")


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class EndpointSecret(BaseModel):
    """One signing secret of an endpoint. While a secret rotates, the endpoint holds the
    new one and the old one, and every delivery carries a signature made with each; the
    old one gets an ``active_until`` after which it no longer signs."""

    model_config = _FROZEN

    value: str = Field(repr=False)
    """``whsec_`` + base64 of 24 to 64 random bytes (Standard Webhooks symmetric keys)."""
    active_until: AwareDatetime | None = None
    """When this secret stops signing (UTC); ``None`` for the current secret."""

    @field_validator("value")
    @classmethod
    def _secret_format(cls, value: str) -> str:
        if not value.startswith(_SECRET_PREFIX):
            raise _fail("secret_prefix", "must start with whsec_")
        try:
            key = base64.b64decode(value.removeprefix(_SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise _fail("secret_not_base64", "must be whsec_ followed by base64") from None
        if len(key) < _MIN_SECRET_BYTES:
            raise _fail("secret_too_short", "must decode to at least 24 bytes")
        if len(key) > _MAX_SECRET_BYTES:
            raise _fail("secret_too_long", "must decode to at most 64 bytes")
        return value

    def active(self, at: datetime) -> bool:
        """Whether this secret signs deliveries made at ``at``."""
        return self.active_until is None or at < self.active_until


def _secret_items(value: Any) -> Any:
    """Plain strings in a settings file stand for current secrets."""
    if isinstance(value, list | tuple):
        return tuple({"value": item} if isinstance(item, str) else item for item in value)
    return value


class EndpointDisabled(BaseModel):
    """Why and since when an endpoint receives nothing."""

    model_config = _FROZEN

    reason: DisabledReason
    """``gone`` (410), ``failing`` (failing for days) or ``manual``."""
    at: AwareDatetime
    """When it was disabled (UTC)."""


def _network(value: Any) -> IPNetwork:
    if not isinstance(value, str | ipaddress.IPv4Network | ipaddress.IPv6Network):
        raise _fail("invalid_network", "must be an IP network such as 10.1.2.0/24")
    try:
        return ipaddress.ip_network(value)
    except ValueError as exc:
        if "host bits set" in str(exc):
            raise _fail("host_bits_set", "has host bits set (write 10.1.2.0/24)") from None
        raise _fail("invalid_network", "must be an IP network such as 10.1.2.0/24") from None


def _host_name(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("invalid_host", "must be a host name")
    if parse_ip_literal(value) is not None:
        raise _fail("ip_in_allowed_hosts", "an address belongs in allowed_networks")
    try:
        ascii_name = value.strip().rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _fail("invalid_host", "must be a host name") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise _fail("invalid_host", "must be a host name (no wildcards, no port)")
    return ascii_name


class WebhookEndpoint(BaseModel):
    """One receiver of webhooks: its URL, secrets, subscriptions and limits."""

    model_config = _FROZEN

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    """Stable id: 1-64 letters, digits, ``_`` or ``-``."""
    url: str
    """Where deliveries are POSTed: ``https``; ``http`` only for an allow-listed host or
    network. No credentials and no fragment in the URL."""
    secrets: Annotated[
        tuple[EndpointSecret, ...],
        BeforeValidator(_secret_items),
        Field(min_length=1, max_length=_MAX_SECRETS),
    ]
    """Signing secrets (plain ``whsec_`` strings are accepted for current ones); at
    least one has no ``active_until``."""
    event_types: Annotated[frozenset[WebhookEventType], Field(min_length=1)]
    """The event types this endpoint receives."""
    disabled: EndpointDisabled | None = None
    """Set when the endpoint receives nothing; ``None`` while it is enabled."""
    max_in_flight: Annotated[int, Field(ge=1, le=32)] = 2
    """Deliveries to this endpoint in flight at once (its concurrency)."""
    rate_per_second: Annotated[float, Field(gt=0, le=1000)] = 10.0
    """Deliveries started per second, at most (a token bucket)."""
    burst: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Deliveries that may start at once after a quiet spell; default: one second's
    worth of ``rate_per_second``, at least 1."""
    connect_timeout: Annotated[float, Field(gt=0, le=30)] = 5.0
    """Seconds to open the TCP (and TLS) connection."""
    read_timeout: Annotated[float, Field(gt=0, le=120)] = 15.0
    """Seconds to wait for each read of the answer (Standard Webhooks recommends 15 to
    30 s for the receiver to answer); also used for each write."""
    allowed_networks: tuple[Annotated[IPNetwork, BeforeValidator(_network)], ...] = ()
    """Private or loopback networks this endpoint may reach (e.g. ``10.1.2.0/24``)."""
    allowed_hosts: tuple[Annotated[str, BeforeValidator(_host_name)], ...] = ()
    """Host names whose private addresses this endpoint may reach (never the cloud
    metadata address: allow-list that as a network if you truly mean it)."""

    @model_validator(mode="after")
    def _consistent(self) -> WebhookEndpoint:
        if all(secret.active_until is not None for secret in self.secrets):
            raise _fail("no_current_secret", "one secret must have no active_until")
        values = [secret.value for secret in self.secrets]
        if len(set(values)) != len(values):
            raise _fail("duplicate_secret", "the same secret is listed twice")
        _check_url(self.url, self.allowed_networks, self.allowed_hosts)
        return self

    @property
    def enabled(self) -> bool:
        """Whether deliveries may be made."""
        return self.disabled is None

    @property
    def effective_burst(self) -> int:
        """The token bucket's size: ``burst``, else one second of ``rate_per_second``."""
        return self.burst if self.burst is not None else max(1, int(self.rate_per_second))

    def subscribes(self, event_type: str) -> bool:
        """Whether events of ``event_type`` go to this endpoint."""
        return event_type in self.event_types

    def active_secrets(self, at: datetime) -> tuple[str, ...]:
        """The secrets that sign a delivery made at ``at``, the current one first."""
        ordered = sorted(self.secrets, key=lambda secret: secret.active_until is not None)
        return tuple(secret.value for secret in ordered if secret.active(at))

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` (a name, not an address) is on the allow-list."""
        return host.rstrip(".").lower() in self.allowed_hosts


def _check_url(url: str, networks: tuple[IPNetwork, ...], hosts: tuple[str, ...]) -> None:
    """Refuse a URL that cannot be a safe webhook target (pydantic errors with codes)."""
    if len(url) > _MAX_URL_LENGTH:
        raise _fail("url_too_long", "must be at most 2048 characters")
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise _fail("invalid_url", "must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise _fail("unsupported_scheme", "must start with https://")
    if "@" in parts.netloc:
        raise _fail("credentials_in_url", "must not carry a user or password")
    if parts.fragment or url.endswith("#"):
        raise _fail("fragment_in_url", "must not have a #fragment")
    try:
        port = parts.port
    except ValueError:
        raise _fail("invalid_port", "has a port that is not 1-65535") from None
    if port == 0:
        raise _fail("invalid_port", "has a port that is not 1-65535")
    host = parts.hostname
    if not host:
        raise _fail("missing_host", "must name a host")
    literal = parse_ip_literal(host)
    if literal is not None:
        address, canonical = literal
        if not canonical:
            raise _fail("ambiguous_ip_literal", "writes an address in a non-standard form")
        if refused_class(address, allowed_networks=networks) is not None:
            raise _fail("refused_address", "is a private, loopback or reserved address")
        allow_listed = any(address in network for network in networks)
    else:
        try:
            name = _host_name(host)
        except PydanticCustomError:
            raise _fail("invalid_host", "has a host that is not a valid name") from None
        allow_listed = name in hosts
        if (name == "localhost" or name.endswith(".localhost")) and not allow_listed:
            raise _fail("refused_address", "is a private, loopback or reserved address")
    if parts.scheme == "http" and not allow_listed:
        raise _fail("http_not_allowed", "must use https (http only for allow-listed targets)")
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        raise _fail("invalid_url", "is not a URL the HTTP client accepts") from None


_REASONS: Final = {
    "extra_forbidden": "unknown_setting",
    "string_pattern_mismatch": "invalid_id",
    "literal_error": "unknown_value",
}

_MODEL_LEVEL_SETTINGS: Final = {
    "no_current_secret": "secrets",
    "duplicate_secret": "secrets",
}
"""Errors the whole-model check raises, by the setting they are about (the rest are
about the URL)."""


def parse_endpoint(data: Mapping[str, Any]) -> WebhookEndpoint:
    """An endpoint from settings input (a JSON object, a form), or an
    ``EndpointConfigError`` whose ``setting`` and ``reason`` say what is wrong.

    The message never repeats the input (a secret may be in it).
    """
    try:
        return WebhookEndpoint.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        reason = _REASONS.get(str(error["type"]), str(error["type"]))
        setting = ".".join(str(part) for part in error["loc"])
        if not setting:
            setting = _MODEL_LEVEL_SETTINGS.get(reason, "url")
        setting = setting.removesuffix(".value") if setting.startswith("secrets.") else setting
        raise EndpointConfigError(
            f"{setting}: {error['msg']}", setting=setting, reason=reason
        ) from None
