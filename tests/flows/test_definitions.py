"""Flow definitions load from JSON or Python, round-trip, and every problem is reported
with its path and a stable reason."""

from __future__ import annotations

import copy
import json
from datetime import time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback import CartbackError, ConfigurationError
from cartback.flows import (
    SHIPPED_TEMPLATES,
    DynamicCoupon,
    ExitStep,
    Flow,
    FlowValidationError,
    SendStep,
    WaitStep,
    compile_flow,
    format_duration,
    load_flow,
    parse_duration,
    validate_flow,
)


def linear() -> dict[str, Any]:
    return {
        "id": "linear",
        "version": 1,
        "steps": [
            {"type": "wait", "id": "wait", "duration": "3h", "next": "email"},
            {
                "type": "send",
                "id": "email",
                "channel": "email",
                "template": "reminder",
                "next": "end",
            },
            {"type": "exit", "id": "end"},
        ],
    }


def problem(document: dict[str, Any], templates: Any = SHIPPED_TEMPLATES) -> FlowValidationError:
    with pytest.raises(FlowValidationError) as caught:
        load_flow(document, templates=templates)
    return caught.value


def with_step(index: int, **changes: Any) -> dict[str, Any]:
    document = linear()
    document["steps"][index].update(changes)
    return document


# -- loading and round trips ------------------------------------------------------------


def test_json_and_python_sources_load_the_same_flow() -> None:
    from_dict = load_flow(linear(), templates=SHIPPED_TEMPLATES)
    from_json = load_flow(json.dumps(linear()), templates=SHIPPED_TEMPLATES)
    from_bytes = load_flow(json.dumps(linear()).encode(), templates=SHIPPED_TEMPLATES)
    python = Flow(
        id="linear",
        version=1,
        steps=(
            WaitStep(id="wait", duration=timedelta(hours=3), next="email"),
            SendStep(id="email", channel="email", template="reminder", next="end"),
            ExitStep(id="end"),
        ),
    )
    assert from_dict == from_json == from_bytes == load_flow(python, templates=SHIPPED_TEMPLATES)
    assert from_dict.first_step == "wait"


def test_a_flow_round_trips_through_json() -> None:
    flow = load_flow(linear(), templates=SHIPPED_TEMPLATES)
    for text in (flow.model_dump_json(), flow.model_dump_json(exclude_none=True, indent=2)):
        assert load_flow(text, templates=SHIPPED_TEMPLATES) == flow
    assert json.loads(flow.model_dump_json())["steps"][0]["duration"] == "3h"


def test_waits_until_a_local_time_serialise_as_hours_and_minutes() -> None:
    document = with_step(0, duration=None, until="09:00")
    flow = load_flow(document, templates=None)
    step = flow.steps[0]
    assert isinstance(step, WaitStep)
    assert step.until == time(9, 0)
    assert json.loads(flow.model_dump_json())["steps"][0]["until"] == "09:00"


def test_an_explicit_start_step_is_used() -> None:
    document = linear()
    document["steps"].insert(0, document["steps"].pop(2))  # exit listed first
    document["start"] = "wait"
    assert load_flow(document, templates=None).first_step == "wait"


