"""The segment builder's form: what each group of inputs builds, the problems it reports,
and that every segment can be shown in the form and built again from it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback import CHANNELS
from cartback.reports import (
    AllSegment,
    AnySegment,
    CartValueSegment,
    ConsentSegment,
    FlowOutcomeSegment,
    FormSegment,
    NotSegment,
    ProductSegment,
    RepeatAbandonerSegment,
    Segment,
    segment_json,
)
from server_example.admin_segment_form import (
    FLOW_OUTCOMES,
    PERIODS,
    built,
    form_of,
    parse_segment_form,
)


def build(*negated: str, **params: str) -> tuple[Segment | None, list[str]]:
    _, segment, errors = parse_segment_form(params, list(negated))
    return segment, errors


def test_each_group_builds_its_condition() -> None:
    assert build(products="course") == (ProductSegment(product_id="course"), [])
    assert build(products=" a, b ,, ") == (
        AnySegment(segments=(ProductSegment(product_id="a"), ProductSegment(product_id="b"))),
        [],
    )
    assert build(forms="checkout") == (FormSegment(form_id="checkout"), [])
    assert build(repeat_at_least="2", repeat_within="90d") == (
        RepeatAbandonerSegment(at_least=2, within=timedelta(days=90)),
        [],
    )
    assert build(repeat_at_least="3", repeat_within="all") == (
        RepeatAbandonerSegment(at_least=3),
        [],
    )
    assert build(consent_channel="sms", consent_allowed="no", consent_basis="withdrawn") == (
        ConsentSegment(channel="sms", allowed=False, basis="withdrawn"),
        [],
    )
    assert build(value_at_least="100", value_currency="usd") == (
        CartValueSegment(at_least=Decimal("100"), currency="USD"),
        [],
    )
    assert build(outcome="recovered", outcome_flow="conversational") == (
        FlowOutcomeSegment(outcome="recovered", flow_id="conversational"),
        [],
    )


def test_conditions_combine_and_negate() -> None:
    both, errors = build("form", products="p1", forms="f1")
    assert errors == []
    assert both == AllSegment(
        segments=(ProductSegment(product_id="p1"), NotSegment(segment=FormSegment(form_id="f1")))
    )
    either, _ = build(combine="any", products="p1", consent_channel="push")
    assert either == AnySegment(
        segments=(ProductSegment(product_id="p1"), ConsentSegment(channel="push"))
    )
    assert either is not None
    assert either.describe() == "abandoned product 'p1' or may be contacted by push"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"repeat_at_least": "0"}, "Abandoned at least: a whole number from 1 to 10000."),
        ({"repeat_at_least": "two"}, "Abandoned at least: a whole number from 1 to 10000."),
        ({"repeat_at_least": "2", "repeat_within": "1y"}, "Choose a period"),
        ({"consent_channel": "fax"}, "Choose a consent channel"),
        ({"value_at_least": "ten"}, "Cart value from is not an amount"),
        ({"value_below": "-5"}, "Cart value below must be a positive amount."),
        ({"value_at_least": "50", "value_below": "10"}, "Cart value: at_least must be below"),
        ({"value_at_least": "5", "value_currency": "dollars"}, "Cart value: currency"),
        ({"outcome": "lost"}, "Choose a flow outcome"),
        ({"products": ",".join(str(n) for n in range(21))}, "Products: at most 20"),
        ({"json": '{"type": "product"}'}, "The segment JSON is not a segment: product.product_id"),
        ({"json": "{"}, "The segment JSON is not a segment"),
    ],
)
def test_problems_are_named(params: dict[str, str], problem: str) -> None:
    segment, errors = build(**params)
    assert segment is None
    assert len(errors) == 1
    assert errors[0].startswith(problem), errors


def test_an_empty_form_builds_nothing_and_complains_of_nothing() -> None:
    assert build() == (None, [])
    assert build(repeat_within="7d", consent_allowed="no", combine="any") == (None, [])


def test_the_json_wins_over_the_groups() -> None:
    segment = NotSegment(segment=ProductSegment(product_id="x"))
    assert build(json=segment_json(segment), products="other") == (segment, [])


_ids = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)
_leaves = st.one_of(
    st.builds(ProductSegment, product_id=_ids),
    st.builds(FormSegment, form_id=_ids),
    st.builds(
        RepeatAbandonerSegment,
        at_least=st.integers(1, 10_000),
        within=st.sampled_from([*PERIODS.values(), timedelta(hours=5)]),
    ),
    st.builds(
        ConsentSegment,
        channel=st.sampled_from(CHANNELS),
        allowed=st.booleans(),
        basis=st.sampled_from([None, "granted", "withdrawn", "default"]),
    ),
    st.builds(
        CartValueSegment,
        at_least=st.none() | st.decimals(0, 1000, places=2),
        below=st.just(Decimal("5000")),
        currency=st.sampled_from([None, "USD", "EUR"]),
    ),
    st.builds(
        FlowOutcomeSegment,
        outcome=st.sampled_from(FLOW_OUTCOMES),
        flow_id=st.none() | _ids,
    ),
)
_segments = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.builds(NotSegment, segment=inner),
        st.builds(AllSegment, segments=st.lists(inner, min_size=1, max_size=4).map(tuple)),
        st.builds(AnySegment, segments=st.lists(inner, min_size=1, max_size=4).map(tuple)),
    ),
    max_leaves=6,
)


def same(found: Segment | None, segment: Segment) -> bool:
    """Equal, but for the order of a top-level AND or OR."""
    if isinstance(found, AllSegment | AnySegment) and type(found) is type(segment):
        assert isinstance(segment, AllSegment | AnySegment)
        return sorted(map(segment_json, found.segments)) == sorted(
            map(segment_json, segment.segments)
        )
    return found == segment


@given(_segments)
def test_every_segment_is_shown_in_the_form_and_built_again(segment: Segment) -> None:
    form = form_of(segment)
    assert same(built(form), segment)
    if form.json:
        assert built(form) == segment  # exactly, through its JSON


def test_a_segment_of_the_forms_shape_fills_the_groups() -> None:
    segment = AllSegment(
        segments=(
            AnySegment(segments=(ProductSegment(product_id="a"), ProductSegment(product_id="b"))),
            NotSegment(segment=ConsentSegment(channel="sms", allowed=False)),
            RepeatAbandonerSegment(at_least=2, within=timedelta(days=30)),
        )
    )
    form = form_of(segment)
    assert form.json == ""
    assert (form.products, form.consent_channel, form.consent_allowed) == ("a, b", "sms", "no")
    assert form.negated == {"consent"}
    assert form.repeat_at_least == "2"
    nested = AnySegment(segments=(segment, FormSegment(form_id="f")))
    assert form_of(nested).json == segment_json(nested)  # too deep for the groups
