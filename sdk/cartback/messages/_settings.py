"""What a shop tells the message builders about itself: names, addresses, links, locale."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import BaseLoader
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from cartback._contact_values import normalize_email

__all__ = ["DEFAULT_COUNTRY_LOCALES", "SHIPPED_LOCALES", "DeepLinkTemplates", "ShopSettings"]

SHIPPED_LOCALES: Final = ("en", "fr")
"""The locales whose templates cartback ships."""

DEFAULT_COUNTRY_LOCALES: Final[Mapping[str, str]] = MappingProxyType(
    {
        # French-speaking countries and territories outside the EU; "CA-QC" is Quebec.
        "CA-QC": "fr",
        "MC": "fr",
        "SN": "fr",
        "CI": "fr",
        "ML": "fr",
        "BF": "fr",
        "NE": "fr",
        "TG": "fr",
        "BJ": "fr",
        "GA": "fr",
        "CG": "fr",
        "CD": "fr",
        "CM": "fr",
        "MG": "fr",
        "HT": "fr",
        "NC": "fr",
        "PF": "fr",
        "WF": "fr",
        "PM": "fr",
        "BL": "fr",
        "MA": "fr",
        "TN": "fr",
        "DZ": "fr",
    }
)
"""The prospect's country (or ``"CA-QC"`` for a Canadian in Quebec) to the locale of
their messages when the shop sets no ``locale``; every other country gets
``default_locale``."""

_FROZEN = ConfigDict(
    frozen=True, extra="forbid", use_attribute_docstrings=True, arbitrary_types_allowed=True
)


def _is_loopback(host: str | None) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


class DeepLinkTemplates(BaseModel):
    """How the shop's apps open a saved cart. ``{token}`` is replaced by the signed
    recovery token; UTM parameters are appended to the query (before an Android intent's
    ``#Intent;...;end``). ``{web_url}`` (optional) is replaced by the percent-encoded web
    recovery link, for an intent's ``S.browser_fallback_url``."""

    model_config = _FROZEN

    ios: str | None = None
    """iOS universal link (``https://shop.example/app/cart/{token}``) or custom scheme
    (``shop://cart/{token}``)."""
    android: str | None = None
    """Android app link (``https://...``) or intent URI
    (``intent://cart/{token}#Intent;scheme=shop;package=com.shop;end``)."""

    @field_validator("ios", "android")
    @classmethod
    def _has_token(cls, value: str | None) -> str | None:
        if value is not None:
            if "{token}" not in value:
                raise ValueError("a deep-link template must contain {token}")
            if not urlsplit(value).scheme:
                raise ValueError("a deep-link template must be an absolute URI")
        return value


class ShopSettings(BaseModel):
    """Everything the message builders know about the shop. Frozen: one value is shared by
    every message built for the shop; its Jinja2 environment is built once and cached
    on it."""

    model_config = _FROZEN

    shop_name: str = Field(min_length=1, max_length=80)
    """The shop's name as prospects know it."""
    sender_name: str = Field(min_length=1, max_length=80)
    """The person the messages come from, e.g. the founder (reference 001: first person)."""
    sender_email: str
    """The From address."""
    reply_to: str | None = None
    """Where replies go: a mailbox a person reads ("just reply to this email"). Defaults
    to ``sender_email``."""
    public_url: str
    """The receiver's public base URL; recovery links are ``{public_url}/r/{token}``,
    unsubscribe links ``{public_url}/u/{token}``. HTTPS, except on a loopback host."""
    form_urls: Mapping[str, str] = Field(default_factory=dict)
    """Order-form URLs by form id, as the receiver redirects to them. When not empty, a
    cart whose form is missing gets no message (``no_order_form``): its link would lead
    nowhere."""
    deep_links: DeepLinkTemplates = Field(default_factory=DeepLinkTemplates)
    """Deep-link templates of the shop's iOS and Android apps."""
    utm_source: str = Field(default="cartback", min_length=1, max_length=64)
    """``utm_source`` of every link."""
    open_tracking: bool = False
    """Put an invisible tracking image in each email, so opens are counted (off by default;
    mail apps that preload images, such as Apple Mail, make an open an upper bound)."""
    locale: str | None = None
    """The locale of every message (``"en"``, ``"fr"``, or one the shop's templates add);
    ``None`` picks it from the prospect's country through ``country_locales``."""
    default_locale: str = "en"
    """The locale when ``locale`` is ``None`` and the country maps to none."""
    country_locales: Mapping[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_COUNTRY_LOCALES)
    )
    """Country (or ``"CA-QC"``) to locale, read when ``locale`` is ``None``."""
    timezone: str = "UTC"
    """IANA time zone in which messages state dates (a coupon's expiry)."""
    postal_address: str | None = Field(default=None, max_length=300)
    """The shop's postal address, printed in every email's footer (CAN-SPAM requires one
    in commercial email to US recipients)."""
    footer: str | None = Field(default=None, max_length=500)
    """Extra footer text for emails (company registration, a line of thanks)."""
    social_proof: str | None = Field(default=None, max_length=300)
    """A sentence of social proof the shop stands behind ("4,200 bakers took this course,
    rated 4.8/5"); the ``social_proof`` email needs it."""
    templates: Path | BaseLoader | None = None
    """Template overrides: a directory or a Jinja2 loader searched before the shipped
    templates, with the same names (``en/email/conversational.html``, ...)."""
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    """The most SMS segments a text may take; longer texts are shortened, never the link."""
    push_sound: bool = False
    """Whether push notifications play the default sound (reference 003: optional)."""
    push_ttl: timedelta = timedelta(days=1)
    """How long APNs and FCM keep trying to deliver a push."""
    push_icon_url: str | None = None
    """HTTPS URL of the icon a browser shows with a web push."""
    apns_category: str | None = Field(default=None, max_length=64)
    """The notification category whose action buttons the iOS app registered (e.g.
    ``"CART_RECOVERY"`` with "Finish my order" and "Not now"); ``None`` shows no buttons."""
    ios_via_fcm: bool = False
    """Whether the iOS app's tokens are FCM registration tokens (the app uses Firebase)
    rather than APNs device tokens."""
    retargeting_audience_id: str | None = None
    """The Meta custom audience that the Instagram story step adds prospects to."""

    _environment: Any = PrivateAttr(default=None)

    @field_validator("sender_email", "reply_to")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalized = normalize_email(value)
        if normalized is None:
            raise ValueError("not a valid email address")
        return normalized

    @field_validator("shop_name", "sender_name", "postal_address", "footer", "social_proof")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValueError("no control characters (line breaks included)")
        return value

    @field_validator("public_url", "push_icon_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
            if parts.query or parts.fragment:
                raise ValueError("a base URL has no query or fragment")
            return value.rstrip("/")
        raise ValueError("must be an https:// URL (http:// only on a loopback host)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _frozen_mappings(self) -> ShopSettings:
        object.__setattr__(self, "form_urls", MappingProxyType(dict(self.form_urls)))
        object.__setattr__(self, "country_locales", MappingProxyType(dict(self.country_locales)))
        return self

    @property
    def reply_address(self) -> str:
        """Where replies go: ``reply_to``, else the sender's address."""
        return self.reply_to or self.sender_email