# -- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3h", timedelta(hours=3)),
        ("1d", timedelta(days=1)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(days=14)),
        ("45s", timedelta(seconds=45)),
        ("0m", timedelta(0)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3", "h", "3x", "1h1d", "3 h", "1.5h", "-"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3000)))
def test_canonical_durations_parse_back(value: timedelta) -> None:
    whole = timedelta(seconds=int(value.total_seconds()))
    assert parse_duration(format_duration(whole)) == whole


def test_ninety_minutes_are_written_back_canonically() -> None:
    assert format_duration(parse_duration("90m")) == "1h30m"


# -- one test per problem -----------------------------------------------------------------


def test_unknown_channel() -> None:
    error = problem(with_step(1, channel="fax"))
    assert (error.path, error.reason) == ("steps[1].channel", "unknown_channel")


def test_unknown_template_against_the_given_set() -> None:
    error = problem(with_step(1, template="shouting"))
    assert (error.path, error.reason) == ("steps[1].template", "unknown_template")
    assert "shouting" in str(error)
    load_flow(with_step(1, template="shouting"), templates={"shouting"})
    load_flow(with_step(1, template="shouting"), templates=None)


def test_negative_wait() -> None:
    error = problem(with_step(0, duration="-3h"))
    assert (error.path, error.reason) == ("steps[0].duration", "negative_wait")
    python = Flow(
        id="linear",
        version=1,
        steps=(WaitStep.model_construct(id="wait", duration=timedelta(hours=-1), next="end"),),
    )
    with pytest.raises(FlowValidationError) as caught:
        load_flow(python.model_dump(), templates=None)
    assert caught.value.reason == "negative_wait"


def test_malformed_wait_duration_and_time() -> None:
    assert problem(with_step(0, duration="soon")).reason == "invalid_duration"
    assert problem(with_step(0, duration=3)).reason == "invalid_duration"
    error = problem(with_step(0, until="9am"))
    assert (error.path, error.reason) == ("steps[0].until", "invalid_time")


def test_a_wait_needs_a_duration_or_a_time() -> None:
    error = problem(with_step(0, duration=None))
    assert (error.path, error.reason) == ("steps[0]", "empty_wait")


def split(branches: list[dict[str, Any]]) -> dict[str, Any]:
    document = linear()
    document["steps"][0]["next"] = "split"
    document["steps"].append(
        {"type": "split", "id": "split", "branches": branches, "otherwise": "email"}
    )
    return document


def test_split_without_branches() -> None:
    error = problem(split([]))
    assert (error.path, error.reason) == ("steps[3].branches", "split_without_branches")


def test_ab_split_without_variants() -> None:
    document = linear()
    document["steps"][0]["next"] = "ab"
    document["steps"].append({"type": "ab_split", "id": "ab", "variants": []})
    error = problem(document)
    assert (error.path, error.reason) == ("steps[3].variants", "split_without_branches")


@pytest.mark.parametrize("weight", [0, -5])
def test_weights_must_be_positive(weight: int) -> None:
    document = linear()
    document["steps"][0]["next"] = "ab"
    document["steps"].append(
        {
            "type": "ab_split",
            "id": "ab",
            "variants": [
                {"name": "a", "weight": 1, "next": "email"},
                {"name": "b", "weight": weight, "next": "end"},
            ],
        }
    )
    error = problem(document)
    assert (error.path, error.reason) == ("steps[3].variants[1].weight", "weight_not_positive")


def test_variant_names_are_unique() -> None:
    document = linear()
    document["steps"][0]["next"] = "ab"
    document["steps"].append(
        {
            "type": "ab_split",
            "id": "ab",
            "variants": [
                {"name": "a", "weight": 1, "next": "email"},
                {"name": "a", "weight": 1, "next": "end"},
            ],
        }
    )
    assert problem(document).reason == "duplicate_variant"


def test_unreachable_step() -> None:
    document = linear()
    document["steps"].append(
        {"type": "send", "id": "orphan", "channel": "sms", "template": "sms_offer", "next": "end"}
    )
    error = problem(document)
    assert (error.path, error.reason) == ("steps[3]", "unreachable_step")
    assert "orphan" in str(error)


def test_push_step_with_a_dynamic_coupon() -> None:
    error = problem(with_step(1, channel="push", coupon={"type": "dynamic", "id": "incentive"}))
    assert (error.path, error.reason) == ("steps[1].coupon", "dynamic_coupon_on_push")
    # a static code may go in a push, a dynamic one by email
    load_flow(
        with_step(1, channel="push", coupon={"type": "static", "code": "SAVE10"}), templates=None
    )
    load_flow(with_step(1, coupon={"type": "dynamic", "id": "incentive"}), templates=None)


def test_cycle() -> None:
    document = with_step(1, next="wait")
    error = problem(document)
    assert error.reason == "cycle"
    assert error.path == "steps[0]"
    assert "wait -> email -> wait" in str(error)


def test_next_names_an_existing_step() -> None:
    error = problem(with_step(1, next="nowhere"))
    assert (error.path, error.reason) == ("steps[1].next", "unknown_step")
    document = linear()
    document["start"] = "nowhere"
    assert problem(document).path == "start"


def test_duplicate_step_ids() -> None:
    document = linear()
    document["steps"][2]["id"] = "email"
    error = problem(document)
    assert (error.path, error.reason) == ("steps[2].id", "duplicate_step")


def test_coupon_active_names_a_coupon_the_flow_sends() -> None:
    error = problem(split([{"when": {"type": "coupon_active", "coupon": "ghost"}, "next": "end"}]))
    assert (error.path, error.reason) == ("steps[3].branches[0].when.coupon", "unknown_coupon")


def test_nested_condition_paths_leave_out_the_union_tags() -> None:
    when = {"type": "not", "condition": {"type": "consent", "channel": "pager"}}
    error = problem(split([{"when": when, "next": "end"}]))
    assert (error.path, error.reason) == (
        "steps[3].branches[0].when.condition.channel",
        "unknown_channel",
    )


def test_unknown_step_type_unknown_field_and_missing_field() -> None:
    assert problem(with_step(0, type="sleep")).reason == "unknown_type"
    error = problem(with_step(0, colour="red"))
    assert (error.path, error.reason) == ("steps[0].colour", "unknown_field")
    document = linear()
    del document["steps"][1]["next"]
    error = problem(document)
    assert (error.path, error.reason) == ("steps[1].next", "missing")


def test_empty_flow_and_invalid_json() -> None:
    document = linear()
    document["steps"] = []
    assert problem(document).reason == "empty_flow"
    with pytest.raises(FlowValidationError) as caught:
        load_flow("{not json", templates=None)
    assert caught.value.reason == "invalid_json"


def test_every_problem_is_listed_in_document_order() -> None:
    document = linear()
    document["steps"][0]["duration"] = "-1h"
    document["steps"][1]["channel"] = "fax"
    error = problem(document)
    assert [(p.path, p.reason) for p in error.problems] == [
        ("steps[0].duration", "negative_wait"),
        ("steps[1].channel", "unknown_channel"),
    ]
    assert "and 1 more" in str(error)


def test_the_error_sits_in_the_cartback_tree() -> None:
    error = problem(with_step(1, channel="fax"))
    assert isinstance(error, ConfigurationError)
    assert isinstance(error, CartbackError)
    assert error.setting == error.path


def test_a_python_flow_with_a_broken_graph_is_refused_before_planning() -> None:
    flow = Flow(
        id="broken",
        version=1,
        steps=(SendStep(id="a", channel="email", template="reminder", next="a"),),
    )
    with pytest.raises(FlowValidationError, match="loop"):
        validate_flow(flow, templates=None)
    with pytest.raises(FlowValidationError):
        compile_flow(flow)


def test_a_flow_is_frozen() -> None:
    flow = load_flow(linear(), templates=None)
    with pytest.raises(ValueError, match="frozen"):
        flow.version = 2
    copied = copy.deepcopy(linear())
    copied["version"] = 2
    assert load_flow(copied, templates=None).version == 2


def test_dynamic_coupons_carry_their_validity() -> None:
    flow = load_flow(
        with_step(1, coupon={"type": "dynamic", "id": "incentive", "valid_for": "5d"}),
        templates=None,
    )
    step = flow.steps[1]
    assert isinstance(step, SendStep)
    assert step.coupon == DynamicCoupon(id="incentive", valid_for=timedelta(days=5))
    assert compile_flow(flow).coupons == {"incentive": (("email", timedelta(days=5)),)}
