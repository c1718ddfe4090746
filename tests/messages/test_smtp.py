"""A built email goes through a real SMTP server (aiosmtpd on loopback) unchanged."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from cartback.messages import build_email
from tests.messages.fixtures import ALL_CONSENT, CARTS, SHOP, SIGNER, cart, request
from tests.waiting import wait_until


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def send(message: EmailMessage, port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(message)


def test_the_conversational_email_is_accepted_and_arrives_intact(
    smtp_server: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_server
    built = build_email(request(CARTS["named"]), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    send(built.message, port)
    [(sender, recipients, content)] = wait_until(lambda: inbox.received, what="the email")
    assert sender == "anna@acme.example"
    assert recipients == ["jane@example.com"]
    arrived = message_from_bytes(content, policy=default)
    assert isinstance(arrived, EmailMessage)
    for header in ("Subject", "From", "To", "Reply-To", "Message-ID", "List-Unsubscribe",
                   "List-Unsubscribe-Post", "Date"):  # fmt: skip
        assert arrived[header] == built.message[header], header
    text = arrived.get_body(("plain",))
    assert text is not None
    assert built.links.recovery in text.get_content().replace("\r\n", "\n")


def test_a_non_ascii_address_goes_through_smtputf8(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    unicode_cart = cart(email="josé@example.com", first_name="José")
    built = build_email(request(unicode_cart), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)
    send(built.message, port)
    [(_, recipients, _)] = wait_until(lambda: inbox.received, what="the email")
    assert recipients == ["josé@example.com"]
