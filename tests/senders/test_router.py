"""``Senders`` finds the sender of a channel; a channel without one is a configuration
error; ``PushSender`` routes each device's push to its provider."""

from __future__ import annotations

import pytest

from cartback import ConfigurationError
from cartback._types import MessageChannel
from cartback.senders import (
    DryRunLog,
    DryRunSender,
    MissingSenderError,
    OutgoingMessage,
    PushSender,
    Sender,
    Senders,
    SendResult,
    SmtpSender,
)
from tests.senders._support import KEY, apns, email, fcm, sms


class Recorder:
    """A sender of the shop's own: anything with a channel and send()."""

    def __init__(self, channel: MessageChannel) -> None:
        self.channel: MessageChannel = channel
        self.sent: list[tuple[OutgoingMessage, str]] = []
        self.closed = False

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        self.sent.append((message, idempotency_key))
        return SendResult.accepted(f"own-{len(self.sent)}")

    def close(self) -> None:
        self.closed = True


def test_the_dispatcher_asks_for_the_sender_of_a_channel() -> None:
    own = Recorder("sms")
    smtp = SmtpSender("smtp.example", 587)
    senders = Senders(smtp, own)
    assert senders["email"] is smtp
    assert senders["sms"] is own
    assert set(senders) == {"email", "sms"}
    assert len(senders) == 2
    assert senders.send("sms", sms(), idempotency_key=KEY).provider_id == "own-1"
    assert own.sent[0][1] == KEY
    assert isinstance(own, Sender)


def test_a_channel_without_a_sender_is_a_configuration_error() -> None:
    senders = Senders(Recorder("email"))
    with pytest.raises(MissingSenderError) as raised:
        senders["push"]
    assert isinstance(raised.value, ConfigurationError)
    assert raised.value.setting == "senders.push"
    assert str(raised.value) == "no sender is configured for the push channel"
    assert senders.get("push") is None
    assert "push" not in senders
    with pytest.raises(MissingSenderError):
        senders.require(["email", "push"])
    senders.require(["email"])


def test_two_senders_for_one_channel_or_a_non_sender_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        Senders(Recorder("email"), DryRunSender("email"))
    with pytest.raises(ConfigurationError):
        Senders(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Senders(Recorder("newsletter"))  # type: ignore[arg-type]


def test_closing_the_senders_closes_each_one() -> None:
    own = Recorder("email")
    with Senders(own, DryRunSender("sms")):
        pass
    assert own.closed


def test_push_goes_to_apns_or_fcm_by_the_devices_value() -> None:
    ios, android = Recorder("push"), Recorder("push")
    push = PushSender(apns=ios, fcm=android)
    push.send(apns(), idempotency_key=KEY)
    push.send(fcm(), idempotency_key=KEY)
    push.send(fcm("web"), idempotency_key=KEY)
    assert [type(m).__name__ for m, _ in ios.sent] == ["ApnsNotification"]
    assert [type(m).__name__ for m, _ in android.sent] == ["FcmMessage", "FcmMessage"]
    push.close()
    assert ios.closed
    assert android.closed


def test_a_push_whose_provider_is_missing_is_a_configuration_error() -> None:
    with pytest.raises(MissingSenderError):
        PushSender(fcm=Recorder("push")).send(apns(), idempotency_key=KEY)
    with pytest.raises(ConfigurationError):
        PushSender(fcm=Recorder("push")).send(email(), idempotency_key=KEY)


def test_a_dry_run_for_some_channels_shares_one_log() -> None:
    log = DryRunLog()
    senders = Senders.dry_run(["email", "sms"], log=log)
    senders.send("email", email(), idempotency_key="a")
    senders.send("sms", sms(), idempotency_key="b")
    assert [r.channel for r in log.records] == ["email", "sms"]
    assert senders.get("push") is None
