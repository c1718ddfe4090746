"""The prospect's zone: the country's when it has one, the phone's region when it has
several, else the shop's fallback."""

from __future__ import annotations

import pytest

from cartback._models import Contact
from cartback.flows import country_time_zones, enrol, prospect_time_zone
from cartback.flows._guards import Guards
from tests.flows._support import make_cart
from tests.flows.test_guards import EMAIL_FLOW


def contact(country: str | None, phone: str | None = None) -> Contact:
    return Contact(
        email="ava@example.com", country=country, phone=phone, phone_e164=bool(phone) or None
    )


@pytest.mark.parametrize(
    ("country", "phone", "zone"),
    [
        ("GB", None, "Europe/London"),
        ("JP", "+14155550100", "Asia/Tokyo"),  # one zone: the country wins
        ("US", "+14155550100", "America/Los_Angeles"),
        ("US", "+12125550123", "America/New_York"),
        ("CA", "+16045550123", "America/Vancouver"),
        ("AU", "+61255501234", "Australia/Sydney"),
        ("BR", "+5521987654321", "America/Sao_Paulo"),
        (None, "+61255501234", "Australia/Sydney"),
        ("US", None, "Fallback/Zone"),  # several zones, no phone
        ("US", "+18005550100", "Fallback/Zone"),  # toll-free: every zone of +1
        ("AU", "+61412345678", "Fallback/Zone"),  # mobile: not tied to a region
        ("US", "+442079460000", "Fallback/Zone"),  # a London phone says nothing of the US
        (None, None, "Fallback/Zone"),
    ],
)
def test_prospect_time_zone(country: str | None, phone: str | None, zone: str) -> None:
    assert prospect_time_zone(contact(country, phone), fallback="Fallback/Zone") == zone


def test_a_phone_kept_as_entered_is_not_used() -> None:
    unverified = Contact(
        email="a@example.com", country="US", phone="+14155550100", phone_e164=False
    )
    assert prospect_time_zone(unverified, fallback="UTC") == "UTC"


def test_country_zones_come_from_the_zone_database() -> None:
    assert country_time_zones("gb") == ("Europe/London",)
    assert "America/Chicago" in country_time_zones("US")
    assert country_time_zones("ZZ") == ()


def test_enrol_resolves_the_zone_once_with_the_shops_fallback() -> None:
    guards = Guards(fallback_time_zone="America/New_York")
    enrolment = enrol(make_cart(phone=None), EMAIL_FLOW, guards=guards)
    assert enrolment.time_zone == "America/New_York"
    assert enrol(make_cart(), EMAIL_FLOW).time_zone == "America/Los_Angeles"
