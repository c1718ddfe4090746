"""The prospect's time zone, for quiet hours and waits until a local time.

A country with one time zone (as the IANA database's ``zone.tab`` lists it) gives that
zone. A country with several (US, CA, AU, BR, MX, RU, ...) or an unknown country uses the
zone of the phone number's region (phonenumbers' ``timezone`` module), when the phone
is in E.164, maps to exactly one zone and (when the country is known) that zone is one
of the country's. Otherwise the shop's fallback zone is used.
"""

from __future__ import annotations

import importlib.resources
import zoneinfo
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Final

import phonenumbers
from phonenumbers import timezone as phone_timezone

from cartback._models import Contact

__all__ = ["country_time_zones", "prospect_time_zone", "resolve_time_zone"]

_UNKNOWN: Final = "Etc/Unknown"


def _read_zone_tab() -> str | None:
    for directory in zoneinfo.TZPATH:
        candidate = Path(directory) / "zone.tab"
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    try:  # the tzdata wheel, where the system has no zone database (Windows)
        resource = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab")
        return resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return None


@cache
def _zones_by_country() -> Mapping[str, tuple[str, ...]]:
    text = _read_zone_tab() or ""
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) >= 3:
            zones.setdefault(columns[0].upper(), []).append(columns[2])
    return {country: tuple(names) for country, names in zones.items()}


def country_time_zones(country: str) -> tuple[str, ...]:
    """The IANA zones of an ISO 3166-1 alpha-2 country (empty when unknown)."""
    return _zones_by_country().get(country.upper(), ())


@cache
def resolve_time_zone(name: str) -> zoneinfo.ZoneInfo:
    """``ZoneInfo(name)``, cached; raises ``zoneinfo.ZoneInfoNotFoundError``."""
    return zoneinfo.ZoneInfo(name)


def _phone_zones(phone: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    zones: tuple[str, ...] = phone_timezone.time_zones_for_number(number)
    return tuple(zone for zone in zones if zone != _UNKNOWN)


def prospect_time_zone(contact: Contact, *, fallback: str) -> str:
    """The IANA name of the prospect's zone (see the module's rules), else ``fallback``.

    Costs a phone-number parse only for countries with several zones; ``enrol`` calls
    it once and keeps the answer on the enrolment.
    """
    country = (contact.country or "").upper()
    zones = country_time_zones(country) if country else ()
    if len(zones) == 1:
        return zones[0]
    if contact.phone and contact.phone_e164:
        from_phone = _phone_zones(contact.phone)
        if len(from_phone) == 1 and (not zones or from_phone[0] in zones):
            return from_phone[0]
    return fallback
