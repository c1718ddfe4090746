"""``cartback erase``, ``purge``, ``replay`` and ``tick`` on every backend: each does
what the SDK call it wraps does, and prints counts, ids and codes, never an address."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from cartback import Cartback, CartNotFoundError, Store
from cartback.store import CartQuery
from tests.cli.support import (
    SECRET_KEY,
    ago,
    at,
    capture,
    dead_letters,
    environment,
    invoke,
    run,
)
from tests.conftest import FakeClock


def test_erase_removes_one_prospect_and_says_how_much(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
    backend: str,
) -> None:
    gone = capture(client, clock, at(2), email="erase.me@example.com", consent={"email": True})
    capture(client, clock, at(3), email="erase.me@example.com", form_id="upsell")
    kept = capture(client, clock, at(4), email="keep.me@example.com")
    # The real command on PostgreSQL; main() in this process on SQLite.
    command = run if backend == "postgres" else partial(invoke, capsysbinary)
    done = command("erase", "Erase.Me@example.com", env=environment(database))
    assert (done.code, done.err) == (0, "")
    counts = done.fields()
    assert (counts["carts"], set(counts)) == ("2", {"carts", "consent_events", "other"})
    assert int(counts["other"]) > 0  # sessions, receipts, events naming the carts...
    assert "erase.me" not in done.text.lower()
    with pytest.raises(CartNotFoundError):
        store.get_cart(gone.id)
    assert store.get_cart(kept.id).id == kept.id
    again = invoke(
        capsysbinary, "erase", "erase.me@example.com", "--json", env=environment(database)
    )
    assert json.loads(again.text) == {"carts": 0, "consent_events": 0, "other": 0}


def test_purge_applies_the_retention_period(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
) -> None:
    old = capture(client, clock, ago(days=40), email="old@example.com")
    recent = capture(client, clock, ago(days=10), email="recent@example.com")
    env = environment(database, CARTBACK_RETENTION_DAYS="60")
    assert invoke(capsysbinary, "purge", env=env).fields() == {"purged": "0"}
    done = invoke(capsysbinary, "purge", "--retention-days", "30", "--json", env=env)
    assert (done.code, json.loads(done.text)) == (0, {"purged": 1})
    assert [cart.id for cart in store.iter_carts(CartQuery())] == [recent.id]
    assert old.id not in done.text


def test_replay_lists_then_replays_an_endpoints_dead_letters(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
) -> None:
    day2, day3, day5 = dead_letters(client, clock, [2, 3, 5])
    env = environment(database)
    listed = invoke(capsysbinary, "replay", "--endpoint", "crm", "--list", env=env)
    assert listed.code == 0
    lines = [line.split("\t") for line in listed.text.splitlines()]
    assert [(line[0], int(line[1]), line[2], line[5]) for line in lines] == [
        ("webhook:crm", seq, "cart.captured", "http_500") for seq in (day2, day3, day5)
    ]
    assert listed.err == "dead 3 dead letters\n"
    assert len(store.dead_letters("webhook:crm")) == 3  # only listed

    done = invoke(capsysbinary, "replay", "--endpoint", "crm", "--since", "2026-11-03", env=env)
    assert [int(line.split("\t")[1]) for line in done.text.splitlines()] == [day3, day5]
    assert [d.seq for d in store.dead_letters("webhook:crm")] == [day2]
    assert store.consumer_stats("webhook:crm").pending == 2  # due again

    rest = invoke(capsysbinary, "replay", "--all", "--json", env=env)
    replayed = json.loads(rest.text)
    assert (replayed["count"], replayed["replayed"][0]["seq"]) == (1, day2)
    assert store.dead_letters("webhook:crm") == []
    assert "dead2@example.com" not in rest.text


def test_replay_reaches_any_consumer(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
) -> None:
    from cartback import Settlement

    store.register_consumer("audit", start="beginning")
    capture(client, clock, at(2), email="audit@example.com")
    claimed = store.claim("audit", owner="t", now=clock.now)
    store.settle("audit", [Settlement.dead(d.seq, "gave_up") for d in claimed], now=clock.now)
    done = invoke(capsysbinary, "replay", "--consumer", "audit", env=environment(database))
    assert (done.code, len(done.text.splitlines())) == (0, len(claimed))
    assert store.dead_letters("audit") == []


def test_a_tick_runs_the_flows_in_a_dry_run(
    capsysbinary: pytest.CaptureFixture[bytes],
    client: Cartback,
    store: Store,
    clock: FakeClock,
    database: str,
    backend: str,
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"guards": {"quiet_hours": None}}), encoding="utf-8")
    env = environment(database, CARTBACK_SECRET_KEY=SECRET_KEY, CARTBACK_CONFIG=str(config))
    first = invoke(capsysbinary, "tick", env=env)  # the flows start reading the outbox
    assert first.fields()["enrolled"] == "0"
    assert first.fields()["dry_run"] == "email sms push messenger instagram"

    cart = capture(client, clock, ago(hours=4), email="tick@example.com")
    # Submitted 70 minutes ago and never confirmed: abandoned again (its email is not due).
    capture(client, clock, ago(minutes=80), email="submit@example.com", session_id="s-1")
    clock.now = ago(minutes=70)
    client.mark_submitted("s-1")

    command = run if backend == "sqlite" else partial(invoke, capsysbinary)  # one real run
    done = command("tick", "--until-idle", "--json", env=env)
    assert (done.code, done.err) == (0, "")
    report = json.loads(done.text)
    assert (report["reopened"], report["enrolled"], report["sent"]) == (1, 2, 1)
    assert report["ticks"] >= 2
    assert "tick@example.com" not in done.text
    (sent,) = store.messages(cart_id=cart.id)
    assert (sent.status, sent.template) == ("sent", "conversational")
    assert str(sent.provider_id).startswith("dry-run-")
