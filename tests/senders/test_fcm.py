"""FCM HTTP v1 (respx stands in for Google): service-account access tokens from the
token endpoint, the request the builder's message makes, and one test per outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx

from cartback import ConfigurationError
from cartback.senders import (
    FCM_SCOPE,
    AccessTokenError,
    FcmSender,
    SendResult,
    ServiceAccountTokens,
)
from tests.senders._support import KEY, FakeTime, apns, assert_safe, fcm, policy
from tests.senders.keys import google_key, service_account

SEND = "https://fcm.googleapis.com/v1/projects/acme-bakery/messages:send"
TOKEN_URI = "https://oauth2.googleapis.com/token"
NAME = "projects/acme-bakery/messages/0:1500415314455276%31bd1c9631bd1c96"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


@pytest.fixture
def google() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.post(TOKEN_URI).respond(
            200, json={"access_token": "ya29.first", "expires_in": 3599, "token_type": "Bearer"}
        )
        yield router


def sender(time: FakeTime) -> FcmSender:
    return FcmSender.from_service_account(service_account(), retry=policy(time))


def failure(
    status: int,
    state: str,
    code: str | None,
    message: str = "Requested entity was not found.",
    violations: list[dict[str, str]] | None = None,
) -> httpx.Response:
    details: list[dict[str, Any]] = []
    if code:
        details.append({"@type": FCM_ERROR, "errorCode": code})
    if violations:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}
        )
    body = {"error": {"code": status, "message": message, "status": state, "details": details}}
    return httpx.Response(status, json=body)


def test_the_access_token_comes_from_a_signed_assertion(google: respx.MockRouter) -> None:
    time = FakeTime()
    tokens = ServiceAccountTokens(service_account(), clock=time.now)
    assert tokens.access_token() == "ya29.first"
    form = parse_qs(google.routes[0].calls.last.request.content.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    [assertion] = form["assertion"]
    assert jwt.get_unverified_header(assertion)["kid"] == "4f1c0e8d2b"
    claims = jwt.decode(
        assertion,
        google_key().public_key(),
        algorithms=["RS256"],
        audience=TOKEN_URI,
        options={"verify_exp": False, "verify_iat": False},
    )
    issued = int(time.now().timestamp())
    assert claims == {
        "iss": "cartback@acme-bakery.iam.gserviceaccount.com",
        "scope": FCM_SCOPE,
        "aud": TOKEN_URI,
        "iat": issued,
        "exp": issued + 3600,
    }


def test_the_access_token_is_cached_until_shortly_before_it_expires(
    google: respx.MockRouter,
) -> None:
    time = FakeTime()
    tokens = ServiceAccountTokens(service_account(), clock=time.now)
    tokens.access_token()
    time.advance(3599 - 5 * 60 - 1)
    tokens.access_token()
    assert google.routes[0].call_count == 1
    time.advance(2)
    google.routes[0].respond(200, json={"access_token": "ya29.second", "expires_in": 3599})
    assert tokens.access_token() == "ya29.second"
    assert google.routes[0].call_count == 2


@pytest.mark.parametrize(
    ("response", "reason", "transient"),
    [
        (
            httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "Invalid JWT"}
            ),
            "token_rejected",
            False,
        ),
        (httpx.Response(401, json={"error": "invalid_client"}), "token_rejected", False),
        (httpx.Response(503), "token_endpoint_unavailable", True),
        (httpx.Response(200, json={"token_type": "Bearer"}), "token_response_invalid", True),
        (httpx.ConnectError("down"), "token_endpoint_unreachable", True),
        (httpx.ReadTimeout("slow"), "token_endpoint_timeout", True),
    ],
)
def test_a_token_endpoint_failure_is_typed(
    google: respx.MockRouter, response: httpx.Response | Exception, reason: str, transient: bool
) -> None:
    google.routes[0].mock(side_effect=[response])
    with pytest.raises(AccessTokenError) as raised:
        ServiceAccountTokens(service_account()).access_token()
    assert (raised.value.reason, raised.value.transient) == (reason, transient)


def test_a_refused_service_account_fails_the_send_and_an_unreachable_one_retries(
    google: respx.MockRouter,
) -> None:
    send = google.post(SEND).respond(200, json={"name": NAME})
    google.routes[0].respond(400, json={"error": "invalid_grant"})
    result = sender(FakeTime()).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.error) == ("failed", "token_rejected")
    google.routes[0].mock(
        side_effect=[
            httpx.ConnectError("down"),
            httpx.Response(200, json={"access_token": "t", "expires_in": 60}),
        ]
    )
    result = sender(FakeTime()).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.attempts) == ("accepted", 2)
    assert send.call_count == 1


def test_the_request_is_the_builders_message_with_the_bearer_token(
    google: respx.MockRouter,
) -> None:
    route = google.post(SEND).respond(200, json={"name": NAME})
    built = fcm()
    result = sender(FakeTime()).send(built, idempotency_key=KEY)
    assert result == SendResult.accepted(NAME, status=200)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer ya29.first"
    assert json.loads(request.content) == {"message": built.message}
    assert request.content == built.body()


def test_a_web_push_goes_the_same_way(google: respx.MockRouter) -> None:
    route = google.post(SEND).respond(200, json={"name": NAME})
    sender(FakeTime()).send(fcm("web"), idempotency_key=KEY)
    assert json.loads(route.calls.last.request.content)["message"]["webpush"]["fcm_options"]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (failure(404, "NOT_FOUND", "UNREGISTERED"), "unregistered"),
        (
            failure(
                400,
                "INVALID_ARGUMENT",
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
            ),
            "invalid_registration_token",
        ),
        (
            failure(
                400,
                "INVALID_ARGUMENT",
                None,
                "Invalid value",
                [{"field": "message.token", "description": "Invalid registration token"}],
            ),
            "invalid_registration_token",
        ),
    ],
)
def test_a_dead_registration_token_fails_and_is_invalidated(
    google: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    route = google.post(SEND).mock(return_value=response)
    result = sender(FakeTime()).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", error, True)
    assert route.call_count == 1
    assert_safe(result, "fcm-android-token-1")


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (
            failure(
                400,
                "INVALID_ARGUMENT",
                None,
                "Invalid value at 'message.data[0].value'",
                [{"field": "message.data[0].value", "description": "Invalid value"}],
            ),
            "invalid_argument",
        ),
        (failure(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), "sender_id_mismatch"),
        (failure(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), "third_party_auth_error"),
        (failure(403, "PERMISSION_DENIED", None, "Permission denied"), "permission_denied"),
        (failure(404, "NOT_FOUND", None, "Project not found"), "not_found"),
    ],
)
def test_request_and_configuration_errors_fail_without_invalidating(
    google: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    google.post(SEND).mock(return_value=response)
    result = sender(FakeTime()).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.invalid_recipient) == ("failed", error, False)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (failure(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), "quota_exceeded"),
        (failure(500, "INTERNAL", "INTERNAL"), "internal"),
        (failure(503, "UNAVAILABLE", "UNAVAILABLE"), "unavailable"),
        (httpx.Response(503, text="Service Unavailable"), "unavailable"),
    ],
)
def test_transient_answers_are_retried_then_handed_back(
    google: respx.MockRouter, response: httpx.Response, error: str
) -> None:
    route = google.post(SEND).mock(return_value=response)
    result = sender(FakeTime()).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.error, result.attempts, route.call_count) == (
        "retry",
        error,
        3,
        3,
    )


def test_quota_exceeded_with_a_long_retry_after_goes_back_to_the_dispatcher(
    google: respx.MockRouter,
) -> None:
    response = failure(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
    response.headers["Retry-After"] = "60"
    google.post(SEND).mock(return_value=response)
    time = FakeTime()
    result = sender(time).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.retry_after, result.attempts, time.sleeps) == (
        "retry",
        60.0,
        1,
        [],
    )


def test_a_401_drops_the_cached_token_and_tries_once_more(google: respx.MockRouter) -> None:
    route = google.post(SEND).mock(
        side_effect=[
            failure(
                401, "UNAUTHENTICATED", None, "Request had invalid authentication credentials."
            ),
            httpx.Response(200, json={"name": NAME}),
        ]
    )
    google.routes[0].mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "ya29.revoked", "expires_in": 3599}),
            httpx.Response(200, json={"access_token": "ya29.fresh", "expires_in": 3599}),
        ]
    )
    result = sender(FakeTime()).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.attempts) == ("accepted", 1)
    assert [c.request.headers["authorization"] for c in route.calls] == [
        "Bearer ya29.revoked",
        "Bearer ya29.fresh",
    ]


def test_a_401_that_persists_fails_as_a_configuration_error(google: respx.MockRouter) -> None:
    route = google.post(SEND).mock(return_value=failure(401, "UNAUTHENTICATED", None, "no"))
    result = sender(FakeTime()).send(fcm(), idempotency_key=KEY)
    assert (result.outcome, result.error, route.call_count) == ("failed", "unauthenticated", 2)


def test_an_injected_token_provider(google: respx.MockRouter) -> None:
    class Fixed:
        def access_token(self) -> str:
            return "shop-token"

        def invalidate(self) -> None:
            pass

    route = google.post("https://fcm.googleapis.com/v1/projects/other/messages:send").respond(
        200, json={"name": "projects/other/messages/1"}
    )
    result = FcmSender("other", Fixed(), retry=policy(FakeTime())).send(fcm(), idempotency_key=KEY)
    assert result.provider_id == "projects/other/messages/1"
    assert route.calls.last.request.headers["authorization"] == "Bearer shop-token"


@pytest.mark.parametrize("failure_", [httpx.ReadTimeout("slow"), httpx.ConnectError("down")])
def test_timeouts_and_network_errors_are_retried(
    google: respx.MockRouter, failure_: Exception
) -> None:
    google.post(SEND).mock(side_effect=[failure_, httpx.Response(200, json={"name": NAME})])
    assert sender(FakeTime()).send(fcm(), idempotency_key=KEY).attempts == 2


def test_a_service_account_file_and_its_project(tmp_path: Path) -> None:
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(service_account()))
    assert FcmSender.from_service_account(path).project_id == "acme-bakery"
    assert FcmSender.from_service_account(path, project_id="other").project_id == "other"
    with pytest.raises(ConfigurationError):
        FcmSender.from_service_account(service_account(project_id=None))
    with pytest.raises(ConfigurationError):
        ServiceAccountTokens(service_account(private_key="-----BEGIN nonsense"))
    with pytest.raises(ConfigurationError):
        ServiceAccountTokens(service_account(client_email=""))


def test_an_apns_notification_is_not_an_fcm_one() -> None:
    with pytest.raises(ConfigurationError):
        sender(FakeTime()).send(apns(), idempotency_key=KEY)
