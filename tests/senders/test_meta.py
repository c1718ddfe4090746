"""Messenger and Instagram through the Graph API (respx stands in for Meta): Send API
requests, the retargeting audience, and one test per outcome."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from cartback import ConfigurationError
from cartback.senders import GRAPH_API_VERSION, MetaSender, MissingSenderError, SendResult
from tests.senders._support import KEY, FakeTime, assert_safe, audience, policy, sms, social

MESSAGES = f"https://graph.facebook.com/{GRAPH_API_VERSION}/104857600/messages"
AUDIENCE = f"https://graph.facebook.com/{GRAPH_API_VERSION}/aud-2026/users"


@pytest.fixture
def meta() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True) as router:
        yield router


def sender(time: FakeTime, channel: str = "messenger", **options: str) -> MetaSender:
    tokens = {"page_access_token": "EAAG-page", "ads_access_token": "EAAG-ads"} | options
    return MetaSender(channel, retry=policy(time), **tokens)  # type: ignore[arg-type]


def graph_error(
    code: int, subcode: int | None = None, status: int = 400, **extra: object
) -> httpx.Response:
    error: dict[str, object] = {
        "message": "(#551) This person isn't available right now.",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A1b2C3",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return httpx.Response(status, json={"error": error})


def test_the_send_api_request_is_the_builders_body(meta: respx.MockRouter) -> None:
    route = meta.post(MESSAGES).respond(
        200, json={"recipient_id": "6783940125", "message_id": "m_AbC"}
    )
    built = social()
    result = sender(FakeTime()).send(built, idempotency_key=KEY)
    assert result == SendResult.accepted("m_AbC", status=200)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer EAAG-page"
    assert json.loads(request.content) == built.body
    assert "appsecret_proof" not in str(request.url)


def test_an_app_secret_adds_the_appsecret_proof(meta: respx.MockRouter) -> None:
    route = meta.post(MESSAGES).respond(200, json={"message_id": "m_1"})
    sender(FakeTime(), app_secret="app-secret").send(social(), idempotency_key=KEY)
    proof = route.calls.last.request.url.params["appsecret_proof"]
    assert proof == hmac.new(b"app-secret", b"EAAG-page", hashlib.sha256).hexdigest()


def test_an_instagram_message_and_the_instagram_host(meta: respx.MockRouter) -> None:
    route = meta.post("https://graph.instagram.com/v23.0/104857600/messages").respond(
        200, json={"message_id": "ig_1"}
    )
    ig = MetaSender(
        "instagram",
        page_access_token="IGQ-token",
        api_version="v23.0",
        base_url="https://graph.instagram.com",
        retry=policy(FakeTime()),
    )
    assert ig.send(social("instagram"), idempotency_key=KEY).provider_id == "ig_1"
    assert route.called


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (graph_error(551, 1545041), "recipient_unavailable"),
        (graph_error(200, 1545041, status=403), "recipient_unavailable"),
        (graph_error(10, 2018108, status=403), "recipient_unavailable"),
        (graph_error(100, 2018001), "no_matching_user"),
    ],
)
def test_a_person_who_cannot_be_reached_fails_and_is_invalidated(
    meta: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    route = meta.post(MESSAGES).mock(return_value=response)
    result = sender(FakeTime()).send(social(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", error, True)
    assert route.call_count == 1
    assert_safe(result, "a1b2c3", "oauthexception")


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (graph_error(10, 2018278, status=403), "outside_messaging_window"),
        (graph_error(10, 2534022, status=403), "outside_messaging_window"),
        (graph_error(190, 463, status=401), "invalid_access_token"),
        (graph_error(200, 2018028, status=403), "permission_denied"),
        (graph_error(10, status=403), "permission_denied"),
        (graph_error(368, 1390008), "temporarily_blocked"),
        (graph_error(100, 2018109), "invalid_parameter"),
        (graph_error(12345), "graph_12345"),
    ],
)
def test_other_errors_fail_without_invalidating(
    meta: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    meta.post(MESSAGES).mock(return_value=response)
    result = sender(FakeTime()).send(social(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", error, False)


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80006])
def test_rate_limits_are_retried(meta: respx.MockRouter, code: int) -> None:
    route = meta.post(MESSAGES).mock(
        side_effect=[graph_error(code, status=400), httpx.Response(200, json={"message_id": "m"})]
    )
    time = FakeTime()
    result = sender(time).send(social(), idempotency_key=KEY)
    assert (result.outcome, result.attempts, route.call_count, len(time.sleeps)) == (
        "accepted",
        2,
        2,
        1,
    )


def test_a_business_use_case_limit_says_how_long_to_wait(meta: respx.MockRouter) -> None:
    usage = {
        "104857600": [
            {
                "type": "messenger",
                "call_count": 100,
                "total_time": 20,
                "total_cputime": 5,
                "estimated_time_to_regain_access": 7,
            }
        ]
    }
    response = graph_error(80006, status=400)
    response.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
    meta.post(MESSAGES).mock(return_value=response)
    time = FakeTime()
    result = sender(time).send(social(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.retry_after, time.sleeps) == (
        "retry",
        "rate_limited",
        420.0,
        [],
    )


@pytest.mark.parametrize(
    "response",
    [
        graph_error(2, status=500),
        graph_error(1200),
        graph_error(1, status=500),
        graph_error(9999, is_transient=True),
        httpx.Response(502, text="<html/>"),
        httpx.Response(503, headers={"Retry-After": "1"}),
    ],
)
def test_temporary_failures_are_retried_then_handed_back(
    meta: respx.MockRouter, response: httpx.Response
) -> None:
    route = meta.post(MESSAGES).mock(return_value=response)
    result = sender(FakeTime()).send(social(), idempotency_key=KEY)
    assert (result.outcome, result.attempts, route.call_count) == ("retry", 3, 3)


def test_timeouts_are_retried(meta: respx.MockRouter) -> None:
    meta.post(MESSAGES).mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json={"message_id": "m"})]
    )
    assert sender(FakeTime()).send(social(), idempotency_key=KEY).attempts == 2


def test_the_audience_event_adds_the_hashes_to_the_custom_audience(meta: respx.MockRouter) -> None:
    route = meta.post(AUDIENCE).respond(
        200,
        json={
            "audience_id": "aud-2026",
            "session_id": 9778993,
            "num_received": 1,
            "num_invalid_entries": 0,
            "invalid_entry_samples": {},
        },
    )
    event = audience()
    result = sender(FakeTime(), "instagram").send(event, idempotency_key=KEY)
    assert result == SendResult.accepted("9778993", status=200)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer EAAG-ads"
    [payload] = parse_qs(request.content.decode())["payload"]
    assert json.loads(payload) == {
        "schema": ["EMAIL", "PHONE"],
        "data": [
            [
                hashlib.sha256(b"jane@example.com").hexdigest(),
                hashlib.sha256(b"14155552671").hexdigest(),
            ]
        ],
    }
    assert b"jane" not in request.content
    assert b"14155552671" not in request.content


def test_hashes_meta_could_not_read_fail_the_audience_event(meta: respx.MockRouter) -> None:
    meta.post(AUDIENCE).respond(200, json={"num_received": 1, "num_invalid_entries": 1})
    result = sender(FakeTime(), "instagram").send(audience(), idempotency_key=KEY)
    assert (result.outcome, result.error) == ("failed", "invalid_identifiers")


def test_an_audience_rate_limit_is_retried(meta: respx.MockRouter) -> None:
    meta.post(AUDIENCE).mock(
        side_effect=[graph_error(17), httpx.Response(200, json={"session_id": "1"})]
    )
    assert sender(FakeTime(), "instagram").send(audience(), idempotency_key=KEY).attempts == 2


def test_a_sender_without_the_token_for_a_kind_of_message_is_a_configuration_error() -> None:
    only_ads = MetaSender("instagram", ads_access_token="EAAG-ads")
    with pytest.raises(MissingSenderError):
        only_ads.send(social("instagram"), idempotency_key=KEY)
    only_page = MetaSender("instagram", page_access_token="EAAG-page")
    with pytest.raises(MissingSenderError):
        only_page.send(audience(), idempotency_key=KEY)


def test_a_message_of_another_platform_or_channel_is_a_wiring_mistake() -> None:
    with pytest.raises(ConfigurationError):
        sender(FakeTime(), "messenger").send(social("instagram"), idempotency_key=KEY)
    with pytest.raises(ConfigurationError):
        sender(FakeTime(), "messenger").send(audience(), idempotency_key=KEY)  # an Instagram one
    with pytest.raises(ConfigurationError):
        sender(FakeTime()).send(sms(), idempotency_key=KEY)
