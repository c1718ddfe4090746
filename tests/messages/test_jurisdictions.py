"""Default consent per channel by jurisdiction: the shipped table and a shop's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartback._jurisdictions import (
    DEFAULT_JURISDICTIONS,
    ConsentDefault,
    consent_row,
    default_consent,
)
from cartback._types import CHANNELS

INQUIRY = datetime(2026, 8, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("country", "channel", "allowed"),
    [
        ("US", "email", True),  # CAN-SPAM: opt-out
        ("us", "email", True),
        ("PR", "email", True),
        ("US", "sms", False),  # TCPA: express consent
        ("US", "newsletter", False),
        ("CA", "email", True),  # CASL: implied by the inquiry
        ("CA", "sms", False),
        ("GB", "email", False),  # no row: the safe fallback
        ("BR", "email", False),
        (None, "email", False),
        ("", "email", False),
    ],
)
def test_the_shipped_table(country: str | None, channel: str, allowed: bool) -> None:
    at = INQUIRY + timedelta(hours=3)
    result = default_consent(country, channel, inquiry_at=INQUIRY, at=at)  # type: ignore[arg-type]
    assert result is allowed


def test_push_and_the_platforms_never_default_to_allowed() -> None:
    for country in ("US", "CA", "JP", None):
        for channel in ("push", "messenger", "instagram"):
            assert not default_consent(country, channel, inquiry_at=INQUIRY, at=INQUIRY)


def test_casl_implied_consent_lasts_six_calendar_months_from_the_inquiry() -> None:
    def allowed(at: datetime) -> bool:
        return default_consent("CA", "email", inquiry_at=INQUIRY, at=at)

    assert allowed(INQUIRY)
    assert allowed(datetime(2027, 2, 28, 11, 59, tzinfo=UTC))  # 31 August + 6 months
    assert not allowed(datetime(2027, 2, 28, 12, 0, tzinfo=UTC))
    assert not allowed(INQUIRY - timedelta(seconds=1))
    assert not default_consent("CA", "email", inquiry_at=None, at=INQUIRY)


def test_a_shop_adds_its_own_reading_of_a_country() -> None:
    table = DEFAULT_JURISDICTIONS.with_country(
        "gb", consent_row(email=ConsentDefault(True, implied_months=12, basis="PECR soft opt-in"))
    )
    assert default_consent("GB", "email", inquiry_at=INQUIRY, at=INQUIRY, table=table)
    assert not default_consent("GB", "sms", inquiry_at=INQUIRY, at=INQUIRY, table=table)
    assert not default_consent("GB", "email", inquiry_at=INQUIRY, at=INQUIRY)  # unchanged
    assert default_consent("US", "email", inquiry_at=INQUIRY, at=INQUIRY, table=table)


def test_every_row_covers_every_channel() -> None:
    rows = [*DEFAULT_JURISDICTIONS.countries.values(), DEFAULT_JURISDICTIONS.fallback]
    for row in rows:
        assert set(row) == set(CHANNELS)
