"""SMS through Twilio's Programmable Messaging API (respx stands in for Twilio): the
request Twilio expects, and one test per outcome."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from cartback import ConfigurationError
from cartback.messages import SmsMessage
from cartback.senders import SendResult, SmsSender, TwilioSms
from tests.senders._support import KEY, FakeTime, assert_safe, email, policy, sms

SID = "AC" + "0" * 32
URL = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture
def twilio() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True) as router:
        yield router


def sender(time: FakeTime, **options: str) -> SmsSender:
    api = TwilioSms(SID, "auth-token", **({"from_number": "+15005550006"} | options))
    return SmsSender(api, retry=policy(time))


def error(
    status: int, code: int, message: str = "The 'To' number +14155552671 is not valid"
) -> httpx.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return httpx.Response(status, json=body)


def test_the_request_is_twilios_form_with_basic_auth(twilio: respx.MockRouter) -> None:
    route = twilio.post(URL).respond(201, json={"sid": "SM" + "a" * 32, "status": "queued"})
    built = sms()
    result = sender(FakeTime()).send(built, idempotency_key=KEY)
    assert result == SendResult.accepted("SM" + "a" * 32, status=201)
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    user, _, secret = (
        base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
    )
    assert (user, secret) == (SID, "auth-token")
    assert parse_qs(request.content.decode()) == {
        "To": ["+14155552671"],
        "From": ["+15005550006"],
        "Body": [built.text],
    }


def test_a_messaging_service_an_api_key_and_a_status_callback(twilio: respx.MockRouter) -> None:
    route = twilio.post(URL).respond(201, json={"sid": "SM1"})
    api = TwilioSms(
        SID,
        "key-secret",
        messaging_service_sid="MG" + "1" * 32,
        api_key_sid="SK" + "2" * 32,
        status_callback="https://shop.example/sms/status",
    )
    SmsSender(api, retry=policy(FakeTime())).send(sms(), idempotency_key=KEY)
    request = route.calls.last.request
    form = parse_qs(request.content.decode())
    assert form["MessagingServiceSid"] == ["MG" + "1" * 32]
    assert "From" not in form
    assert form["StatusCallback"] == ["https://shop.example/sms/status"]
    assert base64.b64decode(request.headers["authorization"].split()[1]).decode() == (
        "SK" + "2" * 32 + ":key-secret"
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (21211, "invalid_phone_number"),
        (21610, "unsubscribed_recipient"),
        (21614, "not_a_mobile_number"),
    ],
)
def test_a_dead_number_fails_and_is_invalidated(
    twilio: respx.MockRouter, code: int, expected: str
) -> None:
    route = twilio.post(URL).mock(return_value=error(400, code))
    time = FakeTime()
    result = sender(time).send(sms(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", expected, True)
    assert (route.call_count, time.sleeps) == (1, [])
    assert_safe(result)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, 21408, "region_not_enabled"),
        (400, 21606, "sender_not_sms_capable"),
        (401, 20003, "authentication_failed"),
        (404, 20404, "not_found"),
        (400, 21617, "body_too_long"),
        (400, 21999, "twilio_21999"),
    ],
)
def test_configuration_and_request_errors_fail_without_invalidating(
    twilio: respx.MockRouter, status: int, code: int, expected: str
) -> None:
    twilio.post(URL).mock(return_value=error(status, code, "Authenticate AC123 jane@example.com"))
    result = sender(FakeTime()).send(sms(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", expected, False)
    assert result.status == status
    assert_safe(result, "authenticate")


def test_429_is_retried_after_its_retry_after_seconds(twilio: respx.MockRouter) -> None:
    twilio.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, json={"code": 20429, "status": 429}),
            httpx.Response(201, json={"sid": "SM2"}),
        ]
    )
    time = FakeTime()
    result = sender(time).send(sms(), idempotency_key=KEY)
    assert (result.outcome, result.attempts, time.sleeps) == ("accepted", 2, [2.0])


def test_a_long_retry_after_as_an_http_date_goes_back_to_the_dispatcher(
    twilio: respx.MockRouter,
) -> None:
    time = FakeTime()
    later = "Sun, 22 Nov 2026 15:05:00 GMT"  # five minutes after the fake clock's now
    assert time.now() == datetime.fromisoformat("2026-11-22T15:00:00+00:00")
    twilio.post(URL).respond(503, headers={"Retry-After": later}, text="<html>busy</html>")
    result = sender(time).send(sms(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.retry_after) == ("retry", "server_error", 300.0)
    assert (result.attempts, time.sleeps) == (1, [])


def test_5xx_three_times_is_handed_back_as_a_retry(twilio: respx.MockRouter) -> None:
    route = twilio.post(URL).respond(500, json={"code": 20500, "status": 500})
    time = FakeTime()
    result = sender(time).send(sms(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.attempts, route.call_count) == (
        "retry",
        "server_error",
        3,
        3,
    )
    assert len(time.sleeps) == 2


def test_a_full_queue_is_transient(twilio: respx.MockRouter) -> None:
    twilio.post(URL).mock(side_effect=[error(400, 21611), httpx.Response(201, json={"sid": "S"})])
    assert sender(FakeTime()).send(sms(), idempotency_key=KEY).outcome == "accepted"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ReadTimeout("read"), "timeout"),
        (httpx.ConnectTimeout("connect"), "timeout"),
        (httpx.ConnectError("refused"), "network_error"),
        (httpx.RemoteProtocolError("reset"), "network_error"),
        (httpx.DecodingError("garbled"), "bad_response"),
    ],
)
def test_timeouts_and_network_errors_are_retried(
    twilio: respx.MockRouter, failure: Exception, expected: str
) -> None:
    route = twilio.post(URL).mock(side_effect=failure)
    result = sender(FakeTime()).send(sms(), idempotency_key=KEY)
    assert (result.outcome, result.error, route.call_count) == ("retry", expected, 3)


def test_the_sender_times_out_requests() -> None:
    assert SmsSender(TwilioSms(SID, "t", from_number="+1"), timeout=2.5)._client.timeout.read == 2.5


def test_twilio_needs_exactly_one_sender_and_credentials() -> None:
    with pytest.raises(ConfigurationError):
        TwilioSms(SID, "t")
    with pytest.raises(ConfigurationError):
        TwilioSms(SID, "t", from_number="+1", messaging_service_sid="MG1")
    with pytest.raises(ConfigurationError):
        TwilioSms(SID, "", from_number="+1")


def test_another_channels_message_is_a_wiring_mistake() -> None:
    with pytest.raises(ConfigurationError):
        sender(FakeTime()).send(email(), idempotency_key=KEY)


class Acme:
    """Another provider's shape: JSON, an idempotency header, its own status codes."""

    def request(
        self, client: httpx.Client, message: SmsMessage, *, idempotency_key: str
    ) -> httpx.Request:
        return client.build_request(
            "POST",
            "https://sms.acme.example/v1/messages",
            json={"to": message.to, "text": message.text},
            headers={"Idempotency-Key": idempotency_key},
        )

    def classify(self, response: httpx.Response, *, now: datetime) -> SendResult:
        if response.status_code == 202:
            return SendResult.accepted(response.json()["id"], status=202)
        if response.status_code == 422:
            return SendResult.failed("invalid_phone_number", invalid_recipient=True)
        return SendResult.retry("server_error")


def test_a_shop_adds_another_provider_behind_the_same_sender(twilio: respx.MockRouter) -> None:
    route = twilio.post("https://sms.acme.example/v1/messages").mock(
        side_effect=[httpx.Response(502), httpx.Response(202, json={"id": "acme-1"})]
    )
    result = SmsSender(Acme(), retry=policy(FakeTime())).send(sms(), idempotency_key=KEY)
    assert (result.outcome, result.provider_id, result.attempts) == ("accepted", "acme-1", 2)
    assert [call.request.headers["idempotency-key"] for call in route.calls] == [KEY, KEY]
