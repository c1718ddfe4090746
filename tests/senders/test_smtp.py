"""The SMTP sender against a real SMTP server (aiosmtpd on loopback): what it accepts,
what it defers and refuses, TLS both ways, AUTH, timeouts, and the Message-ID a resend
carries."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cartback import ConfigurationError
from cartback.messages import build_email, message_id_header
from cartback.senders import SendResult, SmtpSender
from tests.messages.fixtures import ALL_CONSENT, SHOP, SIGNER, cart, request
from tests.senders._support import KEY, FakeTime, assert_safe, email, policy, sms
from tests.waiting import wait_until

HOST = "127.0.0.1"


class Server:
    """An aiosmtpd handler that answers RCPT and DATA from a script (250 once the script
    runs out) and keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.rcpt: list[str] = []
        self.data: list[str] = []
        self.data_calls = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.rcpt.pop(0) if self.rcpt else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_calls += 1
        reply = self.data.pop(0) if self.data else "250 2.0.0 Ok: queued"
        if reply.startswith("250"):
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[tuple[Server, int]]:
    handler = Server()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def plain(port: int, time: FakeTime, **options: Any) -> SmtpSender:
    return SmtpSender(HOST, port, security="none", timeout=5, retry=policy(time), **options)


def test_the_email_is_accepted_with_the_message_id_the_builder_set(
    server: tuple[Server, int],
) -> None:
    handler, port = server
    built = email()
    result = plain(port, FakeTime()).send(built, idempotency_key=KEY)
    assert (result.outcome, result.status, result.attempts) == ("accepted", 250, 1)
    [(sender, recipients, content)] = wait_until(lambda: handler.received, what="the email")
    arrived = message_from_bytes(content, policy=default)
    assert arrived["Message-ID"] == built.message["Message-ID"]
    assert arrived["Message-ID"] == message_id_header(KEY, "acme.example")
    assert result.provider_id == arrived["Message-ID"]
    assert (sender, recipients) == ("anna@acme.example", ["jane@example.com"])


def test_a_resend_after_a_crash_carries_the_same_message_id(server: tuple[Server, int]) -> None:
    handler, port = server
    sender = plain(port, FakeTime())
    sender.send(email(), idempotency_key=KEY)  # accepted, then the process died unrecorded
    sender.send(email(), idempotency_key=KEY)  # the dispatcher sends the step again
    arrivals = wait_until(
        lambda: handler.received if len(handler.received) == 2 else None, what="both copies"
    )
    ids = {message_from_bytes(content, policy=default)["Message-ID"] for _, _, content in arrivals}
    assert ids == {message_id_header(KEY, "acme.example")}


def test_an_email_without_message_id_gets_one_from_the_idempotency_key(
    server: tuple[Server, int],
) -> None:
    handler, port = server
    built = email()
    del built.message["Message-ID"]
    result = plain(port, FakeTime()).send(built, idempotency_key="step-42")
    assert result.outcome == "accepted"
    [(_, _, content)] = wait_until(lambda: handler.received, what="the email")
    expected = message_id_header("step-42", "acme.example")
    assert message_from_bytes(content, policy=default)["Message-ID"] == expected
    assert built.message["Message-ID"] is None  # the caller's message is left as it was


def test_a_451_then_250_is_accepted_on_the_second_attempt(server: tuple[Server, int]) -> None:
    handler, port = server
    handler.data = ["451 4.3.0 Try again later"]
    time = FakeTime()
    result = plain(port, time).send(email(), idempotency_key=KEY)
    assert (result.outcome, result.attempts) == ("accepted", 2)
    assert len(time.sleeps) == 1
    assert handler.data_calls == 2


