"""The overview's period picker: the last 7, 30 or 90 local days, or chosen days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from server_example.admin_filters import parse_period

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # still the 21st in New York
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("choice", "first"), [("7d", 15), ("30d", 23), ("90d", 24)])
def test_the_last_days_end_today_in_the_shops_zone(choice: str, first: int) -> None:
    period, errors = parse_period({"period": choice}, now=NOW, zone=NEW_YORK)
    assert errors == []
    assert period.last_day == date(2026, 11, 21)
    assert period.first_day.day == first
    assert period.days == int(choice[:-1])
    assert period.since == datetime(2026, period.first_day.month, first, tzinfo=NEW_YORK)
    assert period.until == datetime(2026, 11, 22, tzinfo=NEW_YORK)
    assert period.params() == {"period": choice}


def test_thirty_days_by_default() -> None:
    period, errors = parse_period({}, now=NOW, zone=UTC)
    assert errors == []
    assert (period.choice, period.first_day, period.last_day) == (
        "30d",
        date(2026, 10, 24),
        date(2026, 11, 22),
    )
    assert period.label == "Last 30 days (2026-10-24 to 2026-11-22)"


def test_chosen_days_are_whole_local_days() -> None:
    params = {"period": "custom", "from": "2026-03-07", "to": "2026-03-08"}
    period, errors = parse_period(params, now=NOW, zone=NEW_YORK)
    assert errors == []
    assert period.since == datetime(2026, 3, 7, 5, 0, tzinfo=UTC)
    assert period.until == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)  # clocks went forward
    assert period.params() == params
    assert period.label == "2026-03-07 to 2026-03-08"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"period": "1y"}, "The period must be 7d, 30d, 90d or custom."),
        ({"period": "custom"}, "Choose the first and the last day of the period."),
        ({"period": "custom", "from": "2026-01-02"}, "Choose the first and the last day"),
        ({"period": "custom", "from": "x", "to": "2026-01-02"}, "The first day is not a date"),
        ({"period": "custom", "from": "2026-02-02", "to": "2026-01-02"}, "The first day is after"),
        ({"period": "custom", "from": "2000-01-01", "to": "2026-01-02"}, "A period covers 3660"),
    ],
)
def test_a_period_that_cannot_be_used_falls_back_to_thirty_days(
    params: dict[str, str], problem: str
) -> None:
    period, errors = parse_period(params, now=NOW, zone=UTC)
    assert len(errors) == 1
    assert errors[0].startswith(problem)
    assert (period.choice, period.days) == ("30d", 30)
