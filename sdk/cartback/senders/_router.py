"""``Senders``: the sender of each channel, for the dispatcher to ask."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

from cartback._clock import Clock, system_clock
from cartback._errors import ConfigurationError
from cartback._types import MESSAGE_CHANNELS, MessageChannel
from cartback.senders._dry_run import DryRunLog, DryRunSender
from cartback.senders._errors import MissingSenderError
from cartback.senders._protocol import OutgoingMessage, Sender
from cartback.senders._result import SendResult

__all__ = ["Senders"]


class Senders(Mapping[MessageChannel, Sender]):
    """A read-only mapping from channel to its sender, built from the senders
    themselves (each says its channel): ``Senders(SmtpSender(...),
    SmsSender(TwilioSms(...)), PushSender(apns=..., fcm=...))``.

    Asking for a channel without a sender raises ``MissingSenderError`` (a
    ``ConfigurationError``, and a ``KeyError``); two senders for one channel are a
    ``ConfigurationError`` at once. ``require`` checks at start-up that the flows'
    channels are all covered.
    """

    def __init__(self, *senders: Sender) -> None:
        by_channel: dict[MessageChannel, Sender] = {}
        for sender in senders:
            if not isinstance(sender, Sender):
                raise ConfigurationError(
                    f"{type(sender).__name__} is not a sender", setting="senders"
                )
            channel = sender.channel
            if channel not in MESSAGE_CHANNELS:
                raise ConfigurationError(
                    "a sender serves one of the message channels", setting="senders"
                )
            if channel in by_channel:
                raise ConfigurationError(
                    f"two senders for the {channel} channel", setting=f"senders.{channel}"
                )
            by_channel[channel] = sender
        self._senders = by_channel

    @classmethod
    def dry_run(
        cls,
        channels: Iterable[MessageChannel] = MESSAGE_CHANNELS,
        *,
        log: DryRunLog | str | Path | None = None,
        clock: Clock = system_clock,
    ) -> Senders:
        """A dry-run sender for each of ``channels``, sharing one ``DryRunLog`` (or a
        new one appending to the file at ``log``)."""
        shared = log if isinstance(log, DryRunLog) else DryRunLog(log)
        return cls(*(DryRunSender(channel, log=shared, clock=clock) for channel in channels))

    def __getitem__(self, channel: MessageChannel) -> Sender:
        try:
            return self._senders[channel]
        except KeyError:
            raise MissingSenderError(
                f"no sender is configured for the {channel} channel", channel=channel
            ) from None

    def __iter__(self) -> Iterator[MessageChannel]:
        return iter(self._senders)

    def __len__(self) -> int:
        return len(self._senders)

    def require(self, channels: Iterable[MessageChannel]) -> None:
        """Raise ``MissingSenderError`` for the first of ``channels`` without a sender
        (call it with the channels of the flows you run, before the first tick)."""
        for channel in channels:
            self[channel]

    def send(
        self, channel: MessageChannel, message: OutgoingMessage, *, idempotency_key: str
    ) -> SendResult:
        """Send ``message`` through the sender of ``channel``."""
        return self[channel].send(message, idempotency_key=idempotency_key)

    def close(self) -> None:
        """Close every sender that holds connections."""
        for sender in self._senders.values():
            close = getattr(sender, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Senders:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
