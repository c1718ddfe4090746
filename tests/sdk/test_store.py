"""The SQLite store on a real file: schema, outbox, merging, queries, erasure, retention."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cartback import (
    Cart,
    Cartback,
    CartNotFoundError,
    CartQuery,
    ConfigurationError,
    ErasureReport,
    SQLiteStore,
    Store,
    StoreError,
)
from cartback.store._schema import MIGRATIONS
from tests.conftest import FakeClock
from tests.sdk._support import raw_bytes, reader, rows_mentioning, submission, table_names


def capture(client: Cartback, **kwargs: Any) -> Cart:
    result = client.capture(submission(**kwargs))
    assert result.cart is not None, result.reasons
    return result.cart


# -- schema and lifecycle ------------------------------------------------------------


def test_migrations_create_the_schema(store: SQLiteStore, db_path: Path) -> None:
    assert store.schema_version == len(MIGRATIONS)
    assert store.check_integrity() == "ok"
    with reader(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert {"carts", "cart_sessions", "consent_events", "outbox"} <= set(table_names(db))


def test_the_store_satisfies_the_protocol(store: SQLiteStore) -> None:
    assert isinstance(store, Store)


def test_wal_journal_mode_is_on(store: SQLiteStore, db_path: Path) -> None:
    with reader(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_is_a_no_op_and_keeps_data(db_path: Path, clock: FakeClock) -> None:
    with SQLiteStore(db_path) as first:
        cart = capture(Cartback(first, clock=clock))
    with reader(db_path) as db:
        schema_before = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    with SQLiteStore(db_path) as second:
        assert second.schema_version == len(MIGRATIONS)
        assert second.get_cart(cart.id) == cart
    with reader(db_path) as db:
        assert db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema_before


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    with SQLiteStore(db_path):
        pass
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(db_path)


def test_synchronous_must_be_full_or_normal(db_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteStore(db_path, synchronous="OFF")  # type: ignore[arg-type]


# -- the outbox ----------------------------------------------------------------------


def test_every_change_writes_its_event(
    client: Cartback, store: SQLiteStore, clock: FakeClock
) -> None:
    cart = capture(client, fields={"first_name": "Al"})
    clock.advance(minutes=1)
    capture(client, fields={"first_name": "Al"})  # unchanged: no event
    clock.advance(minutes=1)
    updated = capture(client, fields={"city": "Austin"})
    clock.advance(minutes=1)
    client.record_consent("alice@example.com", "sms", "granted")
    clock.advance(minutes=1)
    (closed,) = client.mark_ordered(email="alice@example.com", order_id="o-1", revenue=5)

    events = store.pending_events(limit=1000)
    assert [event.type for event in events] == [
        "cart.captured",
        "cart.updated",
        "consent.changed",
        "cart.ordered",
    ]
    assert [event.seq for event in events] == sorted(event.seq for event in events)
    assert len({event.event_id for event in events}) == 4
    assert events[0].cart_id == events[1].cart_id == events[3].cart_id == cart.id
    assert Cart.model_validate(events[0].payload["cart"]) == cart
    assert Cart.model_validate(events[1].payload["cart"]) == updated
    assert Cart.model_validate(events[3].payload["cart"]) == closed
    assert events[0].occurred_at == cart.created_at
    assert events[2].payload["channel"] == "sms"


def test_an_unchanged_repeat_writes_no_event(client: Cartback, store: SQLiteStore) -> None:
    body = submission(fields={"first_name": "Al", "newsletter": "on"}, product_id="p")
    assert client.capture(body).status == "stored"
    before = store.pending_events(limit=1000)
    again = client.capture(body)
    assert again.status == "unchanged"
    assert store.pending_events(limit=1000) == before


def test_mark_delivered_removes_events_from_pending(
    client: Cartback, store: SQLiteStore, clock: FakeClock
) -> None:
    capture(client)
    client.record_consent("alice@example.com", "sms", "granted")
    first, second = store.pending_events()
    store.mark_delivered([first.seq], clock.now)
    assert store.pending_events() == [second]
    store.mark_delivered([second.seq], clock.now)
    assert store.pending_events() == []


def test_pending_events_limit(client: Cartback, store: SQLiteStore) -> None:
    for index in range(5):
        capture(client, email=f"p{index}@example.com")
    assert len(store.pending_events(limit=3)) == 3
    assert len(store.pending_events()) == 5


# -- merging into one open cart ------------------------------------------------------


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


def test_save_captures_in_one_batch(client: Cartback, store: SQLiteStore) -> None:
    plans = [client.plan(submission(email=f"b{index}@example.com")) for index in range(3)]
    plans.append(client.plan(submission(email="b0@example.com", fields={"city": "X"})))
    outcomes = store.save_captures(plans)
    assert [outcome.status for outcome in outcomes] == ["stored", "stored", "stored", "updated"]
    assert outcomes[3].cart.id == outcomes[0].cart.id
    assert client.list_carts().total == 3


# -- orders --------------------------------------------------------------------------


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


def test_mark_ordered_with_nothing_open_returns_an_empty_list(client: Cartback) -> None:
    assert client.mark_ordered(email="nobody@example.com") == []


# -- queries -------------------------------------------------------------------------


def test_get_cart_unknown_id(client: Cartback) -> None:
    with pytest.raises(CartNotFoundError) as raised:
        client.get_cart("cart_missing")
    assert raised.value.cart_id == "cart_missing"
    assert isinstance(raised.value, LookupError)


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
    assert second.has_more
    last = client.list_carts(limit=3, offset=6)
    assert [cart.id for cart in last.items] == newest_first[6:]
    assert not last.has_more
    beyond = client.list_carts(limit=3, offset=10)
    assert beyond.items == ()
    assert beyond.total == 7
    assert not beyond.has_more


@pytest.fixture
def three_days(client: Cartback, clock: FakeClock) -> dict[str, Cart]:
    """Carts captured at 00:00, 12:00 and 23:59:59.999999 UTC on 2026-03-02, plus one on
    the days before and after."""
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
    assert _names(client, CartQuery(start=date(2026, 3, 4)), three_days) == set()


def test_filter_by_datetime_bounds_is_inclusive(
    client: Cartback, three_days: dict[str, Cart]
) -> None:
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert _names(client, CartQuery(start=noon, end=noon), three_days) == {"noon"}
    new_york = noon.astimezone(ZoneInfo("America/New_York"))
    assert _names(client, CartQuery(start=new_york), three_days) == {"noon", "last", "after"}


def test_filter_by_email_is_exact_and_case_insensitive(client: Cartback) -> None:
    ann = capture(client, email="ann@example.com")
    capture(client, email="joanne@example.com")
    capture(client, email="ann@example.org")
    page = client.list_carts(CartQuery(email=" ANN@Example.com "))
    assert [cart.id for cart in page.items] == [ann.id]


def test_filter_by_email_contains(client: Cartback) -> None:
    capture(client, email="ann@example.com")
    capture(client, email="joanne@example.com")
    capture(client, email="bob@example.org")
    emails = {
        cart.contact.email for cart in client.list_carts(CartQuery(email_contains="ANN")).items
    }
    assert emails == {"ann@example.com", "joanne@example.com"}


def test_like_wildcards_in_email_contains_are_literal(client: Cartback) -> None:
    capture(client, email="a_b@example.com")
    capture(client, email="axb@example.com")
    capture(client, email="a%b@example.com")
    underscore = client.list_carts(CartQuery(email_contains="a_b")).items
    assert [cart.contact.email for cart in underscore] == ["a_b@example.com"]
    percent = client.list_carts(CartQuery(email_contains="a%b")).items
    assert [cart.contact.email for cart in percent] == ["a%b@example.com"]
    assert client.list_carts(CartQuery(email_contains="%")).total == 1
    assert client.list_carts(CartQuery(email_contains="_")).total == 1


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
    assert ids(CartQuery(form_id="f2", status="open")) == set()


def test_count_carts_by_product_and_form(client: Cartback, store: SQLiteStore) -> None:
    capture(client, email="a@example.com", form_id="f1", product_id="p1")
    capture(client, email="b@example.com", form_id="f1", product_id="p1")
    capture(client, email="c@example.com", form_id="f2", product_id="p2")
    capture(client, email="d@example.com", form_id="f2")
    capture(client, email="e@example.com", form_id="f2", product_id="p1")
    assert store.count_carts_by("product_id", CartQuery()) == [("p1", 3), (None, 1), ("p2", 1)]
    assert store.count_carts_by("form_id", CartQuery()) == [("f2", 3), ("f1", 2)]
    assert store.count_carts_by("product_id", CartQuery(form_id="f2")) == [
        (None, 1),
        ("p1", 1),
        ("p2", 1),
    ]


# -- erasure, forgetting, retention ---------------------------------------------------


def test_erase_removes_the_prospect_everywhere(
    client: Cartback, store: SQLiteStore, db_path: Path, clock: FakeClock
) -> None:
    email = "erase.me@example.com"
    capture(client, email=email, form_id="a", fields={"newsletter": "on"}, session_id="s-e")
    capture(client, email=email.upper(), form_id="b", consent={"sms": True})
    clock.advance(minutes=1)
    client.record_consent(email, "push", "withdrawn")
    kept = capture(client, email="keep@example.com", consent={"sms": True})
    client.mark_ordered(email=email, form_id="a")

    report = client.erase("Erase.Me@Example.COM")
    assert report == ErasureReport(carts=2, consent_events=3, outbox_events=6)
    assert rows_mentioning(db_path, email) == []
    assert rows_mentioning(db_path, "erase.me") == []
    assert store.consent_events(email) == []
    assert client.list_carts().total == 1
    assert client.get_cart(kept.id) == kept
    assert client.may_contact("keep@example.com", "sms")
    with reader(db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"erase.me" not in raw_bytes(db_path).lower()
    assert client.erase(email) == ErasureReport()


def test_forget_session_removes_only_that_session(
    client: Cartback, store: SQLiteStore, db_path: Path
) -> None:
    capture(client, email="s1@example.com", session_id="sess-1", consent={"sms": True})
    capture(client, email="s1@example.com", form_id="other", session_id="sess-1")
    other = capture(client, email="s2@example.com", session_id="sess-2", consent={"sms": True})
    api = client.record_consent("s3@example.com", "push", "granted")

    report = client.forget_session("sess-1")
    assert report.carts == 2
    assert report.consent_events == 1
    assert report.outbox_events == 3
    assert rows_mentioning(db_path, "s1@example.com") == []
    assert client.get_cart(other.id) == other
    assert client.may_contact("s2@example.com", "sms")
    assert store.consent_events("s3@example.com") == [api]
    remaining = {event.type for event in store.pending_events(limit=100)}
    assert remaining == {"cart.captured", "consent.changed"}
    assert client.forget_session("sess-1") == ErasureReport()


def test_purge_removes_idle_carts_and_keeps_newer_ones(
    store: SQLiteStore, clock: FakeClock, db_path: Path
) -> None:
    client = Cartback(store, clock=clock, retention_days=30)
    old = capture(client, email="old@example.com")
    clock.advance(days=20)
    touched = capture(client, email="touched@example.com")
    clock.advance(days=5)
    capture(client, email="touched@example.com", fields={"city": "Reno"})  # updated_at moves
    clock.advance(days=6)  # old: 31 days idle; touched: 6 days since its update
    assert client.purge_expired() == 1
    with pytest.raises(CartNotFoundError):
        client.get_cart(old.id)
    assert client.get_cart(touched.id).contact.city == "Reno"
    assert [event.cart_id for event in store.pending_events(limit=100)] == [touched.id, touched.id]
    assert rows_mentioning(db_path, "old@example.com") == []
    clock.advance(days=30)
    assert client.purge_expired() == 1
    assert client.list_carts().total == 0


def test_purge_keeps_a_cart_exactly_at_the_limit(store: SQLiteStore, clock: FakeClock) -> None:
    client = Cartback(store, clock=clock, retention_days=1)
    capture(client)
    clock.advance(days=1)
    assert client.purge_expired() == 0
    clock.advance(microseconds=1)
    assert client.purge_expired() == 1


# -- concurrency ---------------------------------------------------------------------


def test_captures_from_four_threads_make_one_open_cart_per_prospect(
    store: SQLiteStore, clock: FakeClock, db_path: Path
) -> None:
    client = Cartback(store, clock=clock)
    prospects = [f"t{index}@example.com" for index in range(10)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(worker_id: int) -> None:
        try:
            barrier.wait()
            for round_ in range(5):
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
    with reader(db_path) as db:
        rows = db.execute(
            "SELECT prospect, count(*) FROM carts WHERE status = 'open' GROUP BY prospect, form_id"
        ).fetchall()
    assert sorted(rows) == [(email, 1) for email in sorted(prospects)]
    assert store.check_integrity() == "ok"


def test_two_store_instances_on_one_file_keep_one_open_cart(
    db_path: Path, clock: FakeClock
) -> None:
    with SQLiteStore(db_path) as one, SQLiteStore(db_path) as two:
        first = Cartback(one, clock=clock).capture(submission())
        second = Cartback(two, clock=clock).capture(submission(fields={"city": "X"}))
        assert first.cart is not None
        assert second.cart is not None
        assert second.cart.id == first.cart.id
        assert second.status == "updated"
        assert one.get_cart(first.cart.id).contact.city == "X"
