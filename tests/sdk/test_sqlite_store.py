"""What only the SQLite store does: its file, its schema versions, WAL, erased bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cartback import Cartback, ConfigurationError, SQLiteStore, StoreError, open_store
from cartback.store._sqlite_schema import MIGRATIONS
from tests.conftest import FakeClock
from tests.sdk._support import outbox, raw_bytes, reader, submission, table_names


def test_migrations_create_the_schema(store: SQLiteStore, db_path: Path) -> None:
    assert store.schema_version == len(MIGRATIONS)
    assert store.check_integrity() == "ok"
    with reader(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert {"carts", "cart_sessions", "consent_events", "outbox", "deliveries"} <= set(
            table_names(db)
        )


def test_wal_journal_mode_is_on(store: SQLiteStore, db_path: Path) -> None:
    with reader(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_is_a_no_op_and_keeps_data(db_path: Path, clock: FakeClock) -> None:
    with SQLiteStore(db_path) as first:
        cart = Cartback(first, clock=clock).capture(submission()).cart
    with reader(db_path) as db:
        schema_before = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    with SQLiteStore(db_path) as second:
        assert second.schema_version == len(MIGRATIONS)
        assert cart is not None
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


def test_a_schema_1_database_is_migrated_keeping_carts_sessions_clicks_and_consent(
    db_path: Path, clock: FakeClock
) -> None:
    """A file written by the first release: its rows survive the move to schema 2; its
    outbox (personal data, read by nobody) does not."""
    db = sqlite3.connect(db_path, isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    first = SQLiteStore(":memory:")  # a cart body in this release's shape, to copy in
    cart = Cartback(first, clock=clock).capture(submission(session_id="s-1")).cart
    first.close()
    assert cart is not None
    db.execute(
        "INSERT INTO carts VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
        (cart.id, "alice@example.com", "checkout", None, cart.created_at.isoformat(),
         cart.updated_at.isoformat(), cart.model_dump_json()),
    )  # fmt: skip
    db.execute("INSERT INTO cart_sessions VALUES ('s-1', ?)", (cart.id,))
    db.execute("INSERT INTO link_clicks (cart_id, at, utm) VALUES (?, ?, '{}')", (cart.id,
               cart.created_at.isoformat()))  # fmt: skip
    old_event = (
        '{"prospect":"alice@example.com","channel":"sms","action":"granted",'
        f'"at":"{cart.created_at.isoformat()}","source":{{"kind":"api","ref":null}},'
        '"text_version":null,"session_id":null}'
    )
    db.execute(
        "INSERT INTO consent_events (prospect, channel, action, at, session_id, body)"
        " VALUES ('alice@example.com', 'sms', 'granted', ?, NULL, ?)",
        (cart.created_at.isoformat(), old_event),
    )
    db.execute(
        "INSERT INTO outbox (event_id, type, occurred_at, payload) VALUES ('e', 'x', ?, '{}')",
        (cart.created_at.isoformat(),),
    )
    db.close()

    with SQLiteStore(db_path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.check_integrity() == "ok"
        client = Cartback(store, clock=clock)
        assert client.get_cart(cart.id) == cart
        assert [click.cart_id for click in store.clicks(cart.id)] == [cart.id]
        (event,) = store.consent_events("alice@example.com")
        assert (event.channel, event.id) == ("sms", "cns_v1_1")
        assert client.may_contact("alice@example.com", "sms")
        assert outbox(store) == []
        assert [c.id for c in client.mark_ordered(session_id="s-1")] == [cart.id]


def test_erased_values_leave_the_files(db_path: Path, clock: FakeClock) -> None:
    with SQLiteStore(db_path) as store:
        client = Cartback(store, clock=clock)
        client.capture(submission(email="erase.me@example.com", consent={"sms": True}))
        client.erase("erase.me@example.com")
        with reader(db_path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert b"erase.me" not in raw_bytes(db_path).lower()


def test_open_store_picks_the_backend_from_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    for setting in (str(path), path, f"sqlite://{path}"):
        opened = open_store(setting, synchronous="NORMAL")
        assert isinstance(opened, SQLiteStore)
        opened.close()
    for bad in ("mysql://x/y", "sqlite://relative.db"):
        with pytest.raises(ConfigurationError):
            open_store(bad)


def test_a_memory_database_reads_what_it_wrote(clock: FakeClock) -> None:
    with SQLiteStore(":memory:") as store:
        client = Cartback(store, clock=clock)
        cart = client.capture(submission()).cart
        assert cart is not None
        assert client.list_carts().items == (cart,)
