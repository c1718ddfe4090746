"""Twilio Programmable Messaging: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

The request is form-encoded (``To``, ``From`` or ``MessagingServiceSid``, ``Body``,
optionally ``StatusCallback``) with HTTP Basic auth (the Account SID and Auth Token, or
an API key's SID and secret). A created message answers 201 with its ``sid``; an error
answers a JSON body ``{"code": 21211, "message": ..., "more_info": ..., "status": 400}``
whose numeric ``code`` says what went wrong.

Twilio's Messages API takes no idempotency key: a request repeated after an unanswered
one (a timeout, a crash between Twilio's 201 and the dispatcher's record) can send the
text twice. See docs/senders.md.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Final

import httpx

from cartback._errors import ConfigurationError
from cartback.messages import SmsMessage
from cartback.senders._http import by_status, json_object, retry_after
from cartback.senders._result import SendResult

__all__ = ["TWILIO_API", "TwilioSms"]

TWILIO_API: Final = "https://api.twilio.com"
"""Twilio's REST API host."""

_PERMANENT: Final[dict[int, tuple[str, bool]]] = {
    # code: (error, the recipient is dead)
    21211: ("invalid_phone_number", True),  # invalid 'To' phone number
    21614: ("not_a_mobile_number", True),  # 'To' is not a valid mobile number
    21610: ("unsubscribed_recipient", True),  # the recipient replied STOP
    21612: ("unroutable_number", False),  # this To/From pair cannot be routed now
    21408: ("region_not_enabled", False),  # geo permissions: the shop's configuration
    21606: ("sender_not_sms_capable", False),  # 'From' cannot send SMS
    21659: ("sender_not_owned", False),  # 'From' is not a number of the account
    21608: ("unverified_recipient", False),  # a trial account, an unverified number
    21602: ("body_required", False),
    21617: ("body_too_long", False),
    20003: ("authentication_failed", False),
    20404: ("not_found", False),  # wrong Account SID or Messaging Service
}
_TRANSIENT: Final[dict[int, str]] = {
    20429: "rate_limited",
    21611: "queue_full",  # the sender's queue of outgoing messages is full
}


class TwilioSms:
    """Twilio's API shape for ``SmsSender``: ``SmsSender(TwilioSms(sid, token,
    from_number="+15005550006"))``.

    Give ``from_number`` (E.164 or an alphanumeric sender id) or
    ``messaging_service_sid``; ``api_key_sid`` makes ``auth_token`` an API key's
    secret. ``status_callback`` is the URL Twilio posts delivery statuses to.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_key_sid: str | None = None,
        status_callback: str | None = None,
        base_url: str = TWILIO_API,
    ) -> None:
        if (from_number is None) == (messaging_service_sid is None):
            raise ConfigurationError(
                "give exactly one of from_number and messaging_service_sid",
                setting="from_number",
            )
        if not account_sid or not auth_token:
            raise ConfigurationError("Twilio needs an account SID and a secret", setting="twilio")
        self.account_sid = account_sid
        user = api_key_sid or account_sid
        self._authorization = "Basic " + base64.b64encode(f"{user}:{auth_token}".encode()).decode()
        self._sender = (
            {"From": from_number}
            if from_number is not None
            else {"MessagingServiceSid": str(messaging_service_sid)}
        )
        self._callback = status_callback
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"

    def request(
        self, client: httpx.Client, message: SmsMessage, *, idempotency_key: str
    ) -> httpx.Request:
        """The form-encoded create-message request (no idempotency header exists)."""
        form = {"To": message.to, **self._sender, "Body": message.text}
        if self._callback:
            form["StatusCallback"] = self._callback
        return client.build_request(
            "POST", self.url, data=form, headers={"authorization": self._authorization}
        )

    def classify(self, response: httpx.Response, *, now: datetime) -> SendResult:
        """201 with a ``sid``: accepted. Otherwise Twilio's numeric error code decides."""
        status = response.status_code
        body = json_object(response)
        if 200 <= status < 300:
            sid = body.get("sid")
            return SendResult.accepted(sid if isinstance(sid, str) else None, status=status)
        code = body.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < 10**9:
            if code in _TRANSIENT:
                return SendResult.retry(
                    _TRANSIENT[code], retry_after=retry_after(response, now), status=status
                )
            if code in _PERMANENT:
                error, dead = _PERMANENT[code]
                return SendResult.failed(error, invalid_recipient=dead, status=status)
            if 400 <= status < 500 and status not in (408, 425, 429):
                return SendResult.failed(f"twilio_{code}", status=status)
        return by_status(response, now, "twilio")
