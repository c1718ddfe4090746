"""Channel senders: one small interface (``Sender``: a ``channel`` and ``send``) over
SMTP, SMS APIs, APNs, FCM and Meta's Graph API, plus a dry run, and ``Senders`` to find
the sender of a channel.

A sender turns one built message (see ``cartback.messages``) into a ``SendResult``:
``accepted`` (the provider took it), ``retry`` (transient, after a few bounded
immediate retries) or ``failed`` (permanent, with ``invalid_recipient`` when the
address, number, device or person is dead). See docs/senders.md.
"""

from cartback.senders._apns import APNS_HOSTS, ApnsEnvironment, ApnsProviderToken, ApnsSender
from cartback.senders._dry_run import (
    DryRunKind,
    DryRunLog,
    DryRunRecord,
    DryRunSender,
    dry_run_provider_id,
)
from cartback.senders._errors import AccessTokenError, MissingSenderError
from cartback.senders._fcm import FCM_API, FcmSender
from cartback.senders._google import (
    FCM_SCOPE,
    GOOGLE_TOKEN_URI,
    AccessTokenProvider,
    ServiceAccountTokens,
)
from cartback.senders._graph import GRAPH_API, GRAPH_API_VERSION, appsecret_proof
from cartback.senders._http import DEFAULT_TIMEOUT
from cartback.senders._meta import MetaSender
from cartback.senders._protocol import OutgoingMessage, Sender
from cartback.senders._push import PushSender
from cartback.senders._result import ERROR_CODE, SendOutcome, SendResult
from cartback.senders._retry import RetryPolicy, parse_retry_after
from cartback.senders._router import Senders
from cartback.senders._sms import SmsApi, SmsSender
from cartback.senders._smtp import SmtpSecurity, SmtpSender
from cartback.senders._twilio import TWILIO_API, TwilioSms

__all__ = [
    "APNS_HOSTS",
    "DEFAULT_TIMEOUT",
    "ERROR_CODE",
    "FCM_API",
    "FCM_SCOPE",
    "GOOGLE_TOKEN_URI",
    "GRAPH_API",
    "GRAPH_API_VERSION",
    "TWILIO_API",
    "AccessTokenError",
    "AccessTokenProvider",
    "ApnsEnvironment",
    "ApnsProviderToken",
    "ApnsSender",
    "DryRunKind",
    "DryRunLog",
    "DryRunRecord",
    "DryRunSender",
    "FcmSender",
    "MetaSender",
    "MissingSenderError",
    "OutgoingMessage",
    "PushSender",
    "RetryPolicy",
    "SendOutcome",
    "SendResult",
    "Sender",
    "Senders",
    "ServiceAccountTokens",
    "SmsApi",
    "SmsSender",
    "SmtpSecurity",
    "SmtpSender",
    "TwilioSms",
    "appsecret_proof",
    "dry_run_provider_id",
    "parse_retry_after",
]
