"""One flow per product or form, or a default; enrolments pin their version."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cartback import InvalidInputError
from cartback.flows import (
    SHIPPED_TEMPLATES,
    Enrolment,
    Flow,
    FlowAssignments,
    FlowNotFoundError,
    FlowValidationError,
    choose_flow,
    conversational_flow,
    enrol,
    load_assignments,
    multichannel_flow,
    plan_next,
    push_flow,
)
from tests.flows._support import T0, facts, make_cart


def version_two() -> Flow:
    """The conversational flow, its wait shortened to one hour."""
    data = conversational_flow().model_dump(mode="json")
    data["version"] = 2
    data["steps"][0]["duration"] = "1h"
    return Flow.model_validate(data)


def assignments() -> FlowAssignments:
    return FlowAssignments(
        flows=(conversational_flow(), multichannel_flow(), push_flow()),
        default="conversational",
        by_form={"app-checkout": "push"},
        by_product={"sofa": "multichannel"},
    )


def test_product_then_form_then_default() -> None:
    chosen = assignments()
    assert (
        choose_flow(make_cart(product_id="sofa", form_id="app-checkout"), chosen)
        == multichannel_flow()
    )
    assert choose_flow(make_cart(product_id="lamp", form_id="app-checkout"), chosen) == push_flow()
    assert choose_flow(make_cart(product_id="lamp"), chosen) == conversational_flow()
    without_default = chosen.model_copy(update={"default": None})
    assert choose_flow(make_cart(), without_default) is None


def test_new_carts_enter_the_latest_version_and_enrolled_ones_keep_theirs() -> None:
    old = assignments()
    cart = make_cart()
    flow_v1 = choose_flow(cart, old)
    assert flow_v1 is not None
    enrolled = enrol(cart, flow_v1)
    assert (enrolled.flow_id, enrolled.flow_version) == ("conversational", 1)

    new = old.model_copy(update={"flows": (*old.flows, version_two())})
    later_cart = make_cart(cart_id="cart-2")
    latest = choose_flow(later_cart, new)
    assert latest is not None
    assert latest.version == 2

    pinned = new.pinned(enrolled)
    assert pinned.version == 1
    still_three_hours = plan_next(pinned, enrolled, facts(cart), now=T0)
    assert still_three_hours.at == T0 + timedelta(hours=3)
    newcomer = enrol(later_cart, latest)
    assert plan_next(latest, newcomer, facts(later_cart), now=T0).at == T0 + timedelta(hours=1)


def test_a_removed_version_is_reported_for_its_enrolments() -> None:
    enrolled = enrol(make_cart(), version_two())
    with pytest.raises(FlowNotFoundError) as caught:
        assignments().pinned(enrolled)
    assert (caught.value.flow_id, caught.value.version) == ("conversational", 2)
    with pytest.raises(FlowNotFoundError):
        assignments().latest("nope")


def test_assignments_round_trip_and_load_with_paths() -> None:
    chosen = assignments()
    assert load_assignments(chosen.model_dump_json(), templates=SHIPPED_TEMPLATES) == chosen
    broken = chosen.model_dump(mode="json")
    broken["flows"][1]["steps"][1]["channel"] = "fax"
    with pytest.raises(FlowValidationError) as caught:
        load_assignments(broken, templates=SHIPPED_TEMPLATES)
    assert (caught.value.path, caught.value.reason) == (
        "flows[1].steps[1].channel",
        "unknown_channel",
    )
    unknown = chosen.model_dump(mode="json")
    unknown["by_form"]["x"] = "ghost"
    with pytest.raises(FlowValidationError) as caught:
        load_assignments(unknown, templates=None)
    assert caught.value.reason == "unknown_flow"
    twice = chosen.model_dump(mode="json")
    twice["flows"].append(twice["flows"][0])
    with pytest.raises(FlowValidationError) as caught:
        load_assignments(twice, templates=None)
    assert caught.value.reason == "duplicate_flow"


def test_a_flow_with_template_problems_is_reported_under_its_index() -> None:
    data = assignments().model_dump(mode="json")
    data["flows"][0]["steps"][1]["template"] = "nope"
    with pytest.raises(FlowValidationError) as caught:
        load_assignments(data, templates=SHIPPED_TEMPLATES)
    assert caught.value.path == "flows[0].steps[1].template"


def test_enrolment_starts_at_the_first_step_from_the_capture() -> None:
    cart = make_cart(created=T0)
    enrolment = enrol(cart, conversational_flow())
    assert (enrolment.position, enrolment.since, enrolment.started_at) == ("wait_3h", T0, T0)
    later = enrol(cart, conversational_flow(), at=T0 + timedelta(minutes=5))
    assert later.since == T0 + timedelta(minutes=5)
    assert Enrolment.model_validate_json(enrolment.model_dump_json()) == enrolment


def test_a_cart_without_a_prospect_key_cannot_be_enrolled() -> None:
    with pytest.raises(InvalidInputError) as caught:
        enrol(make_cart(email=None, phone=None), conversational_flow())
    assert caught.value.reason == "contact_missing"


def test_enrolment_records_sends_skips_failures_and_exits() -> None:
    flow = conversational_flow()
    cart = make_cart()
    enrolment = enrol(cart, flow)
    send = plan_next(flow, enrolment, facts(cart), now=T0 + timedelta(hours=3))
    failed = enrolment.after(send, at=T0 + timedelta(hours=3), outcome="failed")
    assert failed.runs[-1].outcome == "failed"
    done = enrolment.after(send, at=T0 + timedelta(hours=3, minutes=1))
    assert (done.position, done.since) == ("end", T0 + timedelta(hours=3, minutes=1))
    assert [(run.step_id, run.outcome) for run in done.runs] == [("email", "sent")]
    end = plan_next(flow, done, facts(cart), now=T0 + timedelta(hours=4))
    finished = done.after(end, at=T0 + timedelta(hours=4))
    assert finished.finished
    assert finished.exit_reason == "completed"
    assert finished.after(end, at=T0 + timedelta(hours=5)) == finished
