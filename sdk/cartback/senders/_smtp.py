"""Email over SMTP (the standard library's ``smtplib``): STARTTLS or implicit TLS,
optional AUTH, timeouts, and reply codes turned into outcomes."""

from __future__ import annotations

import copy
import re
import smtplib
import ssl
from email.message import EmailMessage
from typing import Final, Literal

from cartback._types import MessageChannel
from cartback.messages import RecoveryEmail, message_id_header
from cartback.senders._http import DEFAULT_TIMEOUT
from cartback.senders._protocol import OutgoingMessage, wrong_message
from cartback.senders._result import SendResult
from cartback.senders._retry import RetryPolicy, run_with_retries

__all__ = ["SmtpSecurity", "SmtpSender"]

SmtpSecurity = Literal["starttls", "tls", "none"]
"""How the connection is protected: ``starttls`` (port 587: plain, then upgraded with
STARTTLS, which the server must offer), ``tls`` (port 465: TLS from the first byte), or
``none`` (a relay on the same host or network only)."""

_DEFAULT_PORTS: Final[dict[SmtpSecurity, int]] = {"starttls": 587, "tls": 465, "none": 25}
_ENHANCED: Final = re.compile(rb"\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")

_Stage = Literal["connect", "starttls", "auth", "sender", "recipient", "data", "send"]


class SmtpSender:
    """Sends a ``RecoveryEmail`` through an SMTP server (a provider's submission
    endpoint or the shop's own relay), one connection per message.

    The ``Message-ID`` the builder set (from the message id) is what the server and
    every mailbox see: a resend after a crash carries the same one. 4xx replies,
    timeouts and connection failures are retried; 5xx replies fail, and an unknown
    mailbox (550/551/553, or the enhanced code 5.1.x or 5.2.1) marks the recipient
    invalid.

    ``port`` defaults to 587 for ``starttls``, 465 for ``tls`` and 25 for ``none``;
    ``username`` and ``password`` turn on AUTH (after STARTTLS); ``timeout`` bounds the
    connection and each reply; ``ssl_context`` defaults to the system's trusted CAs.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: SmtpSecurity = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.host = host
        self.port = port or _DEFAULT_PORTS[security]
        self.security: SmtpSecurity = security
        self._username = username
        self._password = password
        self._timeout = timeout
        self._context = ssl_context
        self._local_hostname = local_hostname
        self._retry = retry or RetryPolicy()

    @property
    def channel(self) -> MessageChannel:
        """``email``."""
        return "email"

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        """Hand the email to the server; accepted once it answers 250 to the message.
        ``provider_id`` is the ``Message-ID``."""
        if not isinstance(message, RecoveryEmail):
            wrong_message("email", message)
        email = _with_message_id(message.message, idempotency_key)
        return run_with_retries(lambda: self._attempt(email), self._retry)

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _attempt(self, email: EmailMessage) -> SendResult:
        stage: _Stage = "connect"
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    self._local_hostname,
                    timeout=self._timeout,
                    context=self._tls(),
                )
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, self._local_hostname, timeout=self._timeout
                )
            smtp.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                stage = "starttls"
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if self._username is not None:
                stage = "auth"
                smtp.login(self._username, self._password or "")
            stage = "send"
            smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            replies = list(error.recipients.values())
            code, text = replies[0] if replies else (550, b"")
            return _reply(code, text, "recipient")
        except smtplib.SMTPSenderRefused as error:
            return _reply(error.smtp_code, _bytes(error.smtp_error), "sender")
        except smtplib.SMTPDataError as error:
            return _reply(error.smtp_code, _bytes(error.smtp_error), "data")
        except smtplib.SMTPAuthenticationError as error:
            if 400 <= error.smtp_code < 500:
                return SendResult.retry("auth_deferred", status=error.smtp_code)
            return SendResult.failed("auth_failed", status=error.smtp_code)
        except smtplib.SMTPResponseException as error:  # greeting, HELO, STARTTLS replies
            return _reply(error.smtp_code, _bytes(error.smtp_error), stage)
        except smtplib.SMTPNotSupportedError:
            codes = {"starttls": "starttls_unsupported", "auth": "auth_unsupported"}
            return SendResult.failed(codes.get(stage, "smtputf8_unsupported"))
        except smtplib.SMTPServerDisconnected as error:  # smtplib's name for a failed read
            timed_out = isinstance(error.__context__, TimeoutError)
            return SendResult.retry("timeout" if timed_out else "disconnected")
        except smtplib.SMTPException:  # e.g. no AUTH mechanism in common
            return SendResult.failed("auth_unsupported" if stage == "auth" else "smtp_error")
        except ssl.SSLCertVerificationError:
            return SendResult.failed("tls_certificate")
        except ssl.SSLError:
            return SendResult.retry("tls_error")
        except TimeoutError:
            return SendResult.retry("timeout")
        except OSError:  # refused, reset, unreachable, DNS
            return SendResult.retry("network_error")
        finally:
            if smtp is not None:
                _close(smtp)
        return SendResult.accepted(str(email["Message-ID"]), status=250)


def _with_message_id(email: EmailMessage, idempotency_key: str) -> EmailMessage:
    """The email as built; one without a ``Message-ID`` gets the one derived from the
    idempotency key (on a copy: the caller's message is left as it was)."""
    if email["Message-ID"]:
        return email
    sender = email["From"]
    domain = str(sender.addresses[0].domain) if sender and sender.addresses else "localhost"
    with_id = copy.deepcopy(email)
    with_id["Message-ID"] = message_id_header(idempotency_key, domain or "localhost")
    return with_id


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _reply(code: int, text: bytes, stage: _Stage) -> SendResult:
    """An SMTP reply that refused the message, as an outcome."""
    if 400 <= code < 500:
        return SendResult.retry("service_unavailable" if code == 421 else "deferred", status=code)
    if not 500 <= code < 600:
        return SendResult.retry("unexpected_reply", status=code)  # 1xx/2xx/3xx out of turn
    enhanced = _ENHANCED.match(text)
    subject, detail = (int(enhanced.group(2)), int(enhanced.group(3))) if enhanced else (0, 0)
    if stage in ("recipient", "data"):
        if (subject, detail) == (2, 2) or (not enhanced and code == 552):
            return SendResult.failed("mailbox_full", status=code)
        if (
            subject == 1
            or (subject, detail) == (2, 1)
            or (not enhanced and stage == "recipient" and code in (550, 551, 553))
        ):
            return SendResult.failed("recipient_unknown", invalid_recipient=True, status=code)
        if (subject, detail) == (3, 4):
            return SendResult.failed("message_too_large", status=code)
        return SendResult.failed(
            "recipient_rejected" if stage == "recipient" else "message_rejected", status=code
        )
    if stage == "sender":
        return SendResult.failed("sender_rejected", status=code)
    if stage == "starttls":
        return SendResult.failed("starttls_refused", status=code)
    return SendResult.failed("server_rejected", status=code)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT and close, whatever the server answers: the outcome is already known."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
