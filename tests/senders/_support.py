"""Built messages, a fake clock that sleeps without sleeping, and privacy checks shared
by the sender tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cartback.messages import (
    ApnsNotification,
    AudienceEvent,
    FcmMessage,
    RecoveryEmail,
    SmsMessage,
    SocialMessage,
    build_audience_event,
    build_email,
    build_push,
    build_sms,
    build_social_message,
)
from cartback.senders import ERROR_CODE, RetryPolicy, SendResult
from tests.messages.fixtures import (
    ALL_CONSENT,
    CARTS,
    JANE,
    SHOP,
    SIGNER,
    devices,
    recipient,
    request,
)

KEY = "msg-0001"
"""The idempotency key every test sends with: the message id the builders were given."""

PROSPECT = JANE["email"]
PERSONAL = (JANE["email"], JANE["phone"], JANE["first_name"], JANE["last_name"], "6783940125")
"""Values of the prospect that must never appear in an error code."""


class FakeTime:
    """Monotonic and wall clocks that only ``sleep`` (and ``advance``) move; every sleep
    is recorded."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.wall = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.wall += timedelta(seconds=seconds)


def policy(time: FakeTime, *, random: float = 0.5, **changes: float) -> RetryPolicy:
    """The default retry policy on ``time``, with a fixed jitter draw."""
    return RetryPolicy(
        monotonic=time.monotonic,
        sleep=time.sleep,
        random=lambda: random,
        now=time.now,
        **changes,  # type: ignore[arg-type]
    )


def email() -> RecoveryEmail:
    return build_email(request(CARTS["named"]), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)


def sms() -> SmsMessage:
    return build_sms(request(CARTS["named"]), shop=SHOP, signer=SIGNER, consent=ALL_CONSENT)


def _pushes() -> tuple[ApnsNotification | FcmMessage, ...]:
    return build_push(
        request(CARTS["named"]),
        shop=SHOP,
        signer=SIGNER,
        consent=ALL_CONSENT,
        devices=devices(PROSPECT),
    )


def apns() -> ApnsNotification:
    [push] = [p for p in _pushes() if isinstance(p, ApnsNotification)]
    return push


def fcm(platform: str = "android") -> FcmMessage:
    [push] = [p for p in _pushes() if isinstance(p, FcmMessage) and p.device.platform == platform]
    return push


def social(platform: str = "messenger") -> SocialMessage:
    return build_social_message(
        request(CARTS["named"]),
        platform=platform,  # type: ignore[arg-type]
        shop=SHOP,
        signer=SIGNER,
        consent=ALL_CONSENT,
        recipient=recipient(PROSPECT, platform),
    )


def audience() -> AudienceEvent:
    return build_audience_event(request(CARTS["named"], step="6h"), shop=SHOP, consent=ALL_CONSENT)


def assert_safe(result: SendResult, *secrets: str) -> None:
    """The error is a short code holding none of the prospect's values nor ``secrets``."""
    assert result.error is not None
    assert ERROR_CODE.fullmatch(result.error)
    for value in (*PERSONAL, *secrets):
        assert value.lower() not in result.error