def test_a_server_that_keeps_deferring_hands_back_a_retry(server: tuple[Server, int]) -> None:
    handler, port = server
    handler.data = ["452 4.3.1 Insufficient system storage"] * 3
    result = plain(port, FakeTime()).send(email(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.status, result.attempts) == (
        "retry",
        "deferred",
        452,
        3,
    )
    assert_safe(result)


@pytest.mark.parametrize(
    "reply",
    [
        "550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown",
        "551 User not local",
        "553 mailbox name not allowed",
        "550 5.2.1 Mailbox disabled",
    ],
)
def test_an_unknown_mailbox_fails_and_invalidates_the_address(
    server: tuple[Server, int], reply: str
) -> None:
    handler, port = server
    handler.rcpt = [reply]
    time = FakeTime()
    result = plain(port, time).send(email(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == (
        "failed",
        "recipient_unknown",
        True,
    )
    assert (result.attempts, time.sleeps, handler.received) == (1, [], [])
    assert_safe(result)


@pytest.mark.parametrize(
    ("stage", "reply", "error"),
    [
        ("rcpt", "550 5.7.1 Relaying denied", "recipient_rejected"),
        ("rcpt", "552 Mailbox full", "mailbox_full"),
        ("data", "554 5.7.1 Message rejected as spam", "message_rejected"),
        ("data", "552 5.3.4 Message too big", "message_too_large"),
    ],
)
def test_other_permanent_refusals_fail_without_invalidating(
    server: tuple[Server, int], stage: str, reply: str, error: str
) -> None:
    handler, port = server
    setattr(handler, stage if stage == "data" else "rcpt", [reply])
    result = plain(port, FakeTime()).send(email(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", error, False)


def test_a_refused_connection_is_retried_then_handed_back() -> None:
    port = free_port()  # nothing listens there
    time = FakeTime()
    result = plain(port, time).send(email(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.attempts) == ("retry", "network_error", 3)
    assert len(time.sleeps) == 2


def test_a_server_that_never_answers_times_out_as_a_retry() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never speaks
        silent.bind((HOST, 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        sender = SmtpSender(
            HOST, port, security="none", timeout=0.2, retry=policy(FakeTime(), attempts=1)
        )
        result = sender.send(email(), idempotency_key=KEY)
    assert (result.outcome, result.error) == ("retry", "timeout")


def test_another_channels_message_is_a_wiring_mistake() -> None:
    with pytest.raises(ConfigurationError):
        SmtpSender(HOST, 25).send(sms(), idempotency_key=KEY)


# -- TLS and AUTH ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cartback test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (b"shop", b"s3cret")
    return AuthResult(success=good, handled=False)


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Server, int]]:
    handler = Server()
    port = free_port()
    controller = Controller(
        handler,
        hostname=HOST,
        port=port,
        tls_context=server_tls(certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_starttls_then_auth_sends_the_email(
    starttls_server: tuple[Server, int], certificate: tuple[Path, Path]
) -> None:
    handler, port = starttls_server
    sender = SmtpSender(
        HOST,
        port,
        security="starttls",
        username="shop",
        password="s3cret",
        ssl_context=client_tls(certificate),
        retry=policy(FakeTime()),
    )
    assert sender.send(email(), idempotency_key=KEY).outcome == "accepted"
    wait_until(lambda: handler.received, what="the email")


def test_wrong_credentials_fail_as_a_configuration_error(
    starttls_server: tuple[Server, int], certificate: tuple[Path, Path]
) -> None:
    handler, port = starttls_server
    time = FakeTime()
    sender = SmtpSender(
        HOST,
        port,
        username="shop",
        password="wrong",
        ssl_context=client_tls(certificate),
        retry=policy(time),
    )
    result = sender.send(email(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.status) == ("failed", "auth_failed", 535)
    assert (time.sleeps, handler.received) == ([], [])
    assert_safe(result, "wrong", "s3cret")


def test_an_untrusted_certificate_fails(starttls_server: tuple[Server, int]) -> None:
    _, port = starttls_server
    result = SmtpSender(
        HOST, port, username="shop", password="s3cret", retry=policy(FakeTime())
    ).send(email(), idempotency_key=KEY)
    assert (result.outcome, result.error) == ("failed", "tls_certificate")


def test_starttls_is_required_when_asked_for(server: tuple[Server, int]) -> None:
    _, port = server  # offers no STARTTLS
    result = SmtpSender(HOST, port, security="starttls", retry=policy(FakeTime())).send(
        email(), idempotency_key=KEY
    )
    assert (result.outcome, result.error) == ("failed", "starttls_unsupported")


def test_implicit_tls_sends_the_email(certificate: tuple[Path, Path]) -> None:
    handler = Server()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, ssl_context=server_tls(certificate))
    controller.start()
    try:
        sender = SmtpSender(
            HOST,
            port,
            security="tls",
            ssl_context=client_tls(certificate),
            retry=policy(FakeTime()),
        )
        result = sender.send(email(), idempotency_key=KEY)
        assert result == SendResult.accepted(str(email().message["Message-ID"]), status=250)
        wait_until(lambda: handler.received, what="the email")
    finally:
        controller.stop()


def test_default_ports_follow_the_security() -> None:
    assert [SmtpSender("h", security=s).port for s in ("starttls", "tls", "none")] == [587, 465, 25]


def test_a_non_ascii_address_goes_through_smtputf8(server: tuple[Server, int]) -> None:
    handler, port = server
    built = build_email(
        request(cart(email="josé@example.com", first_name="José")),
        shop=SHOP,
        signer=SIGNER,
        consent=ALL_CONSENT,
    )
    assert plain(port, FakeTime()).send(built, idempotency_key=KEY).outcome == "accepted"
    [(_, recipients, _)] = wait_until(lambda: handler.received, what="the email")
    assert recipients == ["josé@example.com"]
