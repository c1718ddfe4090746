"""The demo's own world: a clock that runs fast, and a mailbox on loopback.

``python -m server_example`` (the README's demo command) shows recovery end to end:
a prospect leaves the demo shop; with time running ``speed`` times faster (3 hours in
30 seconds by default) the conversational email arrives in a real local SMTP server
(aiosmtpd), shown at ``/mailbox`` and linked from the dashboard; its recovery link
reopens the pre-filled order form, and buying stops the flow.
"""

from __future__ import annotations

import email.policy
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

from cartback.senders import SmtpSender

__all__ = ["DemoClock", "Mailbox", "ReceivedEmail"]


class DemoClock:
    """UTC time that runs ``speed`` times faster than the wall clock, from now."""

    def __init__(self, speed: float = 360.0) -> None:
        self.speed = speed
        self._start = datetime.now(UTC)
        self._monotonic = time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._monotonic) * self.speed)


@dataclass(frozen=True)
class ReceivedEmail:
    """One email the mailbox received."""

    number: int
    """Its position in the mailbox, from 1."""
    received_at: datetime
    """When it arrived (the demo clock's time)."""
    message: EmailMessage
    """The email as parsed (headers, text and HTML parts)."""

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    @property
    def sender(self) -> str:
        return str(self.message.get("From", ""))

    def part(self, subtype: str) -> str:
        """The ``text/<subtype>`` part's content ("" when absent)."""
        body = self.message.get_body(preferencelist=(subtype,))
        return str(body.get_content()) if body is not None else ""


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._mailbox._receive(bytes(envelope.original_content or envelope.content))
        return "250 OK"


class Mailbox:
    """A real SMTP server on 127.0.0.1 that keeps what it receives, in memory."""

    def __init__(self, clock: DemoClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._emails: list[ReceivedEmail] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        """Start listening."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def sender(self) -> SmtpSender:
        """An SMTP sender that delivers here."""
        return SmtpSender("127.0.0.1", self.port, security="none", timeout=5.0)

    def _receive(self, raw: bytes) -> None:
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self._emails.append(ReceivedEmail(len(self._emails) + 1, self._clock(), parsed))

    @property
    def emails(self) -> tuple[ReceivedEmail, ...]:
        """What arrived, newest first."""
        with self._lock:
            return tuple(reversed(self._emails))

    def email(self, number: int) -> ReceivedEmail | None:
        """One email by its number."""
        with self._lock:
            return self._emails[number - 1] if 0 < number <= len(self._emails) else None
