"""Default consent per channel by the prospect's jurisdiction: a pure, documented table.

The consent ledger answers from events; when a prospect has no event on a channel, the
answer is the channel's *default*, and the right default depends on the law where the
prospect lives. This module holds that table and one function that reads it. The table
is a plain value: a shop replaces a row (or the whole table) with its own lawyer's
reading, and nothing else changes.

The shipped table, ``DEFAULT_JURISDICTIONS``, reads the rules as follows. It is a careful
default, not legal advice.

- **US and its territories**: email allowed (CAN-SPAM is opt-out); SMS needs express
  consent (TCPA).
- **Canada**: email allowed for six months after the checkout inquiry (CASL implied
  consent), then express consent; SMS needs express consent.
- **Any other country**: express consent on every channel.
- **Everywhere**: push needs the device's opt-in; Messenger and Instagram the platform's
  opt-in; the newsletter an express grant.

- **US, CAN-SPAM**: a commercial email needs no prior consent but must carry a working
  opt-out and the sender's postal address (``ShopSettings.postal_address``).
- **US, TCPA**: a marketing text to a mobile number needs the prospect's prior express
  written consent: an SMS consent event, never a default.
- **Canada, CASL**: an inquiry (here: starting a checkout) gives implied consent to
  commercial electronic messages for six months from the inquiry. CASL would cover a
  text message too, but Canadian carriers' short-code rules ask for an express opt-in,
  so SMS stays express.
- **Push** is only ever possible once the app or browser asked the operating system and
  the prospect accepted; that opt-in is the device registration, so the ledger default
  is ``False`` everywhere and a registered device records its own grant.
- **Messenger and Instagram** need the platform's own opt-in (the prospect messaged the
  page, or tapped "Send to Messenger"); again a grant event, never a default.
- **Other countries** (the UK's PECR soft opt-in, Australia's Spam Act, Brazil's LGPD,
  ...) differ too much for one guess, so the safe default is express consent on every
  channel. A shop that has checked a country adds a row.

A country that is missing or unknown uses the fallback row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

from cartback._types import Channel

__all__ = [
    "DEFAULT_JURISDICTIONS",
    "ConsentDefault",
    "JurisdictionTable",
    "Row",
    "consent_row",
    "default_consent",
]


@dataclass(frozen=True, slots=True)
class ConsentDefault:
    """What one channel defaults to in one jurisdiction, and why."""

    allowed: bool
    """Whether a prospect with no consent event on the channel may be contacted."""
    implied_months: int | None = None
    """When set, the default holds only from the inquiry (the cart's creation) until
    this many calendar months later, e.g. CASL's six; after that the channel needs an
    express grant."""
    basis: str = ""
    """The rule this default follows, for people reading the table (not for code)."""


Row = Mapping[Channel, ConsentDefault]
"""One jurisdiction's defaults, by channel."""

_EXPRESS: Final = ConsentDefault(False, basis="express consent needed")
_DEVICE: Final = ConsentDefault(False, basis="the device's own opt-in")
_PLATFORM: Final = ConsentDefault(False, basis="the platform's opt-in")


def consent_row(
    *,
    email: ConsentDefault = _EXPRESS,
    sms: ConsentDefault = _EXPRESS,
    push: ConsentDefault = _DEVICE,
    newsletter: ConsentDefault = _EXPRESS,
    messenger: ConsentDefault = _PLATFORM,
    instagram: ConsentDefault = _PLATFORM,
) -> Row:
    """A row of the table: every channel needs an express grant (push the device's,
    Messenger and Instagram the platform's) unless given otherwise."""
    row: dict[Channel, ConsentDefault] = {
        "email": email,
        "sms": sms,
        "push": push,
        "newsletter": newsletter,
        "messenger": messenger,
        "instagram": instagram,
    }
    return MappingProxyType(row)


@dataclass(frozen=True, slots=True)
class JurisdictionTable:
    """Default consent per channel, by ISO 3166-1 alpha-2 country, with a fallback row.

    Frozen: a table is configuration shared by every request; ``with_country`` builds a
    changed copy.
    """

    countries: Mapping[str, Row]
    """Rows by upper-case alpha-2 country code."""
    fallback: Row = field(default_factory=consent_row)
    """The row for a country not in ``countries``, or no country at all."""

    def row(self, country: str | None) -> Row:
        """The row that applies to ``country`` (any case), else the fallback."""
        if country:
            found = self.countries.get(country.upper())
            if found is not None:
                return found
        return self.fallback

    def with_country(self, country: str, row: Row) -> JurisdictionTable:
        """A copy of the table with ``row`` for ``country``, e.g.
        ``table.with_country("GB", consent_row(email=ConsentDefault(True)))``."""
        countries = dict(self.countries)
        countries[country.upper()] = row
        return JurisdictionTable(countries=MappingProxyType(countries), fallback=self.fallback)


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = moment.day
    while True:  # 31 August + 6 months is the last day of February
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


_US: Final = consent_row(email=ConsentDefault(True, basis="CAN-SPAM: opt-out"))
_CA: Final = consent_row(
    email=ConsentDefault(True, implied_months=6, basis="CASL: implied by the inquiry, 6 months")
)
_US_TERRITORIES: Final = ("US", "PR", "GU", "VI", "AS", "MP", "UM")

DEFAULT_JURISDICTIONS: Final = JurisdictionTable(
    countries=MappingProxyType({**dict.fromkeys(_US_TERRITORIES, _US), "CA": _CA})
)
"""The shipped table: the US (and its territories) and Canada, every other country on
the safe fallback. See the module documentation for the reading of each law."""


def default_consent(
    country: str | None,
    channel: Channel,
    *,
    inquiry_at: datetime | None,
    at: datetime,
    table: JurisdictionTable = DEFAULT_JURISDICTIONS,
) -> bool:
    """Whether a prospect in ``country`` with no consent event on ``channel`` may be
    contacted at ``at``.

    ``inquiry_at`` is when the prospect's inquiry began (the cart's ``created_at``); an
    implied default (CASL) holds from then for its months, and is ``False`` without an
    inquiry time.
    """
    rule = table.row(country).get(channel)
    if rule is None or not rule.allowed:
        return False
    if rule.implied_months is None:
        return True
    if inquiry_at is None:
        return False
    return inquiry_at <= at < _add_months(inquiry_at, rule.implied_months)
