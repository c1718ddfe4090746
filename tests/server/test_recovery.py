"""The receiver's recovery runtime: the dispatcher it runs, configured from its settings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cartback import Cartback, ConfigurationError
from cartback.senders import DryRunLog, Senders, SmtpSender
from server_example.app import create_app
from server_example.recovery import RecoveryRunner, flow_assignments, make_senders, shop_settings
from server_example.settings import Settings
from tests.conftest import FakeClock

CAPTURE = {
    "form_id": "f1",
    "seller": "us",
    "session_id": "sess-1",
    "fields": {"email": "jane@example.com", "first_name": "Jane", "country": "US"},
}


@pytest.fixture
def dry_run() -> DryRunLog:
    return DryRunLog()


@pytest.fixture
def app(receiver_settings: Settings, clock: FakeClock, dry_run: DryRunLog) -> Starlette:
    settings = dataclasses.replace(receiver_settings, dispatcher=False)  # ticked by the test
    return create_app(settings, clock=clock, senders=Senders.dry_run(log=dry_run, clock=clock))


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as opened:
        yield opened


def runner(app: Starlette) -> RecoveryRunner:
    found = app.state.recovery
    assert isinstance(found, RecoveryRunner)
    return found


def test_the_conversational_email_goes_out_three_hours_after_a_capture(
    app: Starlette, client: TestClient, clock: FakeClock, dry_run: DryRunLog
) -> None:
    assert client.post("/api/capture", json=CAPTURE).json()["status"] == "stored"
    runner(app).tick()
    clock.advance(hours=3, minutes=1)
    report = runner(app).tick()
    assert report.sent == 1
    (record,) = dry_run.records
    assert (record.channel, record.kind) == ("email", record.kind)
    cartback: Cartback = app.state.cartback
    (cart,) = cartback.list_carts().items
    (message,) = cartback.messages(cart.id)
    assert (message.status, message.template) == ("sent", "conversational")


def test_a_confirmed_order_stops_the_flow(
    app: Starlette, client: TestClient, clock: FakeClock, dry_run: DryRunLog
) -> None:
    client.post("/api/capture", json=CAPTURE)
    runner(app).tick()
    cartback: Cartback = app.state.cartback
    cartback.mark_ordered(email="jane@example.com", order_id="o-1")
    clock.advance(hours=5)
    runner(app).tick()
    assert dry_run.records == ()


def test_submits_never_confirmed_are_abandoned_again(
    app: Starlette, client: TestClient, clock: FakeClock
) -> None:
    client.post("/api/capture", json=CAPTURE)
    client.post("/api/capture/complete", json={"session_id": "sess-1"})
    cartback: Cartback = app.state.cartback
    assert cartback.list_carts().items[0].status == "submitted"
    clock.advance(minutes=61)
    runner(app).tick()
    assert cartback.list_carts().items[0].status == "open"


def test_flows_come_from_the_settings(tmp_path: Path) -> None:
    assignments = flow_assignments({"default": "multichannel", "by_form": {"vip": "push"}})
    assert assignments.default == "multichannel"
    assert assignments.by_form == {"vip": "push"}
    assert flow_assignments({}).default == "conversational"
    with pytest.raises(ConfigurationError):
        flow_assignments({"default": "no-such-flow"})


def test_a_control_group_comes_from_the_settings() -> None:
    assignments = flow_assignments({"control": {"conversational": 0.1}, "control_salt": "q4"})
    assert (assignments.control, assignments.control_salt) == ({"conversational": 0.1}, "q4")
    for wrong in ({"conversational": 0.9}, {"conversational": "half"}, {"no-such-flow": 0.1}):
        with pytest.raises(ConfigurationError) as error:
            flow_assignments({"control": wrong})
        assert error.value.setting == "flows"


def test_shop_settings_default_to_the_receivers_address() -> None:
    shop = shop_settings({}, public_url="http://127.0.0.1:8000", form_urls={"f1": "http://x/"})
    assert (shop.public_url, dict(shop.form_urls)) == ("http://127.0.0.1:8000", {"f1": "http://x/"})
    named = shop_settings({"shop_name": "Bakery", "sender_name": "Claire",
                           "sender_email": "claire@bakery.example"},
                          public_url="https://carts.bakery.example", form_urls={})  # fmt: skip
    assert (named.shop_name, named.sender_email) == ("Bakery", "claire@bakery.example")
    with pytest.raises(ConfigurationError):
        shop_settings(
            {"sender_email": "not an address"}, public_url="https://a.example", form_urls={}
        )


def test_senders_default_to_a_dry_run_and_smtp_comes_from_a_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    senders = make_senders({})
    assert sorted(senders) == ["email", "instagram", "messenger", "push", "sms"]
    configured = make_senders({}, smtp_url="smtp://user:p%40ss@mail.example:2525?security=starttls")
    email = configured["email"]
    assert isinstance(email, SmtpSender)
    assert (email.host, email.port, email.security) == ("mail.example", 2525, "starttls")
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError):
        make_senders({"email": {"smtp": {"host": "mail.example", "username": "u",
                                         "password_env": "SMTP_PASSWORD"}}})  # fmt: skip
    with pytest.raises(ConfigurationError):
        make_senders({}, smtp_url="http://mail.example")


def test_the_receiver_reads_its_recovery_settings_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"flows": {"default": "push"}, "shop": {"shop_name": "B"}}))
    settings = Settings.from_env(
        {
            "CARTBACK_ADMIN_PASSWORD": "a long password",
            "CARTBACK_SECRET_KEY": "k" * 32,
            "CARTBACK_CONFIG": str(config),
            "CARTBACK_DISPATCHER": "off",
            "CARTBACK_DISPATCH_INTERVAL": "2.5",
            "CARTBACK_SMTP_URL": "smtp://mail.example",
        }
    )
    assert (settings.dispatcher, settings.dispatch_interval) == (False, 2.5)
    assert settings.flows == {"default": "push"}
    assert settings.smtp_url == "smtp://mail.example"
