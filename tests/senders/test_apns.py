"""APNs over HTTP/2 (respx stands in for Apple): the provider token, the request the
builder's headers make, and one test per outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import rsa

from cartback import ConfigurationError
from cartback.senders import ApnsProviderToken, ApnsSender, SendResult
from tests.senders._support import KEY, FakeTime, apns, assert_safe, fcm, policy
from tests.senders.keys import apns_key, apns_p8

TOKEN = "a1b2c3d4" * 8
URL = f"https://api.push.apple.com/3/device/{TOKEN}"
SANDBOX = f"https://api.sandbox.push.apple.com/3/device/{TOKEN}"


@pytest.fixture
def apple() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True) as router:
        yield router


def provider(time: FakeTime, **options: timedelta) -> ApnsProviderToken:
    return ApnsProviderToken(
        apns_p8(), key_id="ABC123DEFG", team_id="TEAM123456", clock=time.now, **options
    )


def sender(time: FakeTime, **options: str) -> ApnsSender:
    return ApnsSender(provider(time), retry=policy(time), **options)  # type: ignore[arg-type]


def reason(status: int, text: str, **extra: object) -> httpx.Response:
    return httpx.Response(status, json={"reason": text, **extra}, headers={"apns-id": "x"})


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, apns_key().public_key(), algorithms=["ES256"])
    return decoded


def test_the_provider_token_is_an_es256_jwt_of_the_team_and_key() -> None:
    time = FakeTime()
    token = provider(time).token()
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "ABC123DEFG", "typ": "JWT"}
    assert claims(token) == {"iss": "TEAM123456", "iat": int(time.now().timestamp())}


def test_the_provider_token_is_kept_for_50_minutes_then_renewed() -> None:
    time = FakeTime()
    tokens = provider(time)
    first = tokens.token()
    time.advance(49 * 60)
    assert tokens.token() == first
    time.advance(60)
    renewed = tokens.token()
    assert renewed != first
    assert claims(renewed)["iat"] == int(time.now().timestamp())


def test_a_renewal_interval_apple_would_refuse_is_a_configuration_error() -> None:
    for minutes in (10, 60, 90):
        with pytest.raises(ConfigurationError):
            provider(FakeTime(), refresh_after=timedelta(minutes=minutes))


def test_a_key_that_is_not_p256_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        ApnsProviderToken("not a key", key_id="K", team_id="T")
    from cryptography.hazmat.primitives import serialization

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ConfigurationError):
        ApnsProviderToken(other, key_id="K", team_id="T")
    path = tmp_path / "AuthKey_ABC123DEFG.p8"
    path.write_text(apns_p8())
    assert ApnsProviderToken.from_file(path, key_id="ABC123DEFG", team_id="T").token()


def test_the_request_carries_the_builders_headers_and_payload(apple: respx.MockRouter) -> None:
    built = apns()
    route = apple.post(URL).respond(200, headers={"apns-id": built.headers["apns-id"]})
    time = FakeTime()
    result = sender(time).send(built, idempotency_key=KEY)
    assert result == SendResult.accepted(built.headers["apns-id"], status=200)
    request = route.calls.last.request
    for name, value in built.headers.items():
        assert request.headers[name] == value, name
    assert request.headers["apns-topic"] == "com.acme.bakery"
    assert request.headers["content-type"] == "application/json"
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "bearer"
    assert claims(token)["iss"] == "TEAM123456"
    assert json.loads(request.content) == built.payload


def test_a_resend_carries_the_same_apns_id(apple: respx.MockRouter) -> None:
    route = apple.post(URL).respond(200)
    time = FakeTime()
    sender(time).send(apns(), idempotency_key=KEY)
    sender(time).send(apns(), idempotency_key=KEY)
    ids = [call.request.headers["apns-id"] for call in route.calls]
    assert ids[0] == ids[1] == apns().headers["apns-id"]
    assert [call.request.headers["apns-collapse-id"] for call in route.calls] == [
        apns().headers["apns-collapse-id"]
    ] * 2


def test_the_sandbox_host_for_development_builds(apple: respx.MockRouter) -> None:
    route = apple.post(SANDBOX).respond(200)
    assert sender(FakeTime(), environment="sandbox").send(apns(), idempotency_key=KEY).outcome == (
        "accepted"
    )
    assert route.called


def test_the_default_client_speaks_http2() -> None:
    sender_ = ApnsSender(provider(FakeTime()))
    pool = sender_._client._transport._pool  # type: ignore[attr-defined]
    assert pool._http2 is True
    sender_.close()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (reason(400, "BadDeviceToken"), "bad_device_token"),
        (reason(400, "DeviceTokenNotForTopic"), "device_token_not_for_topic"),
        (reason(410, "Unregistered", timestamp=1795000000000), "unregistered"),
        (reason(410, "ExpiredToken"), "expired_token"),
        (httpx.Response(410), "unregistered"),
    ],
)
def test_a_dead_device_token_fails_and_is_invalidated(
    apple: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    route = apple.post(URL).mock(return_value=response)
    result = sender(FakeTime()).send(apns(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", error, True)
    assert route.call_count == 1
    assert_safe(result, TOKEN)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (reason(403, "InvalidProviderToken"), "invalid_provider_token"),
        (reason(403, "MissingProviderToken"), "missing_provider_token"),
        (reason(403, "Forbidden"), "forbidden"),
        (reason(400, "TopicDisallowed"), "topic_disallowed"),
        (reason(400, "BadTopic"), "bad_topic"),
        (reason(413, "PayloadTooLarge"), "payload_too_large"),
        (reason(400, "SomethingNew"), "apns_http_400"),
        (reason(403, "SomethingNew"), "apns_http_403"),
    ],
)
def test_configuration_and_request_errors_fail_without_invalidating(
    apple: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    route = apple.post(URL).mock(return_value=response)
    result = sender(FakeTime()).send(apns(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", error, False)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (reason(429, "TooManyRequests"), "rate_limited"),
        (reason(500, "InternalServerError"), "server_error"),
        (reason(503, "ServiceUnavailable"), "service_unavailable"),
        (reason(503, "Shutdown"), "service_unavailable"),
        (httpx.Response(502, text="<html>bad gateway</html>"), "server_error"),
    ],
)
def test_transient_answers_are_retried_then_handed_back(
    apple: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    route = apple.post(URL).mock(return_value=response)
    time = FakeTime()
    result = sender(time).send(apns(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.attempts) == ("retry", error, 3)
    assert (route.call_count, len(time.sleeps)) == (3, 2)


def test_503_with_retry_after_then_200(apple: respx.MockRouter) -> None:
    apple.post(URL).mock(
        side_effect=[
            httpx.Response(
                503, json={"reason": "ServiceUnavailable"}, headers={"Retry-After": "3"}
            ),
            httpx.Response(200, headers={"apns-id": apns().headers["apns-id"]}),
        ]
    )
    time = FakeTime()
    result = sender(time).send(apns(), idempotency_key=KEY)
    assert (result.outcome, result.attempts, time.sleeps) == ("accepted", 2, [3.0])


def test_an_expired_provider_token_is_renewed_once_and_the_push_resent(
    apple: respx.MockRouter,
) -> None:
    route = apple.post(URL).mock(
        side_effect=[reason(403, "ExpiredProviderToken"), httpx.Response(200)]
    )
    time = FakeTime()
    apns_sender = sender(time)
    first = apns_sender.token.token()
    time.advance(30 * 60)  # older than 20 minutes: Apple allows a new one
    result = apns_sender.send(apns(), idempotency_key=KEY)
    assert (result.outcome, result.attempts, time.sleeps) == ("accepted", 1, [])
    tokens = [call.request.headers["authorization"].split()[1] for call in route.calls]
    assert tokens[0] == first
    assert tokens[1] != first


def test_a_fresh_token_called_expired_is_not_renewed_into_too_many_updates(
    apple: respx.MockRouter,
) -> None:
    route = apple.post(URL).mock(return_value=reason(403, "ExpiredProviderToken"))
    result = sender(FakeTime()).send(apns(), idempotency_key=KEY)
    assert (result.outcome, result.error, route.call_count) == (
        "failed",
        "expired_provider_token",
        1,
    )


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("down")])
def test_timeouts_and_network_errors_are_retried(
    apple: respx.MockRouter, failure: Exception
) -> None:
    route = apple.post(URL).mock(side_effect=[failure, httpx.Response(200)])
    result = sender(FakeTime()).send(apns(), idempotency_key=KEY)
    assert (result.outcome, result.attempts, route.call_count) == ("accepted", 2, 2)


def test_an_fcm_message_is_not_an_apns_one() -> None:
    with pytest.raises(ConfigurationError):
        sender(FakeTime()).send(fcm(), idempotency_key=KEY)
