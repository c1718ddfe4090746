"""Waits until a local time and quiet hours across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from cartback.flows import load_flow
from cartback.flows._clocktime import in_window, next_local_time, window_end
from tests.flows._support import make_cart, plan

LA = ZoneInfo("America/Los_Angeles")


def test_a_wait_until_nine_ends_at_nine_local_on_both_sides_of_a_dst_change() -> None:
    flow = load_flow(
        {
            "id": "morning",
            "version": 1,
            "steps": [
                {"type": "wait", "id": "wait", "duration": "12h", "until": "09:00", "next": "send"},
                {"type": "send", "id": "send", "channel": "email", "template": "a", "next": "end"},
                {"type": "exit", "id": "end"},
            ],
        },
        templates=None,
    )
    # captured Saturday 7 March 2026 at 15:00 PST; clocks go forward that night
    cart = make_cart(created=datetime(2026, 3, 7, 23, 0, tzinfo=UTC))
    result = plan(flow, cart, now=cart.created_at)
    assert result.at == datetime(2026, 3, 8, 16, 0, tzinfo=UTC)  # 09:00 PDT
    assert result.at.astimezone(LA).time() == time(9, 0)
    # captured Saturday 31 October 2026 at 15:00 PDT; clocks go back that night
    cart = make_cart(created=datetime(2026, 10, 31, 22, 0, tzinfo=UTC))
    result = plan(flow, cart, now=cart.created_at)
    assert result.at == datetime(2026, 11, 1, 17, 0, tzinfo=UTC)  # 09:00 PST


def test_a_local_time_skipped_by_the_change_maps_to_just_after_it() -> None:
    after = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 00:00 PST
    result = next_local_time(after, time(2, 30), LA)
    assert result == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)  # 03:30 PDT


def test_a_repeated_local_time_maps_to_its_first_occurrence() -> None:
    after = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 00:00 PDT
    assert next_local_time(after, time(1, 30), LA) == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def test_quiet_hours_end_at_eight_local_on_the_morning_of_a_change() -> None:
    night = datetime(2026, 3, 8, 11, 0, tzinfo=UTC)  # 04:00 PDT
    assert in_window(night, time(21, 0), time(8, 0), LA)
    assert window_end(night, time(8, 0), LA) == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    st.times(),
    st.sampled_from(["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "UTC"]),
)
def test_next_local_time_is_the_first_such_instant(after: datetime, at: time, zone: str) -> None:
    tz = ZoneInfo(zone)
    at = at.replace(second=0, microsecond=0)
    result = next_local_time(after, at, tz)
    assert result >= after
    assert result - after <= timedelta(days=1, hours=1)
    local = result.astimezone(tz)
    if local.time() != at:  # only when the time does not exist that day
        assert datetime.combine(local.date(), at, tzinfo=tz).astimezone(tz).time() != at


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    st.sampled_from(["America/Los_Angeles", "Europe/London", "Asia/Kolkata"]),
)
def test_the_end_of_quiet_hours_is_outside_them(instant: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    if in_window(instant, time(21, 0), time(8, 0), tz):
        end = window_end(instant, time(8, 0), tz)
        assert end > instant
        assert not in_window(end, time(21, 0), time(8, 0), tz)
        assert end - instant <= timedelta(hours=12)
