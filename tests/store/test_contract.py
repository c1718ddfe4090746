"""The store contract, on every backend: saving and merging, retries, concurrency, consent,
orders, queries and paging, erasure, purge, the outbox's consumers and shared state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cartback import (
    Cart,
    Cartback,
    CartCaptured,
    CartNotFoundError,
    CartQuery,
    CartUpdated,
    ConsentChanged,
    InvalidInputError,
    Settlement,
    Store,
)
from cartback.store import Changes
from tests.conftest import FakeClock
from tests.sdk._support import outbox, submission
from tests.store.conftest import Cells


def capture(client: Cartback, **kwargs: Any) -> Cart:
    result = client.capture(submission(**kwargs))
    assert result.cart is not None, result.reasons
    return result.cart


def test_the_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_a_reopened_store_keeps_its_data(
    client: Cartback, open_again: Callable[[], Store], clock: FakeClock
) -> None:
    cart = capture(client, fields={"first_name": "Al"})
    again = Cartback(open_again(), clock=clock)
    assert again.get_cart(cart.id) == cart


# -- saving and merging --------------------------------------------------------------


def test_same_prospect_any_case_same_form_merges_into_one_open_cart(
    client: Cartback, clock: FakeClock
) -> None:
    first = client.capture(submission(email="Ann@Example.com", fields={"first_name": "Ann"}))
    clock.advance(minutes=3)
    second = client.capture(submission(email="ANN@EXAMPLE.COM", fields={"city": "Reno"}))
    assert (first.status, second.status) == ("stored", "updated")
    assert first.cart is not None
    assert second.cart is not None
    assert second.cart.id == first.cart.id
    assert second.cart.contact.first_name == "Ann"
    assert second.cart.contact.city == "Reno"
    assert second.cart.capture_count == 2
    assert second.cart.created_at == first.cart.created_at
    assert second.cart.updated_at == clock.now
    assert client.list_carts().total == 1


def test_newer_values_win_and_missing_ones_erase_nothing(client: Cartback) -> None:
    capture(client, fields={"first_name": "Ann", "city": "Reno", "address_2": "Apt 1"})
    cart = capture(
        client, fields={"first_name": "Anne", "city": "", "address_2": " ", "zip": "89501"}
    )
    assert cart.contact.first_name == "Anne"
    assert cart.contact.city == "Reno"
    assert cart.contact.address_extra == {"address_2": "Apt 1"}
    assert cart.contact.postal_code == "89501"


def test_a_different_form_opens_a_different_cart(client: Cartback) -> None:
    one = capture(client, form_id="a")
    two = capture(client, form_id="b")
    assert one.id != two.id
    assert client.list_carts(CartQuery(status="open")).total == 2


def test_a_capture_after_an_order_opens_a_new_cart(client: Cartback, clock: FakeClock) -> None:
    first = capture(client)
    client.mark_ordered(email="alice@example.com")
    clock.advance(days=1)
    second = client.capture(submission())
    assert second.status == "stored"
    assert second.cart is not None
    assert second.cart.id != first.id
    assert client.get_cart(first.id).status == "ordered"


def test_save_in_one_batch_sees_earlier_plans(client: Cartback) -> None:
    plans = [client.plan(submission(email=f"b{index}@example.com")) for index in range(3)]
    plans.append(client.plan(submission(email="b0@example.com", fields={"city": "X"})))
    outcomes = client.save(plans)
    assert [outcome.status for outcome in outcomes] == ["stored", "stored", "stored", "updated"]
    assert outcomes[3].cart.id == outcomes[0].cart.id
    assert client.get_cart(outcomes[0].cart.id).contact.city == "X"
    assert client.list_carts().total == 3


def test_an_ineligible_plan_cannot_be_saved_and_nothing_is_written(client: Cartback) -> None:
    good = client.plan(submission())
    refused = client.plan(submission(country="FR"))
    with pytest.raises(InvalidInputError) as raised:
        client.save([good, refused])
    assert raised.value.reason == "not_eligible"
    assert client.list_carts().total == 0


def another_prospects_copy(cart: Cart, cart_id: str) -> Cart:
    """``cart`` as a new cart ``cart_id`` of another prospect (b@x.io), not yet stored."""
    contact = cart.contact.model_copy(update={"email": "b@x.io"})
    return cart.model_copy(update={"id": cart_id, "contact": contact})


def test_a_write_that_fails_after_writing_leaves_nothing_and_the_store_goes_on(
    client: Cartback, store: Store
) -> None:
    kept = capture(client)
    other = another_prospects_copy(kept, "cart_other")

    def work(tx: Any) -> None:
        tx.apply(Changes(new_carts=(other,)))
        raise RuntimeError("a bug after the writes went out")

    with pytest.raises(RuntimeError):
        store.write(work)
    assert [cart.id for cart in client.list_carts().items] == [kept.id]
    assert capture(client, email="c@x.io").id != kept.id
    assert client.list_carts().total == 2


def test_a_write_the_database_refuses_leaves_nothing_and_the_store_goes_on(
    client: Cartback, store: Store
) -> None:
    kept = capture(client)
    first = another_prospects_copy(kept, "cart_first")
    # A second open cart of the same prospect on the same form: the database refuses it.
    twin = kept.model_copy(update={"id": "cart_twin"})

    def work(tx: Any) -> None:
        tx.apply(Changes(new_carts=(first,)))
        tx.apply(Changes(new_carts=(twin,)))

    with pytest.raises(Exception) as refused:
        store.write(work)
    assert type(refused.value).__name__ in {"IntegrityError", "UniqueViolation"}
    assert [cart.id for cart in client.list_carts().items] == [kept.id]
    assert capture(client, fields={"city": "Austin"}).id == kept.id
    assert client.get_cart(kept.id).contact.city == "Austin"


# -- retried requests (event_id) -------------------------------------------------------


def test_a_retried_capture_is_saved_once_and_answered_the_same(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    body = submission(event_id="evt-1", consent={"sms": True}, fields={"city": "Reno"})
    first = client.capture(body)
    clock.advance(seconds=2)
    again = client.capture(body)
    assert (first.status, again.status) == ("stored", "stored")
    assert first.cart is not None
    assert again.cart == first.cart
    assert [event.type for event in outbox(store)] == ["cart.captured", "consent.changed"]
    assert len(store.consent_events("alice@example.com")) == 1


def test_a_retry_in_the_same_batch_is_recognised(client: Cartback, store: Store) -> None:
    plan = client.plan(submission(event_id="evt-2", fields={"city": "Reno"}))
    outcomes = client.save([plan, plan])
    assert [(o.status, o.duplicate) for o in outcomes] == [("stored", False), ("stored", True)]
    assert [event.type for event in outbox(store)] == ["cart.captured"]


def test_a_retry_of_an_update_after_more_changes_writes_nothing(
    client: Cartback, store: Store
) -> None:
    capture(client)
    update = submission(event_id="evt-3", fields={"city": "Reno"})
    assert client.capture(update).status == "updated"
    later = capture(client, fields={"city": "Las Vegas"})
    again = client.capture(update)
    assert again.status == "updated"
    assert again.cart == later  # the cart as it is now: the retry changed nothing
    assert [event.type for event in outbox(store)].count("cart.updated") == 2


def test_different_event_ids_are_separate_captures(client: Cartback) -> None:
    client.capture(submission(event_id="evt-a", fields={"city": "Reno"}))
    second = client.capture(submission(event_id="evt-b", fields={"city": "Reno"}))
    assert second.status == "unchanged"


# -- concurrency -----------------------------------------------------------------------


def test_captures_from_four_threads_make_one_open_cart_per_prospect(
    store: Store, clock: FakeClock
) -> None:
    client = Cartback(store, clock=clock)
    prospects = [f"t{index}@example.com" for index in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(worker_id: int) -> None:
        try:
            barrier.wait()
            for round_ in range(4):
                for email in prospects:
                    client.capture(
                        submission(
                            email=email if worker_id % 2 else email.upper(),
                            fields={"first_name": f"w{worker_id}", "city": f"c{round_}"},
                        )
                    )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    carts = list(client.iter_carts(CartQuery(status="open")))
    assert sorted(cart.contact.prospect_key or "" for cart in carts) == sorted(prospects)


def test_two_stores_on_one_database_keep_one_open_cart(
    store: Store, open_again: Callable[[], Store], clock: FakeClock
) -> None:
    """Two receivers (each with its own store) capturing the same prospect at once."""
    one, two = Cartback(store, clock=clock), Cartback(open_again(), clock=clock)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(client: Cartback, tag: str) -> None:
        try:
            barrier.wait()
            for index in range(15):
                client.capture(submission(fields={"city": f"{tag}{index}"}))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(c, t)) for c, t in ((one, "a"), (two, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    page = one.list_carts()
    assert page.total == 1
    assert page.items[0].capture_count >= 2
    assert two.get_cart(page.items[0].id) == page.items[0]


# -- consent -----------------------------------------------------------------------------


def test_a_box_ticked_again_records_nothing_new(client: Cartback, store: Store) -> None:
    first = client.capture(submission(consent={"sms": True}))
    again = client.capture(submission(consent={"sms": True}, fields={"city": "Reno"}))
    assert first.stored
    assert (again.status, len(store.consent_events("alice@example.com"))) == ("updated", 1)


def test_api_consent_is_appended_and_decides(client: Cartback, clock: FakeClock) -> None:
    client.record_consent("alice@example.com", "sms", "granted")
    clock.advance(minutes=1)
    assert client.may_contact("alice@example.com", "sms")
    client.record_consent("Alice@Example.com", "sms", "withdrawn")
    assert not client.may_contact("alice@example.com", "sms")
    assert [e.action for e in client.store.consent_events("alice@example.com")] == [
        "granted",
        "withdrawn",
    ]


def test_many_ledgers_are_read_at_once_each_in_its_order(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    client.record_consent("alice@example.com", "sms", "granted")
    clock.advance(minutes=1)
    client.record_consent("bob@example.com", "email", "granted")
    clock.advance(minutes=1)
    client.record_consent("alice@example.com", "sms", "withdrawn")
    many = [f"p{n}@example.com" for n in range(520)]  # more than one statement's worth
    for prospect in many[::100]:
        client.record_consent(prospect, "push", "granted")
    wanted = ["alice@example.com", "bob@example.com", "nobody@example.com", *many]
    ledgers = store.consent_ledgers(wanted)
    expected = {p: store.consent_events(p) for p in wanted if store.consent_events(p)}
    assert ledgers == expected
    assert [e.action for e in ledgers["alice@example.com"]] == ["granted", "withdrawn"]
    assert set(ledgers) == {"alice@example.com", "bob@example.com", *many[::100]}
    assert store.consent_ledgers([]) == {}


def test_consent_events_name_their_ledger_entry(client: Cartback, store: Store) -> None:
    cart = capture(client, consent={"push": True})
    (recorded,) = store.consent_events("alice@example.com")
    changed = [event for event in outbox(store) if isinstance(event, ConsentChanged)]
    assert [(e.consent_id, e.channel, e.action, e.cart_id) for e in changed] == [
        (recorded.id, "push", "granted", cart.id)
    ]


# -- orders ------------------------------------------------------------------------------


def test_mark_ordered_by_email(client: Cartback, clock: FakeClock) -> None:
    one = capture(client, form_id="a")
    two = capture(client, form_id="b")
    other = capture(client, email="bob@example.com")
    clock.advance(hours=2)
    closed = client.mark_ordered(email="ALICE@example.com", order_id="o-9", revenue="49.90")
    assert {cart.id for cart in closed} == {one.id, two.id}
    for cart in closed:
        assert cart.status == "ordered"
        assert cart.order_id == "o-9"
        assert cart.revenue == Decimal("49.90")
        assert cart.ordered_at == clock.now
        assert client.get_cart(cart.id) == cart
    assert client.get_cart(other.id).status == "open"
    assert client.mark_ordered(email="alice@example.com") == []


def test_mark_ordered_by_email_and_form(client: Cartback) -> None:
    capture(client, form_id="a")
    kept = capture(client, form_id="b")
    (closed,) = client.mark_ordered(email="alice@example.com", form_id="a")
    assert closed.context.form_id == "a"
    assert client.get_cart(kept.id).status == "open"


def test_mark_ordered_by_session(client: Cartback, clock: FakeClock) -> None:
    mine = capture(client, session_id="sess-1")
    theirs = capture(client, email="bob@example.com", session_id="sess-2")
    closed = client.mark_ordered(session_id="sess-1", order_id="o-1", revenue=10)
    assert [cart.id for cart in closed] == [mine.id]
    assert closed[0].revenue == Decimal(10)
    assert closed[0].ordered_at == clock.now
    assert client.get_cart(theirs.id).status == "open"
    assert client.mark_ordered(session_id="sess-1") == []
    assert client.mark_ordered(session_id="unknown") == []


def test_a_late_capture_from_the_session_that_bought_opens_no_cart(
    client: Cartback, store: Store
) -> None:
    bought = capture(client, session_id="sess-1")
    open_elsewhere = capture(client, email="bob@example.com", session_id="sess-2")
    client.mark_ordered(session_id="sess-1", order_id="o-1")
    found = store.write(lambda tx: tx.ordered_in_sessions(["sess-1", "sess-2", "sess-x"]))
    assert {session: [c.id for c in carts] for session, carts in found.items()} == {
        "sess-1": [bought.id]
    }
    late = client.capture(submission(session_id="sess-1", fields={"city": "Austin"}))
    assert (late.status, late.cart and late.cart.id) == ("unchanged", bought.id)
    assert client.get_cart(open_elsewhere.id).status == "open"
    assert client.list_carts(CartQuery()).total == 2


def test_every_change_writes_its_typed_event_in_commit_order(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    context = {"product_id": "p-1", "cart_value": "12.5", "currency": "USD"}
    cart = capture(client, fields={"first_name": "Al"}, **context)
    clock.advance(minutes=1)
    capture(client, fields={"first_name": "Al"}, product_id="p-1")  # unchanged: no event
    clock.advance(minutes=1)
    capture(client, fields={"city": "Austin"})
    clock.advance(minutes=1)
    client.record_consent("alice@example.com", "sms", "granted")
    clock.advance(minutes=1)
    client.mark_ordered(email="alice@example.com", order_id="o-1", revenue=5)
    events = outbox(store)
    assert [event.type for event in events] == [
        "cart.captured",
        "cart.updated",
        "consent.changed",
        "cart.ordered",
    ]
    captured, updated = events[0], events[1]
    assert isinstance(captured, CartCaptured)
    assert (captured.cart_id, captured.form_id, captured.product_id) == (cart.id, "checkout", "p-1")
    assert captured.cart_value == Decimal("12.5")
    assert captured.fields == ("email", "first_name", "country")
    assert captured.occurred_at == cart.created_at
    assert isinstance(updated, CartUpdated)
    assert updated.changed == ("city",)
    assert len({event.event_id for event in events}) == 4


def test_events_carry_no_personal_data(client: Cartback, store: Store) -> None:
    fields = {"first_name": "Zed", "phone": "+1 415 555 2671", "street": "1 Secret Way"}
    capture(client, email="private.person@example.com", fields=fields, consent={"sms": True})
    text = " ".join(event.model_dump_json() for event in outbox(store)).lower()
    for value in ("private.person", "zed", "555", "secret way"):
        assert value not in text


# -- queries -------------------------------------------------------------------------


def test_get_cart_unknown_id(client: Cartback) -> None:
    with pytest.raises(CartNotFoundError) as raised:
        client.get_cart("cart_missing")
    assert raised.value.cart_id == "cart_missing"


def test_list_carts_newest_first_with_paging(client: Cartback, clock: FakeClock) -> None:
    ids = []
    for index in range(7):
        ids.append(capture(client, email=f"p{index}@example.com").id)
        clock.advance(minutes=1)
    newest_first = list(reversed(ids))
    first = client.list_carts(limit=3)
    assert [cart.id for cart in first.items] == newest_first[:3]
    assert (first.total, first.limit, first.offset, first.has_more) == (7, 3, 0, True)
    second = client.list_carts(limit=3, offset=3)
    assert [cart.id for cart in second.items] == newest_first[3:6]
    last = client.list_carts(limit=3, offset=6)
    assert [cart.id for cart in last.items] == newest_first[6:]
    assert not last.has_more
    beyond = client.list_carts(limit=3, offset=10)
    assert (beyond.items, beyond.total, beyond.has_more) == ((), 7, False)


def test_iter_carts_pages_by_key_without_repeats(client: Cartback, clock: FakeClock) -> None:
    ids = []
    for index in range(25):
        ids.append(capture(client, email=f"k{index}@example.com").id)
        if index % 3:  # several carts share a created_at: the id breaks ties
            clock.advance(seconds=1)
    listed = [cart.id for cart in client.store.iter_carts(CartQuery(), batch=4)]
    assert sorted(listed) == sorted(ids)
    assert len(listed) == len(set(listed))
    assert listed == [cart.id for cart in client.list_carts(limit=100).items]
    only = list(client.store.iter_carts(CartQuery(email="k3@example.com"), batch=1))
    assert [cart.id for cart in only] == [ids[3]]


@pytest.fixture
def three_days(client: Cartback, clock: FakeClock) -> dict[str, Cart]:
    carts: dict[str, Cart] = {}
    moments = {
        "before": datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        "midnight": datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
        "noon": datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        "last": datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC),
        "after": datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
    }
    for name, moment in moments.items():
        clock.now = moment
        carts[name] = capture(client, email=f"{name}@example.com")
    return carts


def _names(client: Cartback, query: CartQuery, carts: dict[str, Cart]) -> set[str]:
    by_id = {cart.id: name for name, cart in carts.items()}
    return {by_id[cart.id] for cart in client.list_carts(query, limit=100).items}


def test_filter_by_date_is_the_whole_utc_day_inclusive(
    client: Cartback, three_days: dict[str, Cart]
) -> None:
    day = date(2026, 3, 2)
    assert _names(client, CartQuery(start=day, end=day), three_days) == {"midnight", "noon", "last"}
    assert _names(client, CartQuery(start=day), three_days) == {"midnight", "noon", "last", "after"}
    assert _names(client, CartQuery(end=day), three_days) == {"before", "midnight", "noon", "last"}


def test_filter_by_datetime_bounds_is_inclusive(
    client: Cartback, three_days: dict[str, Cart]
) -> None:
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert _names(client, CartQuery(start=noon, end=noon), three_days) == {"noon"}
    new_york = noon.astimezone(ZoneInfo("America/New_York"))
    assert _names(client, CartQuery(start=new_york), three_days) == {"noon", "last", "after"}


def test_filter_by_email_exact_and_contains(client: Cartback) -> None:
    ann = capture(client, email="ann@example.com")
    capture(client, email="joanne@example.com")
    capture(client, email="bob@example.org")
    assert [c.id for c in client.list_carts(CartQuery(email=" ANN@Example.com ")).items] == [ann.id]
    contains = {c.contact.email for c in client.list_carts(CartQuery(email_contains="ANN")).items}
    assert contains == {"ann@example.com", "joanne@example.com"}


def test_like_wildcards_in_email_contains_are_literal(client: Cartback) -> None:
    capture(client, email="a_b@example.com")
    capture(client, email="axb@example.com")
    capture(client, email="a%b@example.com")
    assert client.list_carts(CartQuery(email_contains="a_b")).total == 1
    assert client.list_carts(CartQuery(email_contains="a%b")).total == 1
    assert client.list_carts(CartQuery(email_contains="%")).total == 1


def test_filter_by_form_product_and_status(client: Cartback) -> None:
    a = capture(client, email="a@example.com", form_id="f1", product_id="p1")
    b = capture(client, email="b@example.com", form_id="f1", product_id="p2")
    c = capture(client, email="c@example.com", form_id="f2", product_id="p1")
    client.mark_ordered(email="c@example.com")

    def ids(query: CartQuery) -> set[str]:
        return {cart.id for cart in client.list_carts(query).items}

    assert ids(CartQuery(form_id="f1")) == {a.id, b.id}
    assert ids(CartQuery(product_id="p1")) == {a.id, c.id}
    assert ids(CartQuery(status="ordered")) == {c.id}
    assert ids(CartQuery(status="open", product_id="p1")) == {a.id}


def test_count_carts_by_product_and_form(client: Cartback, store: Store) -> None:
    capture(client, email="a@example.com", form_id="f1", product_id="p1")
    capture(client, email="b@example.com", form_id="f1", product_id="p1")
    capture(client, email="c@example.com", form_id="f2", product_id="p2")
    capture(client, email="d@example.com", form_id="f2")
    capture(client, email="e@example.com", form_id="f2", product_id="p1")
    assert store.count_carts_by("product_id", CartQuery()) == [("p1", 3), (None, 1), ("p2", 1)]
    assert store.count_carts_by("form_id", CartQuery()) == [("f2", 3), ("f1", 2)]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1)])
def test_paging_limits_are_checked(client: Cartback, limit: int, offset: int) -> None:
    with pytest.raises(InvalidInputError):
        client.list_carts(limit=limit, offset=offset)


# -- erasure, forgetting, retention ---------------------------------------------------


def test_erase_removes_the_prospect_from_every_table(
    client: Cartback, store: Store, clock: FakeClock, cells: Cells
) -> None:
    email = "erase.me@example.com"
    client.links = None
    first = {"fields": {"newsletter": "on"}, "session_id": "s-e", "event_id": "e-erase"}
    one = capture(client, email=email, form_id="a", **first)
    capture(client, email=email.upper(), form_id="b", consent={"sms": True})
    clock.advance(minutes=1)
    client.record_consent(email, "push", "withdrawn")
    store.register_consumer("crm")
    kept = capture(client, email="keep@example.com", consent={"sms": True})
    client.mark_ordered(email=email, form_id="a")
    store.claim("crm", owner="w", now=clock.now)  # pending deliveries for both prospects

    report = client.erase("Erase.Me@Example.COM")
    assert (report.carts, report.consent_events) == (2, 3)
    assert report.other > 0
    assert [hit for hit in cells() if "erase.me" in hit[2].lower()] == []
    assert [hit for hit in cells() if one.id in hit[2]] == []
    assert store.consent_events(email) == []
    assert client.list_carts().total == 1
    assert client.get_cart(kept.id) == kept
    assert client.may_contact("keep@example.com", "sms")
    assert client.erase(email).carts == 0


def test_forget_session_removes_only_that_session(
    client: Cartback, store: Store, cells: Cells
) -> None:
    capture(client, email="s1@example.com", session_id="sess-1", consent={"sms": True})
    capture(client, email="s1@example.com", form_id="other", session_id="sess-1")
    other = capture(client, email="s2@example.com", session_id="sess-2", consent={"sms": True})
    api = client.record_consent("s3@example.com", "push", "granted")
    report = client.forget_session("sess-1")
    assert (report.carts, report.consent_events) == (2, 1)
    assert [hit for hit in cells() if "s1@example.com" in hit[2]] == []
    assert client.get_cart(other.id) == other
    assert client.may_contact("s2@example.com", "sms")
    assert store.consent_events("s3@example.com") == [api]
    assert client.forget_session("sess-1").carts == 0


def test_purge_removes_idle_carts_and_keeps_newer_ones(
    store: Store, clock: FakeClock, cells: Cells
) -> None:
    client = Cartback(store, clock=clock, retention_days=30)
    old = capture(client, email="old@example.com", event_id="e-old", session_id="s-old")
    clock.advance(days=20)
    touched = capture(client, email="touched@example.com")
    clock.advance(days=5)
    capture(client, email="touched@example.com", fields={"city": "Reno"})
    clock.advance(days=6)
    assert client.purge_expired() == 1
    with pytest.raises(CartNotFoundError):
        client.get_cart(old.id)
    assert client.get_cart(touched.id).contact.city == "Reno"
    assert [hit for hit in cells() if "old@example.com" in hit[2] or old.id in hit[2]] == []
    clock.advance(days=30)
    assert client.purge_expired() == 1
    assert client.list_carts().total == 0


def test_purge_keeps_a_cart_exactly_at_the_limit(store: Store, clock: FakeClock) -> None:
    client = Cartback(store, clock=clock, retention_days=1)
    capture(client)
    clock.advance(days=1)
    assert client.purge_expired() == 0
    clock.advance(microseconds=1)
    assert client.purge_expired() == 1


def test_purge_forgets_receipts_after_a_day(store: Store, clock: FakeClock) -> None:
    client = Cartback(store, clock=clock, retention_days=30)
    body = submission(event_id="evt-day", fields={"city": "Reno"})
    client.capture(body)
    clock.advance(hours=25)
    client.purge_expired()
    capture(client, fields={"city": "Elko"})
    assert client.capture(body).status == "updated"  # no longer recognised as a retry


# -- the outbox: consumers, leases, retries, dead letters --------------------------------


def _captured(client: Cartback, count: int, prefix: str = "o") -> list[Cart]:
    return [capture(client, email=f"{prefix}{index}@example.com") for index in range(count)]


def test_each_consumer_reads_every_event_independently(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    store.register_consumer("webhooks")
    store.register_consumer("flows", types={"cart.captured"})
    _captured(client, 3)
    client.record_consent("o0@example.com", "sms", "granted")
    webhooks = store.claim("webhooks", owner="w1", now=clock.now)
    flows = store.claim("flows", owner="f1", now=clock.now)
    assert [d.event.type for d in webhooks] == ["cart.captured"] * 3 + ["consent.changed"]
    assert [d.event.type for d in flows] == ["cart.captured"] * 3
    store.settle("webhooks", [Settlement.done(d.seq) for d in webhooks], now=clock.now)
    assert store.claim("webhooks", owner="w1", now=clock.now) == []
    assert store.consumer_stats("flows").pending == 3
    assert store.consumer_stats("webhooks").pending == 0


def test_a_consumer_starts_now_or_at_the_beginning(client: Cartback, store: Store) -> None:
    _captured(client, 2, "before")
    store.register_consumer("late")
    store.register_consumer("replayer", start="beginning")
    _captured(client, 1, "after")
    now = client.now()
    assert len(store.claim("late", owner="w", now=now)) == 1
    assert len(store.claim("replayer", owner="w", now=now)) == 3


def test_registering_again_keeps_the_cursor(client: Cartback, store: Store) -> None:
    store.register_consumer("c", start="beginning")
    _captured(client, 2)
    claimed = store.claim("c", owner="w", now=client.now())
    store.settle("c", [Settlement.done(d.seq) for d in claimed], now=client.now())
    store.register_consumer("c", start="beginning", types={"cart.captured"})
    assert store.claim("c", owner="w", now=client.now()) == []


def test_two_workers_never_hold_the_same_delivery(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    store.register_consumer("c")
    _captured(client, 5)
    first = store.claim("c", owner="w1", now=clock.now, limit=3)
    second = store.claim("c", owner="w2", now=clock.now, limit=10)
    assert len(first) == 3
    assert len(second) == 2
    assert not {d.seq for d in first} & {d.seq for d in second}
    assert store.claim("c", owner="w3", now=clock.now) == []


def test_a_crashed_workers_lease_expires(client: Cartback, store: Store, clock: FakeClock) -> None:
    store.register_consumer("c")
    _captured(client, 1)
    (held,) = store.claim("c", owner="crashed", now=clock.now, lease=timedelta(seconds=30))
    assert store.claim("c", owner="w2", now=clock.now + timedelta(seconds=29)) == []
    (again,) = store.claim("c", owner="w2", now=clock.now + timedelta(seconds=30))
    assert (again.seq, again.attempts, held.attempts) == (held.seq, 2, 1)


def test_retry_waits_until_its_time_and_keeps_the_error(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    store.register_consumer("c")
    _captured(client, 1)
    (delivery,) = store.claim("c", owner="w", now=clock.now)
    later = clock.now + timedelta(minutes=5)
    store.settle("c", [Settlement.retry(delivery.seq, later, "http_503")], now=clock.now)
    assert store.claim("c", owner="w", now=later - timedelta(seconds=1)) == []
    (retried,) = store.claim("c", owner="w", now=later)
    assert (retried.attempts, retried.last_error) == (2, "http_503")


def test_dead_letters_and_replay(client: Cartback, store: Store, clock: FakeClock) -> None:
    store.register_consumer("c")
    carts = _captured(client, 3)
    claimed = store.claim("c", owner="w", now=clock.now)
    store.settle("c", [Settlement.dead(d.seq, "gave_up") for d in claimed], now=clock.now)
    assert store.claim("c", owner="w", now=clock.now) == []
    dead = store.dead_letters("c")
    assert [d.cart_id for d in dead] == [cart.id for cart in carts]
    assert {d.last_error for d in dead} == {"gave_up"}
    assert store.consumer_stats("c").dead == 3
    assert store.replay("c", now=clock.now, seqs=[dead[0].seq]) == 1
    (one,) = store.claim("c", owner="w", now=clock.now)
    assert (one.seq, one.attempts) == (dead[0].seq, 1)
    assert store.replay("c", now=clock.now, since=carts[1].created_at) == 2
    assert len(store.claim("c", owner="w", now=clock.now)) == 2
    assert store.dead_letters("c") == []


def test_ordered_consumers_get_a_carts_events_one_at_a_time(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    store.register_consumer("crm", ordered_per_cart=True)
    capture(client)
    capture(client, fields={"city": "Reno"})
    capture(client, email="bob@example.com")
    first = store.claim("crm", owner="w", now=clock.now)
    assert [d.event.type for d in first] == ["cart.captured", "cart.captured"]
    retry_at = clock.now + timedelta(minutes=1)
    settlements = [
        Settlement.retry(first[0].seq, retry_at, "timeout"),
        Settlement.done(first[1].seq),
    ]
    store.settle("crm", settlements, now=clock.now)
    assert store.claim("crm", owner="w", now=clock.now) == []  # the update waits its turn
    (again,) = store.claim("crm", owner="w", now=retry_at)
    assert again.seq == first[0].seq
    store.settle("crm", [Settlement.done(again.seq)], now=retry_at)
    (update,) = store.claim("crm", owner="w", now=retry_at)
    assert update.event.type == "cart.updated"


def test_claiming_for_an_unknown_consumer_is_an_error(store: Store, clock: FakeClock) -> None:
    with pytest.raises(InvalidInputError):
        store.claim("nobody", owner="w", now=clock.now)


def test_claims_from_four_threads_deliver_each_event_once(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    store.register_consumer("c")
    _captured(client, 40)
    seen: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while batch := store.claim("c", owner=name, now=clock.now, limit=3):
            with lock:
                seen.extend(d.seq for d in batch)
            store.settle("c", [Settlement.done(d.seq) for d in batch], now=clock.now)

    threads = [threading.Thread(target=worker, args=(f"w{index}",)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 40


# -- shared state for several receivers ---------------------------------------------------


def test_token_buckets_refill_over_time(store: Store, clock: FakeClock) -> None:
    def take() -> float | None:
        return store.take_token("login", "1.2.3.4", capacity=2, per_second=0.5, now=clock.now)

    assert take() is None
    assert take() is None
    wait = take()
    assert wait == pytest.approx(2.0)
    clock.advance(seconds=2)
    assert take() is None
    assert store.take_token("login", "other", capacity=2, per_second=0.5, now=clock.now) is None


def test_flags_last_until_their_time(
    store: Store, open_again: Callable[[], Store], clock: FakeClock
) -> None:
    until = clock.now + timedelta(hours=1)
    store.flag("revoked", "nonce-1", until=until)
    other = open_again()
    assert other.flagged_until("revoked", "nonce-1", now=clock.now) == until
    assert other.flagged_until("revoked", "nonce-2", now=clock.now) is None
    assert store.flagged_until("revoked", "nonce-1", now=until) is None


def test_an_event_id_reused_for_another_prospect_is_not_a_retry(client: Cartback) -> None:
    client.capture(submission(event_id="evt-same"))
    other = client.capture(submission(email="bob@example.com", event_id="evt-same"))
    assert other.status == "stored"
    assert other.cart is not None
    assert other.cart.contact.email == "bob@example.com"
    assert client.list_carts().total == 2


# -- recipients: push devices, Messenger and Instagram -------------------------------------


def test_a_registered_device_is_a_push_grant_and_is_erased_with_the_prospect(
    client: Cartback, store: Store, clock: FakeClock, cells: Cells
) -> None:
    capture(client)
    device = client.register_device("Alice@Example.com", "ios", "a1" * 32, "com.shop.app")
    assert (device.prospect, device.active) == ("alice@example.com", True)
    assert client.may_contact("alice@example.com", "push")
    clock.advance(minutes=1)
    client.register_device("alice@example.com", "ios", "a1" * 32, "com.shop.app")  # again
    assert len([e for e in store.consent_events("alice@example.com") if e.channel == "push"]) == 1
    assert [d.token for d in client.devices("alice@example.com")] == ["a1" * 32]
    assert client.invalidate_device("ios", "a1" * 32)
    assert not client.invalidate_device("ios", "a1" * 32)  # already invalid
    (invalid,) = client.devices("alice@example.com")
    assert invalid.invalidated_at == clock.now
    assert not invalid.active
    client.erase("alice@example.com")
    assert client.devices("alice@example.com") == []
    assert [hit for hit in cells() if "a1a1a1" in hit[2]] == []


def test_a_token_registered_again_for_someone_else_moves_to_them(client: Cartback) -> None:
    client.register_device("a@example.com", "android", "tok-1", "com.shop")
    client.register_device("b@example.com", "android", "tok-1", "com.shop")
    assert client.devices("a@example.com") == []
    assert [d.prospect for d in client.devices("b@example.com")] == ["b@example.com"]


@pytest.mark.parametrize(
    ("token", "app_id"),
    [("", "app"), ("has space", "app"), ("t" * 5000, "app"), ("4111111111111111", "app"),
     ("tok", "")],
)  # fmt: skip
def test_bad_device_registrations_are_refused(client: Cartback, token: str, app_id: str) -> None:
    with pytest.raises(InvalidInputError):
        client.register_device("a@example.com", "ios", token, app_id)
    assert client.devices("a@example.com") == []


def test_social_recipients_record_the_platform_opt_in(client: Cartback, store: Store) -> None:
    recipient = client.register_social_recipient(
        "a@example.com", "messenger", page_id="1029384756", recipient_id="6543210987654321"
    )
    assert client.social_recipients("a@example.com") == [recipient]
    (grant,) = store.consent_events("a@example.com")
    assert (grant.channel, grant.source.kind, grant.source.ref) == (
        "messenger",
        "platform",
        "1029384756",
    )
    assert not client.may_contact("a@example.com", "instagram")
    client.erase("a@example.com")
    assert client.social_recipients("a@example.com") == []


# -- submitted carts and failed payments -----------------------------------------------------


def test_a_submitted_cart_waits_for_the_order_then_reopens(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    cart = capture(client, session_id="s-1")
    (submitted,) = client.mark_submitted("s-1")
    assert (submitted.id, submitted.status, submitted.submitted_at) == (
        cart.id,
        "submitted",
        clock.now,
    )
    assert client.mark_submitted("s-1") == []  # already submitted
    clock.advance(minutes=59)
    assert client.reopen_stale_submissions() == 0
    clock.advance(minutes=2)
    assert client.reopen_stale_submissions() == 1
    reopened = client.get_cart(cart.id)
    assert (reopened.status, reopened.submitted_at) == ("open", None)
    types = [event.type for event in outbox(store)]
    assert types[-2:] == ["cart.submitted", "cart.reopened"]


def test_a_confirmed_order_closes_a_submitted_cart(client: Cartback) -> None:
    cart = capture(client, session_id="s-1")
    client.mark_submitted("s-1")
    (closed,) = client.mark_ordered(email="alice@example.com", order_id="o-1")
    assert (closed.id, closed.status) == (cart.id, "ordered")
    assert client.reopen_stale_submissions() == 0


def test_a_failed_payment_keeps_the_cart_open_with_its_reasons(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    cart = capture(client, session_id="s-1")
    client.mark_submitted("s-1")
    clock.advance(minutes=1)
    (failed,) = client.record_payment_failure("authentication_timeout", session_id="s-1")
    clock.advance(minutes=1)
    client.record_payment_failure("card_declined", email="alice@example.com")
    stored = client.get_cart(cart.id)
    assert failed.id == cart.id
    assert stored.status == "open"
    assert [f.reason for f in stored.payment_failures] == [
        "authentication_timeout",
        "card_declined",
    ]
    assert stored.last_payment_failure is not None
    assert stored.last_payment_failure.reason == "card_declined"
    assert [e.type for e in outbox(store)].count("cart.payment_failed") == 2
    assert client.record_payment_failure("other", email="nobody@example.com") == []


def test_typing_again_after_a_submit_reopens_the_cart(client: Cartback) -> None:
    cart = capture(client, session_id="s-1")
    client.mark_submitted("s-1")
    again = capture(client, session_id="s-1", fields={"city": "Reno"})
    assert (again.id, again.status, again.submitted_at) == (cart.id, "open", None)
