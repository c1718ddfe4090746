"""The dry run records what would have gone out, on every channel, and sends nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cartback import ConfigurationError
from cartback.senders import DryRunLog, DryRunSender, Senders, dry_run_provider_id
from tests.conftest import FakeClock
from tests.senders._support import KEY, apns, audience, email, fcm, sms, social


def test_every_channel_is_accepted_and_recorded_with_an_id_from_the_key(tmp_path: Path) -> None:
    clock = FakeClock()
    senders = Senders.dry_run(log=tmp_path / "outbox.jsonl", clock=clock)
    sent = [
        ("email", email()),
        ("sms", sms()),
        ("push", apns()),
        ("push", fcm()),
        ("messenger", social()),
        ("instagram", social("instagram")),
        ("instagram", audience()),
    ]
    for index, (channel, message) in enumerate(sent):
        result = senders.send(channel, message, idempotency_key=f"{KEY}-{index}")  # type: ignore[arg-type]
        assert result.outcome == "accepted"
        assert result.provider_id == dry_run_provider_id(f"{KEY}-{index}")
    log = senders["email"].log  # type: ignore[attr-defined]
    assert [(r.channel, r.kind) for r in log.records] == [
        ("email", "email"),
        ("sms", "sms"),
        ("push", "apns"),
        ("push", "fcm"),
        ("messenger", "social"),
        ("instagram", "social"),
        ("instagram", "audience"),
    ]
    assert all(record.at == clock.now for record in log.records)
    lines = [json.loads(line) for line in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert [line["idempotency_key"] for line in lines] == [f"{KEY}-{i}" for i in range(7)]


def test_a_record_holds_what_the_provider_would_have_received() -> None:
    log = DryRunLog()
    built = email()
    DryRunSender("email", log=log).send(built, idempotency_key=KEY)
    [record] = log.records
    assert record.content["to"] == str(built.message["To"])
    assert record.content["message_id"] == built.message["Message-ID"]
    assert built.links.recovery in record.content["text"]
    text = sms()
    DryRunSender("sms", log=log).send(text, idempotency_key=KEY)
    assert log.records[1].content == {"to": text.to, "text": text.text, "segments": text.segments}
    DryRunSender("instagram", log=log).send(audience(), idempotency_key=KEY)
    assert "jane" not in log.records[2].to_json()  # an audience event holds hashes only


def test_the_same_key_gives_the_same_provider_id_and_both_sends_are_seen() -> None:
    sender = DryRunSender("sms")
    first = sender.send(sms(), idempotency_key=KEY)
    again = sender.send(sms(), idempotency_key=KEY)
    assert first.provider_id == again.provider_id != dry_run_provider_id("other")
    assert [r.idempotency_key for r in sender.log.records] == [KEY, KEY]
    sender.log.clear()
    assert sender.log.records == ()


def test_a_message_of_another_channel_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        DryRunSender("sms").send(email(), idempotency_key=KEY)
    with pytest.raises(ConfigurationError):
        DryRunSender("messenger").send(social("instagram"), idempotency_key=KEY)
    with pytest.raises(ConfigurationError):
        DryRunSender("email").send("not a message", idempotency_key=KEY)  # type: ignore[arg-type]
