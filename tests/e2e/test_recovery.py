"""Recovery end to end, on a SQLite file and on PostgreSQL: carts captured through the
real receiver over loopback HTTP, two dispatcher OS processes ticking at once against the
one database, email to a real SMTP server, SMS, push and Messenger to the providers' APIs
(respx, inside each dispatcher process), on a fake clock the test moves half an hour a
round.

The shop has five kinds of prospect: ones who get every step; ones who order before the
first email, or after it; ones who unsubscribe from email after the first; ones who
untick SMS on the form before the SMS. Afterwards every step an eligible cart reaches
arrived exactly once (by Message-ID at the SMTP server, by idempotency key at the
APIs), nothing reached a cart after its order or a channel after its withdrawal, the
store's records say what happened (sent, or skipped with the reason), and the SDK's and
the dashboard's message history show each message once.

The crash test SIGKILLs one process right after the SMTP server accepted one of its
emails and before it recorded it: the other process takes its leases over when they
expire on the fake clock and finishes the work; only that one email arrives twice, under
its one Message-ID (what the provider sees to deduplicate), and no step is sent twice
otherwise.
"""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from cartback import Cartback, CartQuery, MessageRecord
from cartback.messages import message_id_header
from server_example.app import create_app
from tests.conftest import FakeClock
from tests.e2e.support import (
    APP_ID,
    CHANNELS,
    HOST,
    PAGE_ID,
    STEPS,
    Deployment,
    Dispatchers,
    Mailbox,
    Shop,
    dispatchers,
    provider_calls,
    serve,
    smtp_server,
)
from tests.server.fixtures import FakeMonotonic

START: Final = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
"""09:00 in New York, where every prospect's phone is."""
ROUND: Final = timedelta(minutes=30)
"""How far the fake clock moves between two rounds of ticks."""
ROUNDS: Final = 66
"""Rounds in a run: thirty-three hours, past the flow's last step."""
DOMAIN: Final = "sourdough.example"
"""The sender's domain: every Message-ID's right-hand side."""

GROUPS: Final = {
    "every": 8,  # gets every step
    "early_order": 3,  # orders 30 minutes in, before the first email
    "late_order": 3,  # orders 2 hours in, after the first email, before the SMS
    "unsubscribed": 4,  # unsubscribes from email after the first email
    "no_sms": 4,  # unticks SMS on the form 2 hours in, before the SMS
}
EXPECTED_SENT: Final = {
    "every": set(STEPS),
    "early_order": set(),
    "late_order": {"email_1"},
    "unsubscribed": {"email_1", "sms", "messenger", "push"},
    "no_sms": {"email_1", "messenger", "push", "email_2"},
}
EXPECTED_EXIT: Final = {
    "every": "completed",
    "early_order": "ordered",
    "late_order": "ordered",
    # after the push, only email is ahead, and it is withdrawn: the flow ends there
    "unsubscribed": "consent_withdrawn",
    "no_sms": "completed",
}


@dataclass(frozen=True)
class Prospect:
    group: str
    email: str
    session: str
    phone: str
    platform: str
    device: str
    recipient: str
    """The page-scoped Messenger id."""


def prospects() -> list[Prospect]:
    people: list[Prospect] = []
    for group, size in GROUPS.items():
        for n in range(size):
            number = len(people)
            platform = "ios" if number % 2 == 0 else "android"
            device = f"{number:02x}" * 32 if platform == "ios" else f"fcm-token-{number:04d}"
            people.append(Prospect(group, f"{group}.{n}@example.com", f"sess-{number}",
                                   f"+1 212 555 01{number:02d}", platform, device,
                                   f"65{number:014d}"))  # fmt: skip
    return people


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "shop.sqlite3")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@dataclass
class Run:
    """What a run left: the mailbox, the providers' calls, the store's view."""

    mailbox: Mailbox
    calls: list[dict[str, Any]]
    carts: dict[str, str]
    """Cart id by prospect email."""
    records: dict[str, list[MessageRecord]]
    """The SDK's message history by prospect email."""
    exits: dict[str, str | None]
    """The enrolment's exit reason by prospect email (``running`` when not finished)."""
    pages: dict[str, str]
    """The dashboard's cart page by prospect email."""
    ordered_at: dict[str, datetime]
    withdrawn_at: dict[str, datetime]
    sent_by: dict[str, int]
    """Messages each process reported sent."""
    held: str | None
    """The key of the email the killed process sent and did not record."""


