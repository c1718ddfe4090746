"""Recovery and unsubscribe links: signed, expiring tokens and pre-filled form URLs.

A token is ``base64url(JSON claims) "." base64url(HMAC-SHA256)``. It carries a cart id,
never contact data, so a forwarded or logged link leaks nothing about the prospect.
UTM parameters ride in the link's query string, outside the token, for attribution.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cartback._errors import ConfigurationError, SignatureError, TokenExpiredError
from cartback._models import Cart
from cartback._types import CHANNELS, Channel

__all__ = [
    "UTM_PARAMETERS",
    "LinkClaims",
    "LinkKind",
    "LinkSigner",
    "prefill_url",
    "utm_parameters",
    "with_query",
]

LinkKind = Literal["recover", "unsubscribe", "open"]
"""What a link does: reopen the pre-filled order form, withdraw consent, or (an email's
invisible image) record that the email was opened."""

UTM_PARAMETERS: Final = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
"""The attribution parameters kept from a clicked link."""

_MAX_TOKEN_LENGTH: Final = 512


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a verified token says."""

    kind: LinkKind
    """``recover``, ``unsubscribe`` or ``open``."""
    cart_id: str
    """The cart the link was made for."""
    channel: Channel | None = None
    """For ``unsubscribe``: the channel to withdraw."""
    message_id: str | None = None
    """For ``open`` (and an ``unsubscribe`` link in a message): the message it is in."""
    expires_at: datetime | None = None
    """After this the token is refused; ``None`` never expires."""


class LinkSigner:
    """Makes and verifies link tokens with one secret key (at least 32 bytes).

    Recovery links expire (default 30 days); unsubscribe links do not, since an
    unsubscribe link in an old message must keep working.
    """

    def __init__(self, secret: bytes, *, recovery_ttl: timedelta = timedelta(days=30)) -> None:
        if len(secret) < 32:
            raise ConfigurationError(
                "the link secret must hold at least 32 bytes", setting="secret"
            )
        self._key = hmac.new(secret, b"cartback-links-v1", hashlib.sha256).digest()
        self.recovery_ttl = recovery_ttl

    def _sign(self, claims: bytes) -> str:
        return _b64(hmac.new(self._key, claims, hashlib.sha256).digest())

    def _token(self, claims: dict[str, object]) -> str:
        encoded = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return encoded + "." + self._sign(encoded.encode())

    def recovery_token(self, cart_id: str, *, now: datetime) -> str:
        """A token reopening ``cart_id``'s order form, valid for ``recovery_ttl``."""
        expires = int((now + self.recovery_ttl).timestamp())
        return self._token({"k": "recover", "c": cart_id, "e": expires})

    def unsubscribe_token(
        self, cart_id: str, channel: Channel, *, message_id: str | None = None
    ) -> str:
        """A token withdrawing consent on ``channel`` for the cart's prospect; from a
        message, naming it (the unsubscribe is then counted against that message)."""
        claims: dict[str, object] = {"k": "unsubscribe", "c": cart_id, "ch": channel}
        if message_id is not None:
            claims["m"] = message_id
        return self._token(claims)

    def open_token(self, cart_id: str, message_id: str) -> str:
        """A token for an email's tracking image: loading it records the open. It never
        expires (an email may be opened months later) and does nothing else."""
        return self._token({"k": "open", "c": cart_id, "m": message_id})

    def verify(self, token: str, *, now: datetime, kind: LinkKind) -> LinkClaims:
        """The claims of an authentic, unexpired token of ``kind``.

        Raises ``SignatureError`` when tampered or malformed, ``TokenExpiredError``
        when authentic but expired.
        """
        if len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise SignatureError("malformed link token")
        encoded, signature = token.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(encoded.encode()).encode()):
            raise SignatureError("link token signature does not match")
        try:
            claims = json.loads(_unb64(encoded))
        except (binascii.Error, ValueError):
            raise SignatureError("malformed link token") from None
        if not isinstance(claims, dict) or claims.get("k") != kind:
            raise SignatureError("link token is of another kind")
        cart_id, channel, expires = claims.get("c"), claims.get("ch"), claims.get("e")
        message_id = claims.get("m")
        if not isinstance(cart_id, str) or not isinstance(message_id, str | None):
            raise SignatureError("malformed link token")
        if channel is not None and channel not in CHANNELS:
            raise SignatureError("malformed link token")
        expires_at = None
        if expires is not None:
            if not isinstance(expires, int):
                raise SignatureError("malformed link token")
            expires_at = datetime.fromtimestamp(expires, UTC)
            if now >= expires_at:
                raise TokenExpiredError("link token has expired")
        return LinkClaims(
            kind=kind,
            cart_id=cart_id,
            channel=channel,
            message_id=message_id,
            expires_at=expires_at,
        )


_PREFILL_FIELDS: Final = (
    "email", "first_name", "last_name", "phone", "street", "house_number", "city", "state",
    "postal_code", "country",
)  # fmt: skip


def prefill_url(
    form_url: str,
    cart: Cart,
    *,
    utm: Mapping[str, str] | None = None,
    field_names: Mapping[str, str] | None = None,
) -> str:
    """``form_url`` with the cart's stored fields (and UTM parameters) in its query.

    ``field_names`` renames canonical fields to the form's own input names
    (e.g. ``{"email": "billing_email"}``). Parameters already in ``form_url`` stay.
    """
    names = field_names or {}
    parts = urlsplit(form_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    contact = cart.contact
    for field in _PREFILL_FIELDS:
        value = getattr(contact, field)
        if value:
            query.append((names.get(field, field), value))
    for name, value in contact.address_extra.items():
        query.append((names.get(name, name), value))
    for name in UTM_PARAMETERS:
        if utm and utm.get(name):
            query.append((name, utm[name]))
    return urlunsplit(parts._replace(query=urlencode(query)))


def utm_parameters(
    *, source: str, medium: str, campaign: str, content: str | None = None
) -> dict[str, str]:
    """The UTM parameters of a recovery link: ``utm_source``, ``utm_medium`` (the channel),
    ``utm_campaign`` (the flow) and, when given, ``utm_content`` (the step and variant).
    Empty values are left out."""
    pairs = {
        "utm_source": source,
        "utm_medium": medium,
        "utm_campaign": campaign,
        "utm_content": content or "",
    }
    return {name: value for name, value in pairs.items() if value}


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` appended to its query string; its path, existing query and
    fragment stay (so an Android ``intent://...#Intent;...;end`` URI keeps its fragment).
    Characters that RFC 3986 allows in a query value are kept as they are (``:``, ``/``)."""
    parts = urlsplit(url)
    extra = urlencode(list(params.items()), safe=":/")
    query = parts.query + "&" + extra if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))
