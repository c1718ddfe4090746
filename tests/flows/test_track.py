"""The typed track value that splits read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from cartback import InvalidInputError
from cartback.flows import track

AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=-8)))


def test_a_metric_is_named_and_normalised() -> None:
    value = track("ava@example.com", "metric", at=AT, name="  Profile completed ")
    assert value.name == "profile_completed"
    assert value.at == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    assert value.at.utcoffset() == timedelta(0)


def test_a_purchase_carries_its_amount() -> None:
    assert track("ava@example.com", "purchase", at=AT, value="80.50").value == Decimal("80.50")
    assert track("ava@example.com", "purchase", at=AT, value=3).value == Decimal(3)


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({"kind": "metric"}, "name", "missing"),
        ({"kind": "metric", "name": "x" * 65}, "name", "invalid_name"),
        ({"kind": "metric", "name": "<script>"}, "name", "invalid_name"),
        ({"kind": "purchase", "value": "lots"}, "value", "not_a_number"),
        ({"kind": "purchase", "value": "NaN"}, "value", "not_a_number"),
        ({"kind": "site_activity", "at": datetime(2026, 11, 23, 10, 0)}, "at", "naive_datetime"),
        ({"kind": "site_activity", "prospect": ""}, "prospect", "missing"),
    ],
)
def test_bad_values_are_refused_with_their_field(
    kwargs: dict[str, object], field: str, reason: str
) -> None:
    arguments: dict[str, object] = {"prospect": "ava@example.com", "at": AT, **kwargs}
    with pytest.raises(InvalidInputError) as caught:
        track(**arguments)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.reason) == (field, reason)
