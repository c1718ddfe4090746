"""What a sender reports: the provider accepted the message, try again later, or give up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from cartback._errors import InvalidInputError

__all__ = ["ERROR_CODE", "SendOutcome", "SendResult"]

SendOutcome = Literal["accepted", "retry", "failed"]
"""What became of one send:

- ``accepted``: the provider took the message (that is what "sent" means: the SMTP
  server answered 250 to the message, the API answered 2xx with its message id);
- ``retry``: a transient failure (network error, timeout, 408, 429, 5xx, SMTP 4xx)
  that outlasted the sender's own few immediate retries: reschedule it;
- ``failed``: a permanent failure (invalid number, unregistered device, rejected
  credentials, a request the provider will never take): never retried.
"""

ERROR_CODE: Final = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
"""The shape of every ``SendResult.error``: lower-case letters, digits and ``_``, at most
64 characters. An email address, a ``+`` number, a sentence of provider text cannot
take it; the senders build codes from fixed words and providers' numeric codes only."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one ``Sender.send`` call.

    Frozen: a result is a fact about a send that already happened; the dispatcher
    records it as it is. Build one with ``accepted``, ``retry`` or ``failed``.
    """

    outcome: SendOutcome
    """``accepted``, ``retry`` or ``failed``."""
    error: str | None = None
    """Why it was not accepted: a stable short code (``timeout``, ``rate_limited``,
    ``unregistered``, ``invalid_phone_number``, ...); never personal data and never the
    provider's own text. ``None`` when accepted."""
    provider_id: str | None = None
    """The provider's id for the accepted message (APNs ``apns-id``, FCM message name,
    Twilio message SID, Graph API ``message_id``, the email's ``Message-ID``)."""
    retry_after: float | None = None
    """For ``retry``: the seconds the provider asked to wait (``Retry-After``), when it
    said; the dispatcher should not try again sooner."""
    invalid_recipient: bool = False
    """For ``failed``: the provider says the address, number, device token or person
    cannot be reached at all (unknown mailbox, invalid or unsubscribed number,
    unregistered token, a person who blocked the page): invalidate it."""
    attempts: int = 1
    """How many times the sender tried before returning (a request repeated at once
    with a freshly minted credential counts once)."""
    status: int | None = None
    """The provider's last status code (HTTP status or SMTP reply code), when there
    was a response."""

    def __post_init__(self) -> None:
        if self.outcome == "accepted":
            if self.error is not None or self.invalid_recipient or self.retry_after is not None:
                raise InvalidInputError(
                    "an accepted result has no error", field="error", reason="not_allowed"
                )
        elif self.error is None or not ERROR_CODE.fullmatch(self.error):
            raise InvalidInputError(
                "a result that is not accepted needs a short error code",
                field="error",
                reason="not_a_code",
            )
        if self.retry_after is not None and (self.outcome != "retry" or self.retry_after < 0):
            raise InvalidInputError(
                "retry_after is a non-negative delay of a retry",
                field="retry_after",
                reason="not_allowed",
            )
        if self.invalid_recipient and self.outcome != "failed":
            raise InvalidInputError(
                "only a failed result marks the recipient invalid",
                field="invalid_recipient",
                reason="not_allowed",
            )
        if self.attempts < 1:
            raise InvalidInputError(
                "attempts counts at least one try", field="attempts", reason="too_small"
            )

    @classmethod
    def accepted(cls, provider_id: str | None, *, status: int | None = None) -> SendResult:
        """The provider accepted the message as ``provider_id``."""
        return cls("accepted", provider_id=provider_id, status=status)

    @classmethod
    def retry(
        cls, error: str, *, retry_after: float | None = None, status: int | None = None
    ) -> SendResult:
        """A transient failure: try again later (not sooner than ``retry_after``)."""
        return cls("retry", error=error, retry_after=retry_after, status=status)

    @classmethod
    def failed(
        cls, error: str, *, invalid_recipient: bool = False, status: int | None = None
    ) -> SendResult:
        """A permanent failure, never retried; ``invalid_recipient`` when the address,
        number, token or person is dead."""
        return cls("failed", error=error, invalid_recipient=invalid_recipient, status=status)
