"""Evaluating ticket rules on carts: which tasks are drafted, once, with what in them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback import CHANNELS, InvalidInputError
from cartback._models import PaymentFailure
from cartback.tickets import (
    CartValueCondition,
    ConsentCondition,
    TicketRule,
    TicketRuleError,
    TicketRuleSet,
    call_prospect_rule,
    consent_by_channel,
    evaluate_ticket_rules,
    important_lead_rule,
    load_ticket_rules,
    repeated_abandonments_rule,
)
from tests.tickets.support import NOW, cart, consent_event

CALL = TicketRuleSet(rules=(call_prospect_rule(Decimal("200")),))
REPEATED = TicketRuleSet(rules=(repeated_abandonments_rule(3, timedelta(days=30)),))
IMPORTANT = TicketRuleSet(rules=(important_lead_rule(product_ids=["p_vip"], form_ids=["f_vip"]),))


def test_a_valuable_cart_with_a_phone_number_asks_for_a_call() -> None:
    [draft] = evaluate_ticket_rules(CALL, cart(), now=NOW)
    assert (draft.rule_id, draft.kind, draft.priority) == ("call-prospect", "call_prospect", "high")
    assert draft.title == "Call this prospect"
    assert draft.dedupe_key == "call-prospect:cart:c_1"
    assert draft.reasons == (
        "cart value 250.00 USD is at least 200",
        "a phone number was left",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"value": "199.99"},
        {"value": None},
        {"phone": None},
    ],
)
def test_no_call_without_the_value_or_the_phone(changes: dict[str, object]) -> None:
    assert evaluate_ticket_rules(CALL, cart(**changes), now=NOW) == []  # type: ignore[arg-type]


def test_the_threshold_is_inclusive_and_a_named_currency_must_match() -> None:
    assert evaluate_ticket_rules(CALL, cart(value="200"), now=NOW)
    in_euros = TicketRuleSet(rules=(call_prospect_rule(Decimal("200"), currency="EUR"),))
    assert evaluate_ticket_rules(in_euros, cart(currency="USD"), now=NOW) == []
    assert evaluate_ticket_rules(in_euros, cart(currency="EUR"), now=NOW)


def test_three_abandonments_in_thirty_days_ask_for_a_check() -> None:
    earlier = [cart("c_old1", age=timedelta(days=3)), cart("c_old2", age=timedelta(days=20))]
    [draft] = evaluate_ticket_rules(REPEATED, cart(), history=earlier, now=NOW)
    assert draft.kind == "check_repeated_abandonments"
    assert draft.reasons == ("3 abandoned carts in the last 30 days",)
    assert draft.history.total == 3
    assert [one.cart_id for one in draft.history.recent] == ["c_1", "c_old1", "c_old2"]


def test_carts_outside_the_window_or_of_someone_else_do_not_count() -> None:
    earlier = [
        cart("c_old1", age=timedelta(days=3)),
        cart("c_ancient", age=timedelta(days=31)),
        cart("c_other", email="someone@example.com", age=timedelta(days=1)),
        cart("c_1"),  # the cart itself, listed again by the store
    ]
    assert evaluate_ticket_rules(REPEATED, cart(), history=earlier, now=NOW) == []


def test_repeated_abandonments_fire_once_per_prospect_and_period() -> None:
    earlier = [cart("c_a", age=timedelta(days=2)), cart("c_b", age=timedelta(days=1))]
    [first] = evaluate_ticket_rules(REPEATED, cart("c_c"), history=earlier, now=NOW)
    [again] = evaluate_ticket_rules(
        REPEATED,
        cart("c_d"),
        history=[*earlier, cart("c_c")],
        now=NOW + timedelta(hours=1),
    )
    assert first.dedupe_key == again.dedupe_key
    assert "jane" not in first.dedupe_key
    assert first.dedupe_key.startswith("repeated-abandonments:prospect:")


period = timedelta(days=30)
epoch = datetime(1970, 1, 1, tzinfo=UTC)


PERIOD_US = period // timedelta(microseconds=1)


@given(st.integers(0, 10_000), st.integers(0, PERIOD_US - 1), st.integers(0, PERIOD_US - 1))
def test_one_period_window_gives_one_key_and_the_next_window_another(
    window: int, first: int, second: int
) -> None:
    start = epoch + period * window
    carts = [cart(f"c_{n}", age=timedelta(0)) for n in range(3)]

    def key_at(offset: int) -> str:
        moment = start + timedelta(microseconds=offset)
        moved = [one.model_copy(update={"created_at": moment}) for one in carts]
        [draft] = evaluate_ticket_rules(REPEATED, moved[0], history=moved[1:], now=moment)
        return draft.dedupe_key

    assert key_at(first) == key_at(second)
    assert key_at(first) != key_at(PERIOD_US + second)


def test_an_important_product_or_form_asks_for_a_follow_up() -> None:
    [by_product] = evaluate_ticket_rules(IMPORTANT, cart(product_id="p_vip"), now=NOW)
    [by_form] = evaluate_ticket_rules(IMPORTANT, cart(form_id="f_vip"), now=NOW)
    assert by_product.reasons == ("the product is on the rule's list",)
    assert by_form.reasons == ("the order form is on the rule's list",)
    assert evaluate_ticket_rules(IMPORTANT, cart(), now=NOW) == []


def test_a_custom_rule_can_require_consent_on_a_channel() -> None:
    rules = TicketRuleSet(
        rules=(
            TicketRule(
                id="sms-small-carts",
                kind="custom",
                title="Text this prospect",
                conditions=(
                    CartValueCondition(below=Decimal("100")),
                    ConsentCondition(channel="sms"),
                ),
            ),
        )
    )
    small = cart(value="60")
    granted = consent_by_channel([consent_event("sms", "granted", NOW - timedelta(hours=1))], NOW)
    withdrawn = consent_by_channel(
        [
            consent_event("sms", "granted", NOW - timedelta(hours=2)),
            consent_event("sms", "withdrawn", NOW - timedelta(hours=1)),
        ],
        NOW,
    )
    [draft] = evaluate_ticket_rules(rules, small, consent=granted, now=NOW)
    assert draft.reasons == ("cart value 60 USD is below 100", "sms contact is allowed")
    assert evaluate_ticket_rules(rules, small, consent=withdrawn, now=NOW) == []
    assert evaluate_ticket_rules(rules, small, now=NOW) == []  # sms needs a grant


def test_only_open_carts_draft_tickets_and_disabled_rules_draft_nothing() -> None:
    for status in ("ordered", "submitted"):
        assert evaluate_ticket_rules(CALL, cart(status=status), now=NOW) == []
    disabled = TicketRuleSet(
        rules=(call_prospect_rule(Decimal("1")).model_copy(update={"enabled": False}),)
    )
    assert evaluate_ticket_rules(disabled, cart(), now=NOW) == []


def test_a_draft_carries_what_a_salesperson_needs() -> None:
    failing = cart(
        payment_failures=(PaymentFailure(reason="card_declined", at=NOW - timedelta(minutes=5)),)
    )
    earlier = [cart("c_old", age=timedelta(days=9), status="ordered")]
    consent = consent_by_channel([consent_event("sms", "granted", NOW - timedelta(days=1))], NOW)
    [draft] = evaluate_ticket_rules(CALL, failing, history=earlier, consent=consent, now=NOW)

    assert draft.prospect == "jane@example.com"
    assert (draft.contact.email, draft.contact.phone, draft.contact.first_name) == (
        "jane@example.com",
        "+14155550123",
        "Jane",
    )
    assert draft.cart.cart_id == "c_1"
    assert (draft.cart.product_name, draft.cart.cart_value, draft.cart.currency) == (
        "The course",
        Decimal("250.00"),
        "USD",
    )
    assert (draft.cart.payment_failures, draft.cart.last_payment_failure) == (1, "card_declined")
    assert (draft.cart.step, draft.cart.last_field) == (2, "card_holder")
    assert (draft.history.total, draft.history.ordered) == (2, 1)
    assert (draft.history.first_at, draft.history.last_at) == (NOW - timedelta(days=9), NOW)
    assert [entry.channel for entry in draft.consent] == list(CHANNELS)
    by_channel = {entry.channel: entry for entry in draft.consent}
    assert (by_channel["sms"].allowed, by_channel["sms"].basis) == (True, "granted")
    assert by_channel["sms"].since == NOW - timedelta(days=1)
    assert (by_channel["email"].allowed, by_channel["email"].basis) == (True, "default")
    assert (by_channel["push"].allowed, by_channel["push"].since) == (False, None)
    assert draft.created_at == NOW
    assert draft.recovery_link is None
    linked = draft.with_recovery_link("https://shop.example.com/r/abc")
    assert linked.recovery_link == "https://shop.example.com/r/abc"
    assert linked.dedupe_key == draft.dedupe_key


def test_every_matching_rule_drafts_its_own_ticket_in_rule_order() -> None:
    rules = TicketRuleSet(rules=(*IMPORTANT.rules, *CALL.rules))
    drafts = evaluate_ticket_rules(rules, cart(product_id="p_vip"), now=NOW)
    assert [draft.rule_id for draft in drafts] == ["important-lead", "call-prospect"]
    assert len({draft.dedupe_key for draft in drafts}) == 2


def test_evaluating_again_drafts_the_same_keys() -> None:
    first = evaluate_ticket_rules(CALL, cart(), now=NOW)
    later = evaluate_ticket_rules(CALL, cart(), now=NOW + timedelta(days=2))
    assert [draft.dedupe_key for draft in first] == [draft.dedupe_key for draft in later]


def test_the_cart_itself_always_counts_even_if_stamped_after_now() -> None:
    ahead = cart("c_new", age=timedelta(seconds=-2))  # another worker's clock runs ahead
    earlier = [cart("c_a", age=timedelta(days=1)), cart("c_b", age=timedelta(days=2))]
    [draft] = evaluate_ticket_rules(REPEATED, ahead, history=earlier, now=NOW)
    assert draft.reasons == ("3 abandoned carts in the last 30 days",)


def test_a_cart_known_only_by_phone_still_counts_its_history() -> None:
    by_phone = [cart(f"c_{n}", email=None, age=timedelta(days=n)) for n in range(3)]
    [draft] = evaluate_ticket_rules(REPEATED, by_phone[0], history=by_phone[1:], now=NOW)
    assert draft.prospect == "tel:+14155550123"


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(InvalidInputError):
        evaluate_ticket_rules(CALL, cart(), now=datetime(2026, 11, 22, 12))


# --- segments as conditions (issue 14) ---------------------------------------------------


def segment_rule(segment: object, **extra: object) -> TicketRuleSet:
    return load_ticket_rules(
        {
            "rules": [
                {
                    "id": "segment",
                    "kind": "custom",
                    "title": "Look at this cart",
                    "conditions": [{"type": "segment", "segment": segment, **extra}],
                }
            ]
        }
    )


def test_a_segment_condition_drafts_for_the_carts_in_it_and_names_it() -> None:
    rules = segment_rule({"type": "product", "product_id": "p_course"}, name="Course leads")
    [draft] = evaluate_ticket_rules(rules, cart(), now=NOW)
    assert draft.reasons == ("in the segment Course leads",)
    assert evaluate_ticket_rules(rules, cart(product_id="p_other"), now=NOW) == []
    unnamed = segment_rule({"type": "form", "form_id": "f_main"})
    [draft] = evaluate_ticket_rules(unnamed, cart(), now=NOW)
    assert draft.reasons == ("in the segment: on order form 'f_main'",)


def test_a_segment_condition_reads_the_prospects_other_carts_and_consent() -> None:
    repeat = {"type": "repeat_abandoner", "at_least": 3, "within": "30d"}
    sms = {"type": "consent", "channel": "sms"}
    rules = segment_rule({"type": "all", "segments": [repeat, {"type": "not", "segment": sms}]})
    earlier = [cart("c_old1", age=timedelta(days=3)), cart("c_old2", age=timedelta(days=20))]
    assert evaluate_ticket_rules(rules, cart(), history=earlier, now=NOW)
    assert evaluate_ticket_rules(rules, cart(), history=earlier[:1], now=NOW) == []
    granted = consent_by_channel([consent_event("sms", "granted")], NOW)
    assert evaluate_ticket_rules(rules, cart(), history=earlier, consent=granted, now=NOW) == []


def test_a_flow_outcome_segment_reads_the_enrolment_it_is_given() -> None:
    from cartback.flows import conversational_flow, enrol

    rules = segment_rule({"type": "flow_outcome", "outcome": "in_flow"})
    assert rules.reads_segments
    assert evaluate_ticket_rules(rules, cart(), now=NOW) == []  # in no flow
    one = cart()
    enrolment = enrol(one, conversational_flow(), at=NOW)
    assert evaluate_ticket_rules(rules, one, now=NOW, enrolment=enrolment)
    assert not CALL.reads_segments


def test_a_bad_segment_in_a_rule_is_refused_naming_the_place() -> None:
    with pytest.raises(TicketRuleError) as caught:
        segment_rule({"type": "cart_value"})
    assert "segment" in caught.value.setting
