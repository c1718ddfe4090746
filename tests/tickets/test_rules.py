"""Ticket rules: loaded from JSON, built in Python, refused with precise errors."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from cartback.tickets import (
    TicketRuleError,
    TicketRuleSet,
    call_prospect_rule,
    important_lead_rule,
    load_ticket_rules,
    repeated_abandonments_rule,
)

DOCUMENTED = """
{
  "version": 1,
  "rules": [
    {"id": "call-prospect", "kind": "call_prospect", "title": "Call this prospect",
     "priority": "high",
     "conditions": [{"type": "cart_value", "at_least": "200"}, {"type": "phone_present"}]},
    {"id": "repeated-abandonments", "kind": "check_repeated_abandonments",
     "title": "Check repeated abandonments",
     "conditions": [{"type": "abandonments", "at_least": 3, "within": "P30D"}],
     "dedupe": "prospect_period", "dedupe_period": "P30D"},
    {"id": "important-lead", "kind": "follow_up_lead", "title": "Follow up an important lead",
     "priority": "high",
     "conditions": [{"type": "any_of", "conditions": [
        {"type": "product_in", "product_ids": ["p_course"]},
        {"type": "form_in", "form_ids": ["f_vip"]}]}]}
  ]
}
"""


def test_the_documented_json_is_the_three_preset_rules() -> None:
    loaded = load_ticket_rules(DOCUMENTED)
    assert loaded == TicketRuleSet(
        rules=(
            call_prospect_rule(Decimal("200")),
            repeated_abandonments_rule(3, timedelta(days=30)),
            important_lead_rule(product_ids=["p_course"], form_ids=["f_vip"]),
        )
    )


def test_a_rule_set_round_trips_through_json() -> None:
    loaded = load_ticket_rules(DOCUMENTED)
    assert load_ticket_rules(loaded.model_dump_json()) == loaded
    assert load_ticket_rules(json.loads(DOCUMENTED)) == loaded


def test_rules_are_frozen() -> None:
    rule = call_prospect_rule(Decimal("100"))
    with pytest.raises(ValidationError):
        rule.title = "Something else"


def rule(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "custom",
        "kind": "custom",
        "title": "Look at this",
        "conditions": [{"type": "phone_present"}],
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("rules", "setting", "reason"),
    [
        ([rule(conditions=[{"type": "moon_phase"}])], "rules.0.conditions.0", "unknown_condition"),
        ([rule(conditions=[{"at_least": 3}])], "rules.0.conditions.0", "missing_condition_type"),
        ([rule(conditions=[])], "rules.0.conditions", "too_short"),
        (
            [rule(conditions=[{"type": "cart_value"}])],
            "rules.0.conditions.0.cart_value",
            "no_bound",
        ),
        (
            [rule(conditions=[{"type": "cart_value", "at_least": "50", "below": "50"}])],
            "rules.0.conditions.0.cart_value",
            "empty_range",
        ),
        (
            [rule(conditions=[{"type": "cart_value", "at_least": "-1"}])],
            "rules.0.conditions.0.cart_value.at_least",
            "greater_than_equal",
        ),
        (
            [rule(conditions=[{"type": "cart_value", "at_least": "1", "currency": "usd"}])],
            "rules.0.conditions.0.cart_value.currency",
            "invalid_value",
        ),
        (
            [rule(conditions=[{"type": "abandonments", "at_least": 2, "within": "PT0S"}])],
            "rules.0.conditions.0.abandonments.within",
            "period_out_of_range",
        ),
        (
            [rule(conditions=[{"type": "consent", "channel": "fax"}])],
            "rules.0.conditions.0.consent.channel",
            "unknown_value",
        ),
        (
            [rule(conditions=[{"type": "product_in", "product_ids": []}])],
            "rules.0.conditions.0.product_in.product_ids",
            "too_short",
        ),
        ([rule(dedupe="prospect_period")], "rules.0", "period_missing"),
        ([rule(dedupe_period="P1D")], "rules.0", "period_unused"),
        ([rule(dedupe="prospect_period", dedupe_period="PT1S")], "rules.0", "period_out_of_range"),
        ([rule(id="Has Spaces")], "rules.0.id", "invalid_value"),
        ([rule(kind="email_blast")], "rules.0.kind", "unknown_value"),
        ([rule(priority="asap")], "rules.0.priority", "unknown_value"),
        ([rule(title="")], "rules.0.title", "string_too_short"),
        ([rule(colour="red")], "rules.0.colour", "unknown_setting"),
        ([rule(), rule()], "rules", "duplicate_rule_id"),
    ],
)
def test_each_invalid_rule_is_named_with_a_stable_reason(
    rules: list[dict[str, Any]], setting: str, reason: str
) -> None:
    with pytest.raises(TicketRuleError) as caught:
        load_ticket_rules({"rules": rules})
    assert (caught.value.setting, caught.value.reason) == (setting, reason)


def test_text_that_is_not_json_is_refused() -> None:
    with pytest.raises(TicketRuleError) as caught:
        load_ticket_rules("{not json")
    assert caught.value.reason == "json_invalid"


def test_an_important_lead_rule_needs_a_product_or_a_form() -> None:
    with pytest.raises(TicketRuleError):
        important_lead_rule()
