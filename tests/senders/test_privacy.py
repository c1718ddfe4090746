"""Whatever a provider answers (any status, any body, personal values and provider text
everywhere), a sender's result is one of its outcomes with a short code that repeats
none of it."""

from __future__ import annotations

from typing import Any

import httpx
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback.senders import (
    ApnsProviderToken,
    ApnsSender,
    FcmSender,
    MetaSender,
    SendResult,
    SmsSender,
    TwilioSms,
)
from tests.senders._support import (
    KEY,
    PERSONAL,
    FakeTime,
    apns,
    assert_safe,
    fcm,
    policy,
    sms,
    social,
)
from tests.senders.keys import apns_p8

SENTINEL = "zqxsentinel"
TEXT = st.sampled_from([*PERSONAL, SENTINEL, f"The 'To' number {PERSONAL[1]} {SENTINEL}"])
STATUS = st.sampled_from([200, 201, 400, 401, 403, 404, 408, 410, 413, 429, 500, 502, 503])
CODES = st.one_of(
    st.sampled_from([21211, 21610, 20429, 551, 4, 190, 10, 100, 200, 2018108, 1545041, -7, 10**12]),
    st.integers(),
    TEXT,
    st.none(),
)
REASONS = st.one_of(
    st.sampled_from(
        [
            "BadDeviceToken",
            "Unregistered",
            "TooManyRequests",
            "UNREGISTERED",
            "INVALID_ARGUMENT",
            "QUOTA_EXCEEDED",
            "SENDER_ID_MISMATCH",
        ]
    ),
    TEXT,
)
BODIES = st.one_of(
    st.fixed_dictionaries({"code": CODES, "message": TEXT, "more_info": TEXT, "status": CODES}),
    st.fixed_dictionaries({"reason": REASONS, "timestamp": CODES}),
    st.fixed_dictionaries(
        {
            "error": st.fixed_dictionaries(
                {
                    "code": CODES,
                    "message": TEXT,
                    "status": REASONS,
                    "error_subcode": CODES,
                    "is_transient": st.booleans(),
                    "fbtrace_id": TEXT,
                    "details": st.lists(
                        st.fixed_dictionaries(
                            {
                                "@type": st.sampled_from(
                                    ["type.googleapis.com/google.firebase.fcm.v1.FcmError", "x"]
                                ),
                                "errorCode": REASONS,
                            }
                        ),
                        max_size=2,
                    ),
                }
            )
        }
    ),
    st.fixed_dictionaries({"sid": TEXT, "message_id": TEXT, "name": TEXT}),
)
RETRY_AFTER = st.one_of(st.none(), st.sampled_from(["5", "soon", "Sun, 22 Nov 2026 15:00:30 GMT"]))


def answer(status: int, body: dict[str, Any], retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return httpx.Response(status, json=body, headers=headers)


def check(result: SendResult) -> None:
    if result.outcome == "accepted":
        assert result.error is None
        return
    assert_safe(result, SENTINEL)
    assert result.retry_after is None or result.outcome == "retry"


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(status=STATUS, body=BODIES, wait=RETRY_AFTER)
def test_twilio_answers(status: int, body: dict[str, Any], wait: str | None) -> None:
    sender = SmsSender(
        TwilioSms("AC1", "t", from_number="+1"), retry=policy(FakeTime(), attempts=1)
    )
    with respx.mock() as router:
        router.post(url__regex=r"https://api\.twilio\.com/.*").mock(
            return_value=answer(status, body, wait)
        )
        check(sender.send(sms(), idempotency_key=KEY))


TOKENS = ApnsProviderToken(apns_p8(), key_id="K", team_id="T")


@PROPERTY
@given(status=STATUS, body=BODIES, wait=RETRY_AFTER)
def test_apns_answers(status: int, body: dict[str, Any], wait: str | None) -> None:
    sender = ApnsSender(TOKENS, retry=policy(FakeTime(), attempts=1))
    with respx.mock() as router:
        router.post(url__regex=r"https://api\.push\.apple\.com/.*").mock(
            return_value=answer(status, body, wait)
        )
        check(sender.send(apns(), idempotency_key=KEY))
    sender.close()


class Fixed:
    def access_token(self) -> str:
        return "token"

    def invalidate(self) -> None:
        pass


@PROPERTY
@given(status=STATUS, body=BODIES, wait=RETRY_AFTER)
def test_fcm_answers(status: int, body: dict[str, Any], wait: str | None) -> None:
    sender = FcmSender("p", Fixed(), retry=policy(FakeTime(), attempts=1))
    with respx.mock() as router:
        router.post(url__regex=r"https://fcm\.googleapis\.com/.*").mock(
            return_value=answer(status, body, wait)
        )
        check(sender.send(fcm(), idempotency_key=KEY))


@PROPERTY
@given(status=STATUS, body=BODIES, wait=RETRY_AFTER)
def test_graph_api_answers(status: int, body: dict[str, Any], wait: str | None) -> None:
    sender = MetaSender("messenger", page_access_token="p", retry=policy(FakeTime(), attempts=1))
    with respx.mock() as router:
        router.post(url__regex=r"https://graph\.facebook\.com/.*").mock(
            return_value=answer(status, body, wait)
        )
        check(sender.send(social(), idempotency_key=KEY))
