"""The dispatcher on every backend: carts enter their flow, the conversational email goes
out three hours later exactly once, guards skip and defer with reasons, an order or a
withdrawal ends the flow, retries wait and give up, two dispatchers never send one step
twice, and a crash between send and record sends again under the same id."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import pytest

from cartback import Cartback, ConfigurationError, Store
from cartback._dispatcher import Dispatcher, message_id
from cartback.flows import conversational_flow
from cartback.senders import SendResult
from tests.conftest import FakeClock
from tests.sdk._support import outbox
from tests.store.recovery_support import (
    FakeSender,
    Result,
    capture,
    make_dispatcher,
    run,
)


def test_the_conversational_email_goes_out_three_hours_after_abandonment_once(
    client: Cartback, dispatcher: Dispatcher, sender: FakeSender, clock: FakeClock, store: Store
) -> None:
    clock.now = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 09:00 in New York
    cart_id = capture(client, fields={"first_name": "Jane", "zip": "10001"})
    dispatcher.tick()
    assert sender.sent == []
    clock.advance(hours=2, minutes=59)
    dispatcher.tick()
    assert sender.sent == []
    clock.advance(minutes=1)
    dispatcher.tick()
    ((key, email),) = sender.sent
    parsed = message_from_bytes(email.message.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "You had started your order…"
    assert parsed["To"] == "Jane <alice@example.com>"
    run(dispatcher, clock, hours=24)
    assert len(sender.sent) == 1  # never twice
    (record,) = client.messages(cart_id)
    assert (record.status, record.channel, record.step_id, record.attempts) == (
        "sent",
        "email",
        record.step_id,
        1,
    )
    assert record.id == key
    assert "message.sent" in [event.type for event in outbox(store)]
    scheduled = store.enrolment(cart_id)
    assert scheduled is not None
    assert scheduled.enrolment.finished
    assert scheduled.due_at is None


def test_an_order_before_the_email_ends_the_flow_and_nothing_is_sent(
    client: Cartback, dispatcher: Dispatcher, sender: FakeSender, clock: FakeClock, store: Store
) -> None:
    cart_id = capture(client)
    dispatcher.tick()
    clock.advance(hours=1)
    client.mark_ordered(email="alice@example.com", order_id="o-1")
    report = run(dispatcher, clock, hours=6)
    assert sender.sent == []
    assert report.reasons.get("ordered") == 1
    scheduled = store.enrolment(cart_id)
    assert scheduled is not None
    assert scheduled.enrolment.exit_reason == "ordered"


def test_withdrawn_email_consent_skips_the_step_with_its_reason(
    client: Cartback, dispatcher: Dispatcher, sender: FakeSender, clock: FakeClock
) -> None:
    cart_id = capture(client)
    client.record_consent("alice@example.com", "email", "withdrawn")
    run(dispatcher, clock, hours=5)
    assert sender.sent == []
    records = client.messages(cart_id)
    assert [r.status for r in records] in ([], ["skipped"])


def test_a_prospect_outside_the_us_and_canada_has_no_email_by_default(
    client: Cartback, dispatcher: Dispatcher, sender: FakeSender, clock: FakeClock
) -> None:
    cart_id = capture(client, email="gb@example.com", country="GB")
    run(dispatcher, clock, hours=5)
    assert sender.sent == []
    (record,) = client.messages(cart_id)
    assert (record.status, record.reason) == ("skipped", "no_consent")


def test_quiet_hours_defer_the_email_to_the_morning_and_say_so(
    client: Cartback, dispatcher: Dispatcher, sender: FakeSender, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 20:00 in New York
    cart_id = capture(client, fields={"phone": "+1 212 555 0142"})
    run(dispatcher, clock, hours=4)
    assert sender.sent == []
    (deferred,) = client.messages(cart_id)
    assert (deferred.status, deferred.reason) == ("deferred", "quiet_hours")
    run(dispatcher, clock, hours=10)
    assert len(sender.sent) == 1
    (sent,) = client.messages(cart_id)
    assert sent.status == "sent"
    assert sent.at.astimezone(UTC).hour >= 13  # 08:00 in New York or later


def test_a_provider_asking_to_retry_waits_then_succeeds(client: Cartback, clock: FakeClock) -> None:
    sender = FakeSender(script=[Result("retry", error="smtp_451", retry_after=600)])
    dispatcher = make_dispatcher(client, sender)
    cart_id = capture(client)
    run(dispatcher, clock, hours=3.1)
    assert len(sender.sent) == 1
    (record,) = client.messages(cart_id)
    assert (record.status, record.reason) == ("deferred", "smtp_451")
    run(dispatcher, clock, hours=1)
    assert len(sender.sent) == 2
    assert sender.sent[0][0] == sender.sent[1][0]  # the same id both times
    (record,) = client.messages(cart_id)
    assert (record.status, record.attempts) == ("sent", 2)


def test_a_provider_that_keeps_failing_is_given_up_after_max_attempts(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    sender = FakeSender(script=[Result("retry", error="http_503")] * 10)
    dispatcher = make_dispatcher(client, sender, max_attempts=3)
    cart_id = capture(client)
    run(dispatcher, clock, hours=12, step_minutes=15)
    assert len(sender.sent) == 3
    (record,) = client.messages(cart_id)
    assert (record.status, record.reason) == ("failed", "gave_up:http_503")
    assert "message.failed" in [event.type for event in outbox(store)]


def test_a_permanent_failure_is_recorded_and_never_retried(
    client: Cartback, clock: FakeClock
) -> None:
    sender = FakeSender(script=[Result("failed", error="smtp_550", invalid_recipient=True)])
    dispatcher = make_dispatcher(client, sender)
    cart_id = capture(client)
    run(dispatcher, clock, hours=30)
    assert len(sender.sent) == 1
    (record,) = client.messages(cart_id)
    assert (record.status, record.reason) == ("failed", "smtp_550")


def test_a_crash_between_send_and_record_sends_again_under_the_same_id(
    client: Cartback, store: Store, sender: FakeSender, clock: FakeClock
) -> None:
    class Crash(BaseException):  # not caught by the dispatcher: the process is gone
        pass

    crashing = FakeSender()
    original = crashing.send

    def send_then_crash(message: Any, *, idempotency_key: str) -> SendResult:
        original(message, idempotency_key=idempotency_key)
        raise Crash  # the process dies after the provider accepted, before recording

    crashing.send = send_then_crash  # type: ignore[method-assign]
    first = make_dispatcher(client, crashing)
    cart_id = capture(client)
    clock.advance(hours=3)
    with pytest.raises(Crash):
        first.tick()
    (record,) = client.messages(cart_id)
    assert record.status == "sending"
    second = make_dispatcher(client, sender, owner="d2")
    assert second.tick().planned == 0  # the dead dispatcher's lease still holds
    clock.advance(minutes=2)  # and then it expires
    run(second, clock, hours=1)
    assert [key for key, _ in sender.sent] == [crashing.sent[0][0]]
    (record,) = client.messages(cart_id)
    assert (record.status, record.attempts) == ("sent", 2)


def test_two_dispatchers_ticking_at_once_send_each_step_once(
    client: Cartback, store: Store, open_again: Callable[[], Store], clock: FakeClock
) -> None:
    sender = FakeSender()
    other = Cartback(open_again(), clock=clock)
    one, two = (
        make_dispatcher(client, sender, owner="one"),
        make_dispatcher(other, sender, owner="two"),
    )
    for index in range(30):
        capture(client, email=f"p{index}@example.com")
    one.tick()
    clock.advance(hours=3, minutes=1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def tick(dispatcher: Dispatcher) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                dispatcher.tick()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=tick, args=(d,)) for d in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    keys = [key for key, _ in sender.sent]
    assert len(keys) == 30
    assert len(set(keys)) == 30


def test_a_reply_pauses_the_flow_until_staff_resume_it(
    client: Cartback, dispatcher: Dispatcher, sender: FakeSender, clock: FakeClock
) -> None:
    cart_id = capture(client)
    dispatcher.tick()
    clock.advance(hours=1)
    client.record_reply("alice@example.com", "email", "Can I pay by bank transfer?")
    run(dispatcher, clock, hours=4)
    assert sender.sent == []
    assert [r.text for r in client.replies("alice@example.com")] == ["Can I pay by bank transfer?"]
    assert client.resume_flow(cart_id)
    run(dispatcher, clock, hours=1)
    assert len(sender.sent) == 1


def test_stop_by_sms_withdraws_sms_consent(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    cart_id = capture(client, fields={"phone": "+1 415 555 2671"}, consent={"sms": True})
    cart = client.get_cart(cart_id)
    from cartback import Changes

    store.write(
        lambda tx: tx.apply(
            Changes(sms_numbers=((cart.contact.phone or "", "alice@example.com", clock.now),))
        )
    )
    assert client.may_contact("alice@example.com", "sms")
    event = client.record_sms_reply("+14155552671", "  stop ")
    assert event is not None
    assert not client.may_contact("alice@example.com", "sms")
    reply = client.record_sms_reply("+14155552671", "what's the price?")
    assert reply is not None
    assert getattr(reply, "text", None) == "what's the price?"
    assert client.record_sms_reply("+14155550000", "STOP") is None


def test_the_message_id_is_stable_per_cart_flow_version_and_step(client: Cartback) -> None:
    cart_id = capture(client)
    from cartback.flows import enrol

    enrolment = enrol(client.get_cart(cart_id), conversational_flow())
    assert message_id(enrolment, "email") == message_id(enrolment, "email")
    assert message_id(enrolment, "email") != message_id(enrolment, "other")


class CountingStore:
    """``store`` with a count of the per-cart and per-prospect reads made through it."""

    PER_ITEM = ("get_cart", "consent_events", "messages", "activities", "devices", "enrolment")

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if name in self.PER_ITEM or name in ("get_carts", "prospect_data"):
            self.calls.setdefault(name, 0)

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return value(*args, **kwargs)

            return counted
        return value


@pytest.mark.parametrize("due", [3, 30])
def test_a_tick_reads_what_is_due_in_a_few_queries_whatever_its_number(
    store: Store, clock: FakeClock, sender: FakeSender, due: int
) -> None:
    counting = CountingStore(store)
    client = Cartback(store=counting, clock=clock)
    dispatcher = make_dispatcher(client, sender)
    clock.now = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    for n in range(due):
        capture(client, email=f"p{n}@example.com")
    dispatcher.tick()  # enrols them
    clock.advance(hours=3)
    counting.calls.clear()
    report = dispatcher.tick()
    assert (report.planned, report.sent) == (due, due)
    assert counting.calls.get("get_carts") == 1
    assert counting.calls.get("prospect_data") == 1
    assert not any(counting.calls.get(name) for name in CountingStore.PER_ITEM)


class _MidTick(FakeSender):
    """Accepts; on its first hand-over, ``change`` runs on every other prospect (an
    order or a withdrawal arriving while the tick is still sending)."""

    def __init__(self, change: Callable[[str], object], prospects: list[str]) -> None:
        super().__init__()
        self.change = change
        self.prospects = prospects

    def send(self, message: Any, *, idempotency_key: str) -> SendResult:
        if not self.sent:
            to = str(message.message["To"])
            for prospect in self.prospects:
                if prospect not in to:
                    self.change(prospect)
        return super().send(message, idempotency_key=idempotency_key)


@pytest.mark.parametrize("change", ["order", "withdrawal"])
def test_an_order_or_withdrawal_arriving_mid_tick_stops_the_sends_still_ahead(
    client: Cartback, store: Store, clock: FakeClock, change: str
) -> None:
    prospects = [f"p{n}@example.com" for n in range(3)]

    def arrive(prospect: str) -> object:
        if change == "order":
            return client.mark_ordered(email=prospect, order_id=f"o-{prospect}")
        return client.record_consent(prospect, "email", "withdrawn")

    sender = _MidTick(arrive, prospects)
    dispatcher = make_dispatcher(client, sender, send_batch=1)  # checked before every send
    cart_ids = [capture(client, email=prospect) for prospect in prospects]
    dispatcher.tick()
    clock.advance(hours=3, minutes=1)
    dispatcher.tick()  # all three are due in this one tick; the first send brings the news
    run(dispatcher, clock, hours=2)
    assert len(sender.sent) == 1
    statuses = sorted([r.status for cart_id in cart_ids for r in client.messages(cart_id)])
    assert statuses == ["sent"]  # the others never reached "sending"
    exits = []
    for cart_id in cart_ids:
        scheduled = store.enrolment(cart_id)
        assert scheduled is not None
        exits.append(scheduled.enrolment.exit_reason)
    reason = "ordered" if change == "order" else "consent_withdrawn"
    assert sorted(exits, key=str) == sorted(["completed", reason, reason], key=str)


def test_within_a_send_batch_the_news_stops_only_the_later_batches(
    client: Cartback, store: Store, clock: FakeClock
) -> None:
    """``send_batch=2``: the live carts are checked as each batch's ``sending`` records
    are committed, so an order arriving during the first batch stops the second."""
    prospects = [f"b{n}@example.com" for n in range(3)]
    sender = _MidTick(lambda p: client.mark_ordered(email=p, order_id=f"o-{p}"), prospects)
    dispatcher = make_dispatcher(client, sender, send_batch=2)
    for prospect in prospects:
        capture(client, email=prospect)
    dispatcher.tick()
    clock.advance(hours=3, minutes=1)
    report = dispatcher.tick()
    assert len(sender.sent) == 2  # the first batch went out whole
    assert report.reasons.get("changed_before_send") == 1
    run(dispatcher, clock, hours=2)
    assert len(sender.sent) == 2  # and nothing more after the order


def test_a_send_batch_below_one_is_refused(dispatcher: Dispatcher) -> None:
    with pytest.raises(ConfigurationError) as caught:
        dataclasses.replace(dispatcher.settings, send_batch=0)
    assert caught.value.setting == "send_batch"
