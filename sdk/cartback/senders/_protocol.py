"""The one small interface every channel sender implements."""

from __future__ import annotations

from typing import NoReturn, Protocol, runtime_checkable

from cartback._errors import ConfigurationError
from cartback._types import MessageChannel
from cartback.messages import (
    ApnsNotification,
    AudienceEvent,
    FcmMessage,
    RecoveryEmail,
    SmsMessage,
    SocialMessage,
)
from cartback.senders._result import SendResult

__all__ = ["OutgoingMessage", "Sender", "wrong_message"]

OutgoingMessage = (
    RecoveryEmail | SmsMessage | ApnsNotification | FcmMessage | SocialMessage | AudienceEvent
)
"""What the message builders make and a sender sends: an email, a text, one device's
push (APNs or FCM), a Messenger or Instagram message, or an audience event."""


@runtime_checkable
class Sender(Protocol):
    """Delivers one built message on one channel.

    ``send`` never raises for anything the provider or the network does: it returns a
    ``SendResult``. It raises only for a wiring mistake (a message of another channel,
    a sender that was not configured for this kind of message), as
    ``ConfigurationError``. Each sender retries a few times at once (see
    ``RetryPolicy``) and returns ``retry`` beyond that, for the dispatcher to reschedule.
    """

    @property
    def channel(self) -> MessageChannel:
        """The channel this sender serves."""
        ...

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Send ``message``; ``idempotency_key`` is the message's id, the same on every
        attempt and every resend of this message (after a crash too)."""
        ...


def wrong_message(channel: str, message: object) -> NoReturn:
    """Refuse a message a sender cannot send (a wiring mistake, not a provider failure)."""
    raise ConfigurationError(
        f"the {channel} sender cannot send a {type(message).__name__}",
        setting=f"senders.{channel}",
    )