@pytest.fixture
def shop_run(tmp_path: Path, database: str) -> Any:
    def run(*, crash: bool = False) -> Run:
        with smtp_server() as (mailbox, smtp_port):
            return _run(tmp_path, database, mailbox, smtp_port, crash=crash)

    return run


def _run(tmp_path: Path, database: str, mailbox: Mailbox, smtp_port: int, *,
         crash: bool) -> Run:  # fmt: skip
    sock = socket.socket()
    sock.bind((HOST, 0))
    host, port = sock.getsockname()[:2]
    # The crash run checks the live cart before every send (send_batch 1): exactly the
    # one email handed over and not recorded arrives twice. In batches, every email the
    # killed process handed over in its unfinished batch would.
    deployment = Deployment.write(tmp_path, database, f"http://{host}:{port}", smtp_port,
                                  send_batch=1 if crash else 10)  # fmt: skip
    clock = FakeClock(START)
    app = create_app(deployment.settings(), clock=clock, monotonic=FakeMonotonic())
    cartback: Cartback = app.state.cartback
    people = prospects()
    logs = [tmp_path / "calls-one.jsonl", tmp_path / "calls-two.jsonl"]
    specs = [
        deployment.child("one", logs[0], hold_after_email=2 if crash else None),
        deployment.child("two", logs[1]),
    ]
    ordered_at: dict[str, datetime] = {}
    withdrawn_at: dict[str, datetime] = {}
    sent_by: Counter[str] = Counter()
    held: str | None = None
    with (
        sock,
        serve(app, sock) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as http,
        dispatchers(specs) as running,
    ):
        shop = Shop(http, clock)
        for person in people:
            shop.capture(person.email, person.session, phone=person.phone,
                         consent={"sms": True, "push": True})  # fmt: skip
            device = {"email": person.email, "platform": person.platform,
                      "token": person.device, "app_id": APP_ID}  # fmt: skip
            assert shop.signed("/api/devices", device) == {"status": "registered"}
            opt_in = {"email": person.email, "platform": "messenger", "page_id": PAGE_ID,
                      "recipient_id": person.recipient}  # fmt: skip
            assert shop.signed("/api/social", opt_in) == {"status": "registered"}
        for _ in range(ROUNDS):
            answers = running.round(clock.now)
            for name, (kind, value) in answers.items():
                if kind == "done":
                    sent_by[name] += value["sent"]
            if running.holding:
                held = _crash(running)
            elapsed = clock.now - START
            for person in people:
                if (person.group, elapsed) in (("early_order", ROUND), ("late_order", 4 * ROUND)):
                    answer = shop.signed("/api/orders", {"email": person.email,
                                                          "order_id": f"o-{person.session}",
                                                          "revenue": "89.00"})  # fmt: skip
                    assert answer["status"] == "closed"
                    ordered_at[person.email] = clock.now
                if (person.group, elapsed) == ("unsubscribed", 4 * ROUND):
                    (first,) = mailbox.to(person.email)
                    shop.unsubscribe(first)
                    withdrawn_at[person.email] = clock.now
                if (person.group, elapsed) == ("no_sms", 4 * ROUND):
                    shop.capture(person.email, person.session, phone=person.phone,
                                 consent={"sms": False, "push": True})  # fmt: skip
                    assert not cartback.may_contact(person.email, "sms")
                    withdrawn_at[person.email] = clock.now
            clock.advance(seconds=ROUND.total_seconds())
        carts = {}
        for person in people:
            (cart,) = cartback.list_carts(CartQuery(email=person.email)).items
            carts[person.email] = cart.id
        records = {email: cartback.messages(cart_id) for email, cart_id in carts.items()}
        exits: dict[str, str | None] = {}
        for email, cart_id in carts.items():
            scheduled = cartback.store.enrolment(cart_id)
            assert scheduled is not None, "every cart entered the flow"
            exits[email] = (
                scheduled.enrolment.exit_reason if scheduled.enrolment.finished else "running"
            )
        pages = {email: shop.admin_cart_page(cart_id) for email, cart_id in carts.items()}
    return Run(mailbox, provider_calls(logs), carts, records, exits, pages, ordered_at,
               withdrawn_at, dict(sent_by), held)  # fmt: skip


