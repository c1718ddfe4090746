"""Incremental lift: the control group assignment, the intervals against published
values, the lift's arithmetic, and the rule for samples too small to judge."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback import InvalidInputError
from cartback.flows import AbSplitStep, Variant, choose_variant
from cartback.reports import (
    ControlTally,
    in_control_group,
    lift,
    newcombe_interval,
    wilson_interval,
)

# -- control group -----------------------------------------------------------------------


def test_assignment_is_deterministic_and_depends_on_flow_and_salt() -> None:
    prospects = [f"p{index}@example.com" for index in range(2000)]
    first = [in_control_group(p, "conversational", 0.2) for p in prospects]
    assert first == [in_control_group(p, "conversational", 0.2) for p in prospects]
    other_flow = [in_control_group(p, "multichannel", 0.2) for p in prospects]
    salted = [in_control_group(p, "conversational", 0.2, salt="2027") for p in prospects]
    assert first != other_flow
    assert first != salted


def test_assignment_follows_the_documented_hash() -> None:
    # SHA-256("control" US salt US flow US prospect), first 8 bytes big-endian, held out
    # when below share * 2**64. Written out here so that a change of the hash input is
    # caught: it would move prospects between the groups of a running experiment.
    def documented(prospect: str, flow: str, share: float, salt: str) -> bool:
        text = "\x1f".join(["control", salt, flow, prospect])
        point = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        return point < int(share * 2**64)

    for index in range(500):
        prospect = f"p{index}@example.com"
        for share, salt in ((0.1, ""), (0.3, "2027")):
            assert in_control_group(prospect, "conversational", share, salt) == documented(
                prospect, "conversational", share, salt
            )


def test_raising_the_share_only_adds_prospects() -> None:
    prospects = [f"p{index}@example.com" for index in range(3000)]
    small = {p for p in prospects if in_control_group(p, "f", 0.05)}
    large = {p for p in prospects if in_control_group(p, "f", 0.15)}
    assert small < large


def test_shares_of_zero_and_one_and_out_of_range() -> None:
    assert not in_control_group("p@example.com", "f", 0)
    assert in_control_group("p@example.com", "f", 1)
    for share in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidInputError) as error:
            in_control_group("p@example.com", "f", share)
        assert error.value.field == "share"


def test_being_held_out_says_nothing_about_the_variant() -> None:
    step = AbSplitStep(
        id="ab",
        variants=(Variant(name="A", weight=1, next="x"), Variant(name="B", weight=1, next="y")),
    )
    prospects = [f"p{index}@example.com" for index in range(4000)]
    held = [p for p in prospects if in_control_group(p, "f", 0.5)]
    share_a = sum(choose_variant(p, "f", step) == "A" for p in held) / len(held)
    assert 0.45 < share_a < 0.55


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([0.05, 0.1, 0.25, 0.5]), st.text(min_size=1, max_size=8))
def test_the_control_share_converges_to_the_setting(share: float, flow: str) -> None:
    # 20,000 prospects: the binomial standard deviation is at most 0.0035; 5 of them
    # is 0.018 at worst.
    count = 20_000
    held = sum(in_control_group(f"p{index}@example.com", flow, share) for index in range(count))
    assert abs(held / count - share) < 0.018


# -- intervals against published values -------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
    ],
)
def test_newcombe_interval_matches_the_published_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    interval = newcombe_interval(*counts)
    assert (round(interval.low, 4), round(interval.high, 4)) == expected


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3 (Wilson).
        ((81, 263), (0.2553, 0.3662)),
        ((15, 148), (0.0624, 0.1605)),
        ((0, 20), (0.0, 0.1611)),
        ((1, 29), (0.0061, 0.1718)),
    ],
)
def test_wilson_interval_matches_the_published_table(
    counts: tuple[int, int], expected: tuple[float, float]
) -> None:
    interval = wilson_interval(*counts)
    assert (round(interval.low, 4), round(interval.high, 4)) == expected


def test_a_higher_confidence_gives_a_wider_interval() -> None:
    assert newcombe_interval(90, 1000, 50, 1000, 0.99).width > newcombe_interval(
        90, 1000, 50, 1000, 0.95
    ).width > newcombe_interval(90, 1000, 50, 1000, 0.80).width  # fmt: skip


# -- the lift ---------------------------------------------------------------------------


def test_lift_with_a_control_group() -> None:
    # Treated: 90 of 1,000 ordered (9%), 4,500.00 of revenue -> 50.00 per order.
    # Control: 50 of 1,000 (5%). Lift: 4 points; relative 0.04 / 0.05 = 80%.
    # Incremental orders: 0.04 * 1,000 = 40; revenue added: 40 * 50.00 = 2,000.00.
    result = lift(90, 1000, 50, 1000, treated_revenue=Decimal("4500.00"))
    assert result.status == "ok"
    assert result.problems == ()
    assert (result.treated_rate, result.control_rate) == (0.09, 0.05)
    assert result.absolute == pytest.approx(0.04)
    assert result.relative == pytest.approx(0.8)
    assert result.incremental_conversions == pytest.approx(40)
    assert result.average_order_value == Decimal("50.00")
    assert result.incremental_revenue == Decimal("2000.00")
    interval = result.absolute_interval
    assert interval is not None
    # Newcombe: 0.09 - 0.05 with Wilson bounds (0.0736, 0.1095) and (0.0381, 0.0653).
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0177, 0.0627)
    assert result.significant is True
    conversions = result.incremental_conversions_interval
    assert conversions is not None
    assert conversions.low == pytest.approx(interval.low * 1000)
    revenue = result.incremental_revenue_interval
    assert revenue is not None
    # 17.70 orders * 50.00 = 885.24; 62.69 * 50.00 = 3,134.68.
    assert (revenue.low, revenue.high) == (Decimal("885.24"), Decimal("3134.68"))
    relative = result.relative_interval
    assert relative is not None
    # Katz: ln(1.8) +- 1.96 * sqrt(1/90 - 1/1000 + 1/50 - 1/1000) = 0.5878 +- 0.3355.
    assert (round(relative.low, 3), round(relative.high, 3)) == (0.288, 1.515)


def test_an_average_order_value_can_be_given_instead_of_revenue() -> None:
    result = lift(90, 1000, 50, 1000, average_order_value=Decimal("25.00"))
    assert result.incremental_revenue == Decimal("1000.00")
    with pytest.raises(InvalidInputError):
        lift(
            90,
            1000,
            50,
            1000,
            treated_revenue=Decimal("1"),
            average_order_value=Decimal("1"),
        )


def test_a_flow_that_adds_nothing_is_not_significant() -> None:
    result = lift(50, 1000, 10, 200)  # 5% and 5%
    assert result.absolute == 0
    assert result.significant is False
    assert result.relative_interval is not None
    assert 0 in result.relative_interval


def test_small_samples_get_point_estimates_and_no_interval() -> None:
    # 99 control carts is one short of the 100 each group needs.
    result = lift(40, 500, 4, 99)
    assert result.status == "too_small"
    assert result.problems == ("control_too_small",)
    assert result.absolute == pytest.approx(40 / 500 - 4 / 99)
    assert result.absolute_interval is None
    assert result.relative_interval is None
    assert result.incremental_revenue_interval is None
    assert result.significant is None
    # 9 conversions in all is one short of 10.
    assert lift(5, 200, 4, 200).problems == ("too_few_conversions",)
    assert lift(5, 200, 5, 200).status == "ok"
    # The thresholds are settings.
    assert lift(40, 500, 4, 99, min_group_size=50).status == "ok"


def test_without_a_control_group_or_treated_carts() -> None:
    result = lift(40, 500, 0, 0)
    assert result.status == "no_control"
    assert result.treated_rate == 0.08
    assert result.control_rate is None
    assert result.absolute is None
    assert lift(0, 0, 5, 200).status == "no_treated"


def test_a_control_group_without_orders_has_no_relative_lift() -> None:
    result = lift(30, 500, 0, 200)
    assert result.status == "ok"
    assert result.relative is None
    assert result.relative_interval is None
    assert result.absolute_interval is not None


@pytest.mark.parametrize(
    "counts",
    [(-1, 10, 0, 10), (11, 10, 0, 10), (1, 10, 5, 4), (1.5, 10, 0, 10)],
)
def test_impossible_counts_are_refused(counts: tuple[int, int, int, int]) -> None:
    with pytest.raises(InvalidInputError):
        lift(*counts)


def test_confidence_must_be_a_level() -> None:
    with pytest.raises(InvalidInputError) as error:
        lift(90, 1000, 50, 1000, confidence=95)
    assert error.value.field == "confidence"


def test_control_tally_gathers_the_counts_one_cart_at_a_time() -> None:
    tally = ControlTally()
    for index in range(1000):
        tally.add(in_control=False, converted=index < 90, revenue=Decimal("50.00"))
    for index in range(1000):
        tally.add(in_control=True, converted=index < 50, revenue=Decimal("70.00"))
    result = tally.lift()
    assert (result.treated_conversions, result.treated_total) == (90, 1000)
    assert (result.control_conversions, result.control_total) == (50, 1000)
    assert result.average_order_value == Decimal("50.00")  # treated orders only
    assert result.incremental_revenue == Decimal("2000.00")


# -- properties ---------------------------------------------------------------------------


@st.composite
def groups(draw: st.DrawFn) -> tuple[int, int, int, int]:
    treated = draw(st.integers(min_value=1, max_value=5000))
    control = draw(st.integers(min_value=1, max_value=5000))
    return (
        draw(st.integers(min_value=0, max_value=treated)),
        treated,
        draw(st.integers(min_value=0, max_value=control)),
        control,
    )


@settings(max_examples=400)
@given(groups(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_every_interval_holds_its_point_estimate(
    counts: tuple[int, int, int, int], confidence: float
) -> None:
    s_t, n_t, s_c, n_c = counts
    interval = newcombe_interval(s_t, n_t, s_c, n_c, confidence)
    assert -1 <= interval.low <= s_t / n_t - s_c / n_c <= interval.high <= 1
    wilson = wilson_interval(s_t, n_t, confidence)
    assert 0 <= wilson.low <= s_t / n_t <= wilson.high <= 1
    result = lift(*counts, confidence=confidence, min_group_size=1, min_conversions=0)
    assert result.absolute is not None
    assert result.absolute_interval is not None
    assert result.absolute in result.absolute_interval
    if result.relative is not None and result.relative_interval is not None:
        assert result.relative_interval.low <= result.relative + 1e-9
        assert result.relative <= result.relative_interval.high + 1e-9


@settings(max_examples=300)
@given(groups(), st.integers(min_value=2, max_value=20))
def test_the_interval_narrows_as_the_samples_grow(
    counts: tuple[int, int, int, int], factor: int
) -> None:
    s_t, n_t, s_c, n_c = counts
    small = newcombe_interval(s_t, n_t, s_c, n_c)
    large = newcombe_interval(s_t * factor, n_t * factor, s_c * factor, n_c * factor)
    assert large.width < small.width
