"""Counts by product, form, local hour and weekday; abandonment diagnostics; recovery
over time in daily and weekly buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cartback import InvalidInputError
from cartback.reports import (
    AbandonmentCounter,
    CartOutcome,
    CountRow,
    DiagnosticsCounter,
    RecoverySeries,
    bucket_starts,
    recovery_series,
)
from tests.reports._support import T0, at, cart

NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_counts_by_product_and_form() -> None:
    carts = [
        cart("a", product_id="p1", product_name="Course", form_id="checkout"),
        cart("b", product_id="p1", product_name="Course (2026)", created=at(hours=1),
             form_id="checkout", ordered_at=at(hours=2), revenue="49"),
        cart("c", product_id="p2", product_name="Book", form_id="upsell"),
        cart("d", product_id=None, product_name=None, form_id="checkout"),
    ]  # fmt: skip
    counts = AbandonmentCounter().add_all(carts).counts()
    assert (counts.carts, counts.ordered) == (4, 1)
    assert counts.by_product.rows == (
        CountRow("p1", "Course (2026)", 2, 1),  # the name as last captured
        CountRow("p2", "Book", 1, 0),
        CountRow(None, None, 1, 0),  # carts without a product id come after
    )
    assert counts.by_form.rows == (CountRow("checkout", None, 3, 1), CountRow("upsell", None, 1, 0))
    assert counts.by_product.others == 0


def test_hours_and_weekdays_in_the_shops_zone_across_a_dst_change() -> None:
    carts = [
        cart("a", created=T0),  # Mon 12:00 UTC = Mon 07:00 EST
        cart("b", created=utc(2026, 11, 2, 0)),  # Mon 00:00 UTC = Sun 19:00 EST
        # Daylight saving ends on Sun 1 Nov 2026 at 06:00 UTC: 01:30 happens twice.
        cart("c", created=utc(2026, 11, 1, 5, 30)),  # Sun 01:30 EDT
        cart("d", created=utc(2026, 11, 1, 6, 30)),  # Sun 01:30 EST
    ]
    counts = AbandonmentCounter(NEW_YORK).add_all(carts).counts()
    assert counts.time_zone == NEW_YORK
    hours = dict(enumerate(counts.by_hour))
    assert {hour: n for hour, n in hours.items() if n} == {1: 2, 7: 1, 19: 1}
    assert counts.by_weekday == (1, 0, 0, 0, 0, 0, 3)  # Monday first: a; Sunday: b c d
    in_utc = AbandonmentCounter().add_all(carts).counts()
    assert {h: n for h, n in enumerate(in_utc.by_hour) if n} == {0: 1, 5: 1, 6: 1, 12: 1}
    assert in_utc.by_weekday == (2, 0, 0, 0, 0, 0, 2)


def test_a_zone_can_be_a_tzinfo_and_an_unknown_name_is_refused() -> None:
    counts = AbandonmentCounter(ZoneInfo(NEW_YORK)).add_all([cart(created=T0)]).counts()
    assert counts.by_hour[7] == 1
    with pytest.raises(InvalidInputError) as error:
        AbandonmentCounter("Mars/Olympus")
    assert error.value.reason == "unknown_zone"


def test_made_up_product_ids_cannot_grow_the_tables_past_their_cap() -> None:
    carts = [cart(f"c{index:03d}", product_id=f"fake-{index}") for index in range(50)]
    counts = AbandonmentCounter(max_keys=10).add_all(carts).counts()
    assert len(counts.by_product.rows) == 10
    assert counts.by_product.others == 40
    assert sum(row.carts for row in counts.by_product.rows) + counts.by_product.others == 50


def test_diagnostics_per_form_and_product() -> None:
    carts = [
        cart("a", step=2, last_field="card_number", failures=(("card_declined", T0),)),
        cart("b", step=2, last_field="card_number",
             failures=(("authentication_timeout", T0), ("authentication_timeout", at(hours=1)))),
        cart("c", step=1, last_field="email"),
        cart("d", step=None, last_field=None, product_id="p2"),
        cart("e", step=3, last_field="cvc", ordered_at=at(hours=1), revenue="10"),
    ]  # fmt: skip
    report = DiagnosticsCounter().add_all(carts).report()
    (form,) = report.forms
    assert (form.dimension, form.key, form.carts) == ("form", "checkout", 4)  # e is ordered
    assert form.steps == ((1, 1), (2, 2), (None, 1))
    assert form.reached(1) == 3
    assert form.reached(2) == 2
    assert form.reached(3) == 0
    assert form.last_fields == (("card_number", 2), ("email", 1), (None, 1))
    assert form.payment_failures == (
        ("authentication_timeout", 2),
        ("card_declined", 1),
        ("insufficient_funds", 0),
        ("other", 0),
    )
    assert form.carts_with_failures == 2
    assert [(d.key, d.carts) for d in report.products] == [("p1", 3), ("p2", 1)]
    everything = DiagnosticsCounter(include_ordered=True).add_all(carts).report()
    assert everything.forms[0].carts == 5
    assert everything.forms[0].steps[-2] == (3, 1)


def test_made_up_field_names_are_capped() -> None:
    carts = [cart(f"c{index:03d}", last_field=f"field_{index}") for index in range(30)]
    (form,) = DiagnosticsCounter(max_fields=5).add_all(carts).report().forms
    assert len(form.last_fields) == 5
    assert form.other_fields == 25


# -- recovery over time -------------------------------------------------------------------


def test_daily_series_fills_empty_days_and_counts_by_abandonment_day() -> None:
    outcomes = [
        CartOutcome(utc(2026, 11, 2, 9), True, Decimal("49.00")),
        CartOutcome(utc(2026, 11, 2, 10), False),
        CartOutcome(utc(2026, 11, 2, 11), True, Decimal("51.00")),
        CartOutcome(utc(2026, 11, 4, 9), False),
        CartOutcome(utc(2026, 11, 9, 9), True),  # after the range
    ]
    series = recovery_series(outcomes, start=date(2026, 11, 1), end=date(2026, 11, 4))
    assert [point.start for point in series.points] == [
        date(2026, 11, 1),
        date(2026, 11, 2),
        date(2026, 11, 3),
        date(2026, 11, 4),
    ]
    assert [(p.abandoned, p.recovered, p.revenue) for p in series.points] == [
        (0, 0, 0),
        (3, 2, Decimal("100.00")),
        (0, 0, 0),
        (1, 0, 0),
    ]
    assert [p.rate.percent() for p in series.points] == ["n/a", "66.7%", "n/a", "0.0%"]
    assert series.outside == 1


def test_days_are_local_days() -> None:
    # 04:30 UTC on 2 Nov is 23:30 on 1 Nov in New York (EST): the day before.
    outcomes = [CartOutcome(utc(2026, 11, 2, 4, 30), True)]
    local = recovery_series(
        outcomes, start=date(2026, 11, 1), end=date(2026, 11, 2), time_zone=NEW_YORK
    )
    assert [(p.start.day, p.abandoned) for p in local.points] == [(1, 1), (2, 0)]
    in_utc = recovery_series(outcomes, start=date(2026, 11, 1), end=date(2026, 11, 2))
    assert [(p.start.day, p.abandoned) for p in in_utc.points] == [(1, 0), (2, 1)]


def test_weekly_series_starts_on_mondays() -> None:
    outcomes = [
        CartOutcome(utc(2026, 11, 1, 12), True),  # Sunday: the week of Mon 26 Oct
        CartOutcome(utc(2026, 11, 2, 12), False),  # Monday 2 Nov
        CartOutcome(utc(2026, 11, 8, 23), True),  # Sunday 8 Nov: still the week of 2 Nov
    ]
    series = recovery_series(
        outcomes, start=date(2026, 10, 28), end=date(2026, 11, 20), size="week"
    )
    assert [(p.start, p.abandoned, p.recovered) for p in series.points] == [
        (date(2026, 10, 26), 1, 1),
        (date(2026, 11, 2), 2, 1),
        (date(2026, 11, 9), 0, 0),
        (date(2026, 11, 16), 0, 0),
    ]


def test_a_series_from_grouped_counts_fills_the_gaps() -> None:
    counts = {
        date(2026, 11, 2): (3, 2, Decimal("100")),
        date(2026, 12, 1): (9, 9, Decimal("9")),
    }
    series = RecoverySeries.from_counts(counts, start=date(2026, 11, 1), end=date(2026, 11, 3))
    assert [(p.start.day, p.abandoned) for p in series.points] == [(1, 0), (2, 3), (3, 0)]
    assert series.outside == 9


def test_bucket_ranges_are_checked() -> None:
    assert bucket_starts(date(2026, 11, 4), date(2026, 11, 4), "week") == (date(2026, 11, 2),)
    with pytest.raises(InvalidInputError):
        bucket_starts(date(2026, 11, 4), date(2026, 11, 3), "day")
    with pytest.raises(InvalidInputError):
        bucket_starts(date(2000, 1, 1), date(2026, 1, 1), "day")
