"""Countries and the regions whose prospects are never captured.

All region data lives here, in one place. Country codes are ISO 3166-1 alpha-2.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Final, Literal

import pycountry

__all__ = [
    "EEA_MEMBER_STATES",
    "EU_MEMBER_STATES",
    "EU_SPECIAL_TERRITORIES",
    "REGIONS",
    "Region",
    "normalize_country",
    "read_country",
]

Region = Literal["EU", "EEA", "UK", "CH"]
"""A named group of countries a policy can exclude."""

EU_MEMBER_STATES: Final = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    }
)  # fmt: skip
"""The 27 member states of the European Union (since the UK left on 2020-01-31)."""

EU_SPECIAL_TERRITORIES: Final = frozenset({"AX", "GF", "GP", "MQ", "RE", "YT", "MF"})
"""Territories with their own ISO code that are part of the EU: Åland (FI) and the
French outermost regions. A prospect there is in the EU, so they are excluded too."""

EEA_MEMBER_STATES: Final = EU_MEMBER_STATES | {"IS", "LI", "NO"}
"""The European Economic Area: the EU plus Iceland, Liechtenstein and Norway."""

REGIONS: Final[dict[Region, frozenset[str]]] = {
    "EU": EU_MEMBER_STATES | EU_SPECIAL_TERRITORIES,
    "EEA": EEA_MEMBER_STATES | EU_SPECIAL_TERRITORIES,
    "UK": frozenset({"GB", "GG", "JE", "IM"}),
    "CH": frozenset({"CH"}),
}
"""Each excludable region and the alpha-2 codes it covers."""

# Spellings people and payment forms use that ISO 3166 does not list.
_ALIASES: Final = {
    "uk": "GB",
    "el": "GR",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "holland": "NL",
    "the netherlands": "NL",
    "czech republic": "CZ",
    "america": "US",
    "united states of america": "US",
    "russia": "RU",
    "south korea": "KR",
    "north korea": "KP",
    "vietnam": "VN",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "taiwan": "TW",
}


def _fold(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).casefold()
    return " ".join(text.replace("_", " ").split())


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for country in pycountry.countries:
        code: str = country.alpha_2
        spellings = [code, country.alpha_3, country.numeric, str(int(country.numeric))]
        for attribute in ("name", "official_name", "common_name"):
            name = getattr(country, attribute, None)
            if isinstance(name, str):
                spellings.append(name)
        for spelling in spellings:
            lookup.setdefault(_fold(spelling), code)
    for alias, code in _ALIASES.items():
        lookup.setdefault(_fold(alias), code)
    return lookup


_LOOKUP: Final = _build_lookup()


def normalize_country(value: str | int | None) -> str | None:
    """The ISO 3166-1 alpha-2 code for ``value``, or ``None`` when it is unknown.

    Accepts alpha-2, alpha-3, numeric (``"040"``, ``"40"`` or ``40``) and English
    names (short, official or common) in any case and spacing.
    """
    if value is None or isinstance(value, bool):
        return None
    text = str(value)
    if len(text) > 100:
        return None
    return _lookup(text)


@lru_cache(maxsize=1024)
def _lookup(text: str) -> str | None:
    # A country's spelling is not personal data; real traffic repeats a few of them.
    return _LOOKUP.get(_fold(text))


def read_country(
    value: str,
    *,
    text: str | None = None,
    values: Mapping[str, str] | None = None,
    iso_numeric: bool = False,
) -> str | None:
    """The alpha-2 code a form's country input means, or ``None`` when nothing certain.

    ``value`` is what the input holds, ``text`` the visible text of the chosen option
    (a ``<select>``), ``values`` the form's own option values (a platform's numeric ids:
    PrestaShop's 8 is France), already read as alpha-2 codes. A bare number is read as
    ISO 3166-1 numeric only when ``iso_numeric`` says the form uses those; otherwise it
    means nothing by itself (PrestaShop's 8 is not ISO 008, Albania) and only the text
    can say which country it is. When both the value and the text name a country and
    they disagree, the answer is ``None``: when unsure, the prospect is not stored.
    """
    key = value.strip()
    by_value = values.get(key.casefold()) if values else None
    if by_value is None and not (key.isdigit() and not iso_numeric):
        by_value = normalize_country(key)
    by_text = None
    if text is not None and not text.strip().isdigit():
        by_text = normalize_country(text)
    if by_value is not None and by_text is not None and by_value != by_text:
        return None
    return by_value or by_text
