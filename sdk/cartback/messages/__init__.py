"""Recovery messages: pure builders that turn a cart, its consent and the shop's settings
into ready-to-send values for each channel (email, SMS, app push, Messenger, Instagram).

Builders take values and return values; they send nothing and store nothing. A builder
that will not build a message raises ``MessageRefusedError`` with a stable ``reason``.
See docs/messages/ for each channel.
"""

from cartback._errors import MessageRefusedError
from cartback.messages._context import TROUBLESHOOTING, troubleshooting_order
from cartback.messages._coupons import Coupon, CouponKind, CouponSource, StaticCouponSource
from cartback.messages._email import (
    EMAIL_TEMPLATES,
    EmailTemplate,
    RecoveryEmail,
    build_email,
    message_id_header,
)
from cartback.messages._links import MessageLinks, message_links, utm_content
from cartback.messages._preview import BuiltMessage, ChannelPreview, preview
from cartback.messages._push import (
    PUSH_PAYLOAD_LIMIT,
    PUSH_TEMPLATES,
    ApnsNotification,
    ContentWarning,
    FcmMessage,
    PushMessage,
    build_push,
    content_warnings,
    payload_size,
)
from cartback.messages._request import ConsentInput, MessageRequest, RefusalReason
from cartback.messages._settings import (
    DEFAULT_COUNTRY_LOCALES,
    SHIPPED_LOCALES,
    DeepLinkTemplates,
    ShopSettings,
)
from cartback.messages._sms import (
    OPT_OUT_KEYWORDS,
    SMS_TEMPLATES,
    SmsEncoding,
    SmsMessage,
    SmsSegments,
    build_sms,
    is_opt_out,
    sms_segments,
)
from cartback.messages._social import (
    SOCIAL_TEMPLATES,
    STANDARD_MESSAGING_WINDOW,
    AudienceEvent,
    SocialMessage,
    build_audience_event,
    build_social_message,
)
from cartback.messages._templates import resolve_locale

__all__ = [
    "DEFAULT_COUNTRY_LOCALES",
    "EMAIL_TEMPLATES",
    "OPT_OUT_KEYWORDS",
    "PUSH_PAYLOAD_LIMIT",
    "PUSH_TEMPLATES",
    "SHIPPED_LOCALES",
    "SMS_TEMPLATES",
    "SOCIAL_TEMPLATES",
    "STANDARD_MESSAGING_WINDOW",
    "TROUBLESHOOTING",
    "ApnsNotification",
    "AudienceEvent",
    "BuiltMessage",
    "ChannelPreview",
    "ConsentInput",
    "ContentWarning",
    "Coupon",
    "CouponKind",
    "CouponSource",
    "DeepLinkTemplates",
    "EmailTemplate",
    "FcmMessage",
    "MessageLinks",
    "MessageRefusedError",
    "MessageRequest",
    "PushMessage",
    "RecoveryEmail",
    "RefusalReason",
    "ShopSettings",
    "SmsEncoding",
    "SmsMessage",
    "SmsSegments",
    "SocialMessage",
    "StaticCouponSource",
    "build_audience_event",
    "build_email",
    "build_push",
    "build_sms",
    "build_social_message",
    "content_warnings",
    "is_opt_out",
    "message_id_header",
    "message_links",
    "payload_size",
    "preview",
    "resolve_locale",
    "sms_segments",
    "troubleshooting_order",
    "utm_content",
]
