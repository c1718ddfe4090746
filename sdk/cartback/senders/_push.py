"""The push channel: APNs for iOS notifications, FCM for Android, web and iOS through
Firebase, behind one sender."""

from __future__ import annotations

from cartback._types import MessageChannel
from cartback.messages import ApnsNotification, FcmMessage
from cartback.senders._errors import MissingSenderError
from cartback.senders._protocol import OutgoingMessage, Sender, wrong_message
from cartback.senders._result import SendResult

__all__ = ["PushSender"]


class PushSender:
    """Routes each device's push to ``apns`` (an ``ApnsNotification``) or ``fcm`` (an
    ``FcmMessage``); a push whose provider was not given raises
    ``MissingSenderError``. Send each value ``build_push`` returned, one call per
    device, with the same idempotency key (the message id)."""

    def __init__(self, *, apns: Sender | None = None, fcm: Sender | None = None) -> None:
        self.apns = apns
        self.fcm = fcm

    @property
    def channel(self) -> MessageChannel:
        """``push``."""
        return "push"

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Send one device's push through its provider."""
        if isinstance(message, ApnsNotification):
            provider, name = self.apns, "APNs"
        elif isinstance(message, FcmMessage):
            provider, name = self.fcm, "FCM"
        else:
            wrong_message("push", message)
        if provider is None:
            raise MissingSenderError(f"the push sender has no {name} sender", channel="push")
        return provider.send(message, idempotency_key=idempotency_key)

    def close(self) -> None:
        """Close both providers' senders."""
        for provider in (self.apns, self.fcm):
            close = getattr(provider, "close", None)
            if callable(close):
                close()
