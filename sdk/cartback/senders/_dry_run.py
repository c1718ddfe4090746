"""A sender that sends nothing: it records what would have gone out."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cartback._clock import Clock, system_clock
from cartback._types import MessageChannel
from cartback.messages import (
    ApnsNotification,
    AudienceEvent,
    FcmMessage,
    RecoveryEmail,
    SmsMessage,
    SocialMessage,
)
from cartback.senders._protocol import OutgoingMessage, wrong_message
from cartback.senders._result import SendResult

__all__ = ["DryRunKind", "DryRunLog", "DryRunRecord", "DryRunSender", "dry_run_provider_id"]

DryRunKind = Literal["email", "sms", "apns", "fcm", "social", "audience"]
"""What kind of value was recorded."""

_KINDS: dict[MessageChannel, frozenset[DryRunKind]] = {
    "email": frozenset({"email"}),
    "sms": frozenset({"sms"}),
    "push": frozenset({"apns", "fcm"}),
    "messenger": frozenset({"social", "audience"}),
    "instagram": frozenset({"social", "audience"}),
}


@dataclass(frozen=True, slots=True)
class DryRunRecord:
    """One message that would have gone out. Frozen: a record of the past."""

    channel: MessageChannel
    """The channel it was given to."""
    kind: DryRunKind
    """``email``, ``sms``, ``apns``, ``fcm``, ``social`` or ``audience``."""
    idempotency_key: str
    """The key it was sent with (the message id)."""
    provider_id: str
    """The id the dry run answered with (derived from the key)."""
    at: datetime
    """When it was recorded (UTC)."""
    content: dict[str, Any]
    """What the provider would have received: for an email its envelope headers
    (``from``, ``to``, ``subject``, ``message_id``) and text body; for a text ``to``
    and ``text``; for a push the device token, headers and payload; for a social
    message the Send API body; for an audience event its hashes. It holds exactly the
    personal data the message holds (an address, a number, a name in the text)."""

    def to_json(self) -> str:
        """The record as one line of JSON."""
        data = {
            "channel": self.channel,
            "kind": self.kind,
            "idempotency_key": self.idempotency_key,
            "provider_id": self.provider_id,
            "at": self.at.isoformat(),
            "content": self.content,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


class DryRunLog:
    """Where dry-run senders keep their records: in memory, and appended as JSON lines
    to ``path`` when one is given (the file then holds the messages' personal data:
    keep it where you keep the database). Safe to share between threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._records: list[DryRunRecord] = []
        self._lock = threading.Lock()

    @property
    def records(self) -> tuple[DryRunRecord, ...]:
        """Every record, oldest first."""
        with self._lock:
            return tuple(self._records)

    def append(self, record: DryRunRecord) -> None:
        """Keep ``record`` (and append it to the file)."""
        with self._lock:
            self._records.append(record)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(record.to_json() + "\n")

    def clear(self) -> None:
        """Forget the records kept in memory (the file is left as it is)."""
        with self._lock:
            self._records.clear()


def dry_run_provider_id(idempotency_key: str) -> str:
    """The provider id a dry run answers for ``idempotency_key``: the same key always
    gives the same id."""
    return "dry-run-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class DryRunSender:
    """Accepts every message of its channel and records it in ``log``; sends nothing.

    For development, demos and staging, and for a shop that wants to watch a flow
    before it reaches anyone. Always ``accepted``, with ``dry_run_provider_id(key)``.
    """

    def __init__(
        self,
        channel: MessageChannel,
        *,
        log: DryRunLog | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._channel: MessageChannel = channel
        self.log = log or DryRunLog()
        self._clock = clock

    @property
    def channel(self) -> MessageChannel:
        """The channel it stands in for."""
        return self._channel

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Record the message; accepted."""
        described = _describe(message)
        if described is None:
            wrong_message(self._channel, message)
        kind, content = described
        if kind not in _KINDS[self._channel] or (
            isinstance(message, SocialMessage | AudienceEvent) and message.platform != self._channel
        ):
            wrong_message(self._channel, message)
        provider_id = dry_run_provider_id(idempotency_key)
        self.log.append(
            DryRunRecord(
                channel=self._channel,
                kind=kind,
                idempotency_key=idempotency_key,
                provider_id=provider_id,
                at=self._clock(),
                content=content,
            )
        )
        return SendResult.accepted(provider_id)


def _describe(message: object) -> tuple[DryRunKind, dict[str, Any]] | None:
    if isinstance(message, RecoveryEmail):
        email = message.message
        text = email.get_body(("plain",))
        return "email", {
            "from": str(email["From"]),
            "to": str(email["To"]),
            "subject": str(email["Subject"]),
            "message_id": str(email["Message-ID"]),
            "text": text.get_content() if text is not None else None,
        }
    if isinstance(message, SmsMessage):
        return "sms", {"to": message.to, "text": message.text, "segments": message.segments}
    if isinstance(message, ApnsNotification):
        return "apns", {
            "device_token": message.device.token,
            "headers": dict(message.headers),
            "payload": message.payload,
        }
    if isinstance(message, FcmMessage):
        return "fcm", {"message": message.message}
    if isinstance(message, SocialMessage):
        return "social", {"page_id": message.page_id, "body": message.body}
    if isinstance(message, AudienceEvent):
        return "audience", {
            "audience_id": message.audience_id,
            "email_sha256": message.email_sha256,
            "phone_sha256": message.phone_sha256,
        }
    return None