def _crash(running: Dispatchers) -> str:
    (name, key), *_ = running.holding.items()
    running.kill(name)
    return key


def _sent(records: list[MessageRecord]) -> dict[str, MessageRecord]:
    return {r.step_id or "": r for r in records if r.status == "sent"}


def _check(run: Run, *, crash: bool) -> None:
    people = {p.email: p for p in prospects()}
    # Each message arrived once: the SMTP server by Message-ID, the APIs by key.
    arrivals = Counter(received.message_id for received in run.mailbox.received)
    keys = Counter(call["key"] for call in run.calls)
    held_header = message_id_header(run.held, DOMAIN) if run.held else None
    assert {h: n for h, n in arrivals.items() if n != 1} == ({held_header: 2} if crash else {})
    assert {k: n for k, n in keys.items() if n != 1} == {}
    expected_emails, expected_keys = set(), set()
    for email, person in people.items():
        records = run.records[email]
        # The SDK's history and the dashboard show each message once.
        ids = [r.id for r in records]
        assert len(ids) == len(set(ids))
        page = run.pages[email]
        assert page.count("data-message-id=") == len(ids)
        for record in records:
            assert page.count(f'data-message-id="{record.id}"') == 1
        # What was sent is what the group may get; nothing is left half-sent.
        sent = _sent(records)
        assert set(sent) == EXPECTED_SENT[person.group], (person.group, sorted(sent))
        assert all(r.status in ("sent", "skipped") for r in records), [r.status for r in records]
        assert run.exits[email] == EXPECTED_EXIT[person.group], (person.group, run.exits[email])
        for step, record in sent.items():
            assert record.channel == CHANNELS[step]
            assert record.attempts == (2 if record.id == run.held else 1)
            if record.channel == "email":
                expected_emails.add(message_id_header(record.id, DOMAIN))
                header = message_id_header(record.id, DOMAIN)
                arrived = [r for r in run.mailbox.to(email) if r.message_id == header]
                assert len(arrived) == (2 if record.id == run.held else 1)
            else:
                key = f"{record.id}.0" if record.channel == "push" else record.id
                expected_keys.add(key)
                (call,) = [c for c in run.calls if c["key"] == key]
                _check_call(call, record, person)
        # Nothing after an order, nothing on a withdrawn channel.
        if email in run.ordered_at:
            assert all(r.at < run.ordered_at[email] for r in sent.values())
        if person.group == "no_sms":
            (skipped,) = [r for r in records if r.step_id == "sms"]
            assert (skipped.status, skipped.reason) == ("skipped", "consent_withdrawn")
        if person.group == "unsubscribed":
            assert [r.step_id for r in records if r.channel == "email"] == ["email_1"]
    assert set(arrivals) == expected_emails  # nothing arrived that the store does not know
    assert set(keys) == expected_keys
    if not crash:  # both processes did part of the work (the killed one never answers)
        assert set(run.sent_by) == {"one", "two"}
        assert all(run.sent_by.values()), run.sent_by


def _check_call(call: dict[str, Any], record: MessageRecord, person: Prospect) -> None:
    """The API call is this prospect's, on this record's channel, with the provider-side
    id derived from the message's."""
    assert call["channel"] == record.channel
    if record.channel == "sms":
        assert call["to"] == "+1212555" + person.phone[-4:]
    elif record.channel == "push":
        assert call["provider"] == ("apns" if person.platform == "ios" else "fcm")
        assert call["device"] == person.device
        if call["provider"] == "fcm":
            assert call["message_id"] == record.id
        else:
            assert call["apns_id"]
    else:
        assert call["recipient"] == person.recipient


def test_two_dispatcher_processes_send_each_step_once_and_nothing_after_an_order(
    shop_run: Any,
) -> None:
    run = shop_run()
    assert run.held is None
    _check(run, crash=False)


def test_a_dispatcher_killed_between_send_and_record_leaves_the_rest_to_the_other(
    shop_run: Any,
) -> None:
    run = shop_run(crash=True)
    assert run.held is not None, "the first process never reached its second email"
    _check(run, crash=True)
