"""The store contract for integrations, on every backend: webhook endpoints shared by
every worker, tickets created once per dedupe key (two workers at once included),
erased with their prospect, ``cart.recovered`` written with the order, releases that
use up no attempt, and the reads these need."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback import Cart, Cartback, CartRecovered, MessageRecord, Settlement, Store, TicketCreated
from cartback._dispatcher import Dispatcher
from cartback._ticket_pass import TICKETS_CONSUMER, TicketPass, create_tickets
from cartback.store import Changes, TicketQuery
from cartback.tickets import (
    TicketNotFoundError,
    TicketRuleSet,
    call_prospect_rule,
    evaluate_ticket_rules,
    repeated_abandonments_rule,
)
from tests.conftest import FakeClock
from tests.sdk._support import outbox, submission
from tests.store.conftest import Cells

CALL = TicketRuleSet(rules=(call_prospect_rule(Decimal("200")),))
REPEATED = TicketRuleSet(rules=(repeated_abandonments_rule(3, timedelta(days=30)),))


def capture(client: Cartback, **kwargs: Any) -> Cart:
    result = client.capture(submission(**kwargs))
    assert result.cart is not None, result.reasons
    return result.cart


def big_cart(client: Cartback, email: str = "big@example.com", **kwargs: Any) -> Cart:
    return capture(
        client,
        email=email,
        cart_value="250.00",
        currency="USD",
        fields={"phone": "+1 415 555 0100", "first_name": "Bo"},
        **kwargs,
    )


def sent(cart: Cart, message_id: str, at: Any, **extra: Any) -> MessageRecord:
    return MessageRecord(
        id=message_id,
        cart_id=cart.id,
        prospect=cart.contact.prospect_key or "",
        channel=extra.pop("channel", "email"),
        status=extra.pop("status", "sent"),
        at=at,
        **extra,
    )


# -- webhook endpoints ----------------------------------------------------------------


ENDPOINT = {
    "id": "crm",
    "url": "https://hooks.example.com/cartback",
    "secrets": ["whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"],
    "event_types": ["cart.captured", "ticket.created"],
}


def test_endpoints_are_shared_by_every_store_on_the_database(
    client: Cartback, open_again: Callable[[], Store], clock: FakeClock
) -> None:
    view = client.add_webhook_endpoint(ENDPOINT)
    assert view.enabled
    assert view.secret_hints == ("whsec_…VldY",)
    other = Cartback(open_again(), clock=clock)
    [seen] = other.webhook_endpoints()
    assert (seen.id, seen.url, seen.event_types) == (
        "crm",
        ENDPOINT["url"],
        ("cart.captured", "ticket.created"),
    )
    other.disable_webhook_endpoint("crm")
    assert client.webhook_endpoint("crm").disabled_reason == "manual"
    client.enable_webhook_endpoint("crm")
    assert other.webhook_endpoint("crm").enabled


def test_a_listing_never_holds_a_secret_in_clear(client: Cartback) -> None:
    client.add_webhook_endpoint(ENDPOINT)
    secret = ENDPOINT["secrets"][0]
    assert secret not in repr(client.webhook_endpoints())
    assert secret not in repr(client.webhook_endpoint("crm"))


def test_an_endpoint_is_an_ordered_consumer_of_its_types_from_when_it_was_added(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    capture(client, email="before@example.com")
    client.add_webhook_endpoint(ENDPOINT)
    cart = capture(client, email="after@example.com")
    capture(
        client, email="after@example.com", fields={"city": "Reno"}
    )  # cart.updated: not subscribed
    claimed = store.claim("webhook:crm", owner="w", now=clock.now)
    assert [(d.event.type, d.cart_id) for d in claimed] == [("cart.captured", cart.id)]
    assert client.webhook_endpoint("crm").pending == 1


def test_updating_an_endpoint_keeps_what_is_not_given_and_its_progress(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    client.add_webhook_endpoint(ENDPOINT)
    capture(client)
    store.claim("webhook:crm", owner="w", now=clock.now)
    view = client.update_webhook_endpoint("crm", {"event_types": ["cart.updated"]})
    assert view.event_types == ("cart.updated",)
    assert view.secret_hints == ("whsec_…VldY",)
    assert view.pending == 1
    capture(client, fields={"city": "Reno"})
    [again] = store.claim("webhook:crm", owner="w2", now=clock.advance(minutes=5))
    assert again.event.type == "cart.captured"  # the cart's next one waits for it
    store.settle("webhook:crm", [Settlement.done(again.seq)], now=clock.now)
    [later] = store.claim("webhook:crm", owner="w2", now=clock.now)
    assert later.event.type == "cart.updated"


def test_adding_an_endpoint_twice_is_refused_and_upsert_keeps_a_410(client: Cartback) -> None:
    from cartback import InvalidInputError

    client.add_webhook_endpoint(ENDPOINT)
    with pytest.raises(InvalidInputError) as refused:
        client.add_webhook_endpoint(ENDPOINT)
    assert refused.value.reason == "already_exists"
    client.disable_webhook_endpoint("crm", reason="gone")
    view = client.upsert_webhook_endpoint({**ENDPOINT, "url": "https://other.example.com/x"})
    assert (view.url, view.enabled, view.disabled_reason) == (
        "https://other.example.com/x",
        False,
        "gone",
    )


def test_removing_an_endpoint_removes_its_consumer_and_deliveries(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    from cartback.webhooks import EndpointNotFoundError

    client.add_webhook_endpoint(ENDPOINT)
    capture(client)
    store.claim("webhook:crm", owner="w", now=clock.now)
    assert client.remove_webhook_endpoint("crm")
    assert not client.remove_webhook_endpoint("crm")
    assert client.webhook_endpoints() == []
    with pytest.raises(EndpointNotFoundError):
        client.webhook_endpoint("crm")
    with pytest.raises(Exception, match="register"):
        store.claim("webhook:crm", owner="w", now=clock.now)


def test_a_released_delivery_is_due_again_without_using_an_attempt(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    store.register_consumer("c")
    capture(client)
    [first] = store.claim("c", owner="w", now=clock.now)
    assert first.attempts == 1
    store.settle("c", [Settlement.release(first.seq, clock.now, "shutdown")], now=clock.now)
    [again] = store.claim("c", owner="w", now=clock.now)
    assert (again.attempts, again.last_error) == (1, "shutdown")


# -- cart.recovered ---------------------------------------------------------------------


def recovered(store: Store) -> list[CartRecovered]:
    return [event for event in outbox(store) if isinstance(event, CartRecovered)]


def test_an_order_after_a_sent_message_writes_cart_recovered_crediting_it(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    cart = capture(client, cart_value="80.00", currency="EUR")
    clock.advance(hours=3)
    first = sent(cart, "msg_1", clock.now)
    clock.advance(hours=1)
    skipped = sent(cart, "msg_skip", clock.now, status="skipped")
    clock.advance(hours=1)
    last = sent(cart, "msg_2", clock.now, channel="sms")
    store.write(lambda tx: tx.apply(Changes(messages=(first, skipped, last))))
    clock.advance(hours=1)
    client.mark_ordered(email="alice@example.com", order_id="o-1", revenue="80.00")
    [event] = recovered(store)
    assert (event.cart_id, event.message_id, event.channel) == (cart.id, "msg_2", "sms")
    assert (event.order_id, event.revenue, event.currency) == ("o-1", Decimal("80.00"), "EUR")
    assert event.occurred_at == clock.now


def test_the_last_click_is_credited_to_the_message_its_link_came_from(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    cart = capture(client)
    email = sent(cart, "msg_e", clock.advance(hours=1), flow_id="f", step_id="s1")
    sms = sent(cart, "msg_s", clock.advance(hours=1), channel="sms", flow_id="f", step_id="s2")
    store.write(lambda tx: tx.apply(Changes(messages=(email, sms))))
    clicked = {"utm_medium": "email", "utm_campaign": "f", "utm_content": "s1"}
    from cartback._writes import record_click

    store.write(lambda tx: record_click(tx, cart.id, clock.advance(minutes=5), clicked))
    client.mark_ordered(email="alice@example.com")
    [event] = recovered(store)
    assert (event.message_id, event.channel) == ("msg_e", "email")


def test_a_click_without_a_message_still_counts_as_recovered(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    cart = capture(client)
    from cartback._writes import record_click

    store.write(lambda tx: record_click(tx, cart.id, clock.advance(minutes=5), {}))
    client.mark_ordered(email="alice@example.com")
    [event] = recovered(store)
    assert (event.cart_id, event.message_id, event.channel) == (cart.id, None, None)


def test_an_order_without_recovery_writes_no_cart_recovered(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    cart = capture(client)
    store.write(
        lambda tx: tx.apply(Changes(messages=(sent(cart, "m", clock.now, status="failed"),)))
    )
    client.mark_ordered(email="alice@example.com")
    assert recovered(store) == []
    assert [e.type for e in outbox(store)][-1] == "cart.ordered"


# -- tickets ----------------------------------------------------------------------------


def drafts_for(client: Cartback, cart: Cart, rules: TicketRuleSet = CALL) -> list[Any]:
    return evaluate_ticket_rules(rules, cart, now=client.now())


def test_a_ticket_is_created_once_per_dedupe_key(client: Cartback, store: Store) -> None:
    cart = big_cart(client)
    drafts = drafts_for(client, cart)
    assert len(drafts) == 1
    made = store.write(lambda tx: create_tickets(tx, drafts, client.now()))
    again = store.write(lambda tx: create_tickets(tx, drafts + drafts, client.now()))
    assert (len(made), again) == (1, [])
    [ticket] = client.tickets()
    assert ticket.dedupe_key == f"call-prospect:cart:{cart.id}"
    events = [e for e in outbox(store) if isinstance(e, TicketCreated)]
    assert [(e.ticket_id, e.rule, e.cart_id) for e in events] == [
        (ticket.id, "call-prospect", cart.id)
    ]


def test_two_workers_evaluating_at_once_create_one_ticket(
    client: Cartback, open_again: Callable[[], Store], clock: FakeClock
) -> None:
    carts = [big_cart(client, email=f"p{n}@example.com") for n in range(5)]
    passes = [
        TicketPass(Cartback(open_again(), clock=clock), CALL, owner=f"w{n}") for n in range(2)
    ]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(one: TicketPass) -> None:
        try:
            barrier.wait(5)
            for _ in range(3):
                one.evaluate([cart.id for cart in carts])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(one,)) for one in passes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    tickets = client.tickets(limit=100)
    assert sorted(t.draft.cart.cart_id for t in tickets) == sorted(c.id for c in carts)


def test_the_unique_key_backs_the_check(client: Cartback, store: Store) -> None:
    from cartback.tickets import open_ticket

    cart = big_cart(client)
    [draft] = drafts_for(client, cart)
    one = open_ticket(draft, ticket_id="tkt_one", at=client.now())
    two = open_ticket(draft, ticket_id="tkt_two", at=client.now())
    store.write(lambda tx: tx.apply(Changes(tickets=(one,))))
    with pytest.raises(Exception):  # noqa: B017 - each driver names it its own way
        store.write(lambda tx: tx.apply(Changes(tickets=(two,))))
    assert [t.id for t in client.tickets()] == ["tkt_one"]


def test_tickets_are_evaluated_on_capture_as_an_outbox_consumer(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    tickets = TicketPass(client, CALL, owner="t", recovery_url=lambda token: f"https://r/{token}")
    capture(client, email="small@example.com", cart_value="20.00")
    big = big_cart(client)
    assert tickets.on_capture().created == 1
    assert tickets.on_capture().created == 0
    assert store.consumer_stats(TICKETS_CONSUMER).pending == 0
    [ticket] = client.tickets()
    assert ticket.draft.cart.cart_id == big.id
    assert ticket.draft.contact.phone == "+14155550100"
    assert ticket.draft.recovery_link is None  # no LinkSigner on this client


def test_the_scheduled_pass_fires_repeated_abandonments_once_per_period(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    tickets = TicketPass(client, REPEATED, owner="t")
    for form in ("a", "b", "c"):
        capture(client, email="again@example.com", form_id=form)
        clock.advance(days=1)
    capture(client, email="once@example.com")
    report = tickets.scheduled()
    assert (report.evaluated, report.created) == (4, 1)
    assert tickets.scheduled().created == 0
    [ticket] = client.tickets()
    assert ticket.draft.history.total == 3
    assert ticket.draft.prospect == "again@example.com"


def test_staff_work_a_ticket_and_list_it_by_status_and_assignee(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    tickets = TicketPass(client, CALL, owner="t")
    big_cart(client)
    tickets.on_capture()
    [ticket] = client.tickets()
    client.assign_ticket(ticket.id, "maria")
    clock.advance(minutes=3)
    client.add_ticket_note(ticket.id, author="maria", text="Called, no answer")
    assert client.tickets(TicketQuery(status="assigned", assignee="maria"))[0].id == ticket.id
    assert client.tickets(TicketQuery(status="open")) == []
    closed = client.close_ticket(ticket.id, "unreachable")
    assert (closed.status, closed.resolution, closed.assignee) == ("closed", "unreachable", "maria")
    assert [n.text for n in client.ticket(ticket.id).notes] == ["Called, no answer"]
    assert store.count_tickets(TicketQuery(status="closed")) == 1
    with pytest.raises(TicketNotFoundError):
        client.ticket("tkt_missing")


def test_erasure_reaches_tickets(
    client: Cartback, store: Store, clock: FakeClock, cells: Cells
) -> None:
    tickets = TicketPass(client, CALL, owner="t")
    big_cart(client, email="erase.me@example.com", session_id="s-1")
    kept = big_cart(client, email="keep@example.com")
    tickets.on_capture()
    assert len(client.tickets()) == 2
    client.erase("erase.me@example.com")
    assert [t.draft.cart.cart_id for t in client.tickets()] == [kept.id]
    assert [hit for hit in cells() if "erase.me" in hit[2].lower()] == []
    assert store.count_tickets(TicketQuery()) == 1


def test_forgetting_a_session_removes_its_carts_tickets(client: Cartback) -> None:
    tickets = TicketPass(client, CALL, owner="t")
    big_cart(client, email="s@example.com", session_id="sess-9")
    tickets.on_capture()
    assert client.forget_session("sess-9").carts == 1
    assert client.tickets() == []


def test_open_cart_pages_walk_every_open_cart_once(client: Cartback, store: Store) -> None:
    ids = {capture(client, email=f"o{n}@example.com").id for n in range(7)}
    capture(client, email="ordered@example.com")
    client.mark_ordered(email="ordered@example.com")
    seen: list[str] = []
    after = None
    while page := store.open_cart_page(after=after, limit=3):
        seen += [cart.id for cart in page]
        after = page[-1].id
    assert sorted(seen) == sorted(ids)


def test_a_ticket_rule_on_a_flow_outcome_segment_reads_the_stored_enrolment(
    client: Cartback, dispatcher: Dispatcher, clock: FakeClock
) -> None:
    from cartback.tickets import load_ticket_rules

    rules = load_ticket_rules(
        {
            "rules": [
                {
                    "id": "in-flow-valuable",
                    "kind": "custom",
                    "title": "A valuable cart in a flow",
                    "conditions": [
                        {
                            "type": "segment",
                            "name": "valuable, in a flow",
                            "segment": {
                                "type": "all",
                                "segments": [
                                    {"type": "flow_outcome", "outcome": "in_flow"},
                                    {"type": "cart_value", "at_least": "200"},
                                ],
                            },
                        }
                    ],
                }
            ]
        }
    )
    tickets = TicketPass(client, rules, owner="t")
    big = big_cart(client)
    capture(client, email="small@example.com", cart_value="20.00")
    assert tickets.scheduled().created == 0  # not enrolled yet
    dispatcher.tick()
    assert tickets.scheduled().created == 1
    [ticket] = client.tickets()
    assert ticket.draft.cart.cart_id == big.id
    assert ticket.draft.reasons == ("in the segment valuable, in a flow",)
