"""Delivery behaviour against a real receiver on loopback, every signature verified
with the ``standardwebhooks`` package."""

from __future__ import annotations

import itertools
import json
import logging
import ssl
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cartback.webhooks import (
    Dead,
    Deferred,
    Delivered,
    Delivery,
    DisableEndpoint,
    EndpointDisabled,
    RetryLater,
    RetryPolicy,
    WebhookDeliverer,
    webhook_payload,
)
from tests.conftest import FakeClock
from tests.webhooks.support import (
    OLD_SECRET,
    SECRET,
    Received,
    RecordingServer,
    Reply,
    Tarpit,
    closed_port,
    endpoint,
    make_certificate,
    table_resolver,
)

DATA = {"cart_id": "c_1", "email": "jane@example.com", "cart_value": "49.00"}


def body_for(clock: FakeClock) -> bytes:
    return webhook_payload("cart.captured", clock(), DATA)


def verify(request: Received, secret: str = SECRET) -> object:
    return Webhook(secret).verify(request.body, request.headers)


def test_a_2xx_answer_is_delivered_and_the_receiver_can_verify_it(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    body = body_for(real_now_clock)
    result = deliverer.deliver(endpoint(server.url()), Delivery("evt_1", body))

    assert isinstance(result, Delivered)
    assert (result.event_id, result.endpoint_id, result.attempt) == ("evt_1", "crm", 1)
    assert result.status == 204
    assert result.at == real_now_clock()
    [request] = server.to("/hook")
    assert request.method == "POST"
    assert request.body == body
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["webhook-timestamp"] == str(int(real_now_clock().timestamp()))
    payload = verify(request)
    assert payload == {
        "type": "cart.captured",
        "version": 1,
        "timestamp": real_now_clock().isoformat().replace("+00:00", "Z"),
        "data": DATA,
    }


def test_server_errors_are_retried_on_the_schedule_with_the_same_webhook_id(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(503), Reply(500))
    target = endpoint(server.url())
    body = body_for(real_now_clock)

    first = deliverer.deliver(target, Delivery("evt_1", body, attempt=1))
    assert isinstance(first, RetryLater)
    assert (first.error, first.status) == ("server_error", 503)
    # 5 s after the first attempt, stretched by the jitter draw (0.5 x 10 %)
    assert first.next_attempt_at == real_now_clock() + timedelta(seconds=5.25)
    assert first.throttle_until == real_now_clock() + timedelta(seconds=5)

    real_now_clock.advance(seconds=6)
    second = deliverer.deliver(target, Delivery("evt_1", body, attempt=2))
    assert isinstance(second, RetryLater)
    assert (second.error, second.status, second.throttle_until) == ("server_error", 500, None)
    assert second.next_attempt_at == real_now_clock() + timedelta(minutes=5) * 1.05

    real_now_clock.advance(seconds=60)  # (the outbox keeps the schedule)
    third = deliverer.deliver(target, Delivery("evt_1", body, attempt=3))
    assert isinstance(third, Delivered)
    assert third.attempt == 3

    requests = server.to("/hook")
    assert [request.headers["webhook-id"] for request in requests] == ["evt_1"] * 3
    stamps = [int(request.headers["webhook-timestamp"]) for request in requests]
    assert [later - earlier for earlier, later in itertools.pairwise(stamps)] == [6, 60]
    for request in requests:
        verify(request)


def test_410_gone_disables_the_endpoint_and_a_disabled_endpoint_gets_nothing(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(410))
    target = endpoint(server.url())

    result = deliverer.deliver(target, Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, DisableEndpoint)
    assert (result.error, result.status, result.endpoint_id) == ("gone", 410, "crm")

    disabled = target.model_copy(
        update={"disabled": EndpointDisabled(reason="gone", at=real_now_clock())}
    )
    again = deliverer.deliver(disabled, Delivery("evt_2", body_for(real_now_clock)))
    assert isinstance(again, Deferred)
    assert (again.reason, again.next_attempt_at, again.attempt) == ("endpoint_disabled", None, 1)
    assert len(server.to("/hook")) == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_failure_and_is_not_followed(
    status: int, server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(status, {"location": server.url("/elsewhere")}))
    result = deliverer.deliver(endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, RetryLater)
    assert (result.error, result.status) == ("redirect", status)
    assert server.to("/elsewhere") == []


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "client_error"), (401, "client_error"), (404, "client_error"), (408, "request_timeout")],
)
def test_other_4xx_answers_are_retried_as_standard_webhooks_says(
    status: int,
    error: str,
    server: RecordingServer,
    deliverer: WebhookDeliverer,
    real_now_clock: FakeClock,
) -> None:
    server.answer("/hook", Reply(status))
    result = deliverer.deliver(endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, RetryLater)
    assert (result.error, result.status, result.throttle_until) == (error, status, None)


def test_final_statuses_make_a_delivery_dead_at_once(
    server: RecordingServer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(422))
    policy = RetryPolicy(final_statuses=frozenset({422}))
    with WebhookDeliverer(clock=real_now_clock, retry=policy) as strict:
        result = strict.deliver(endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, Dead)
    assert (result.error, result.status, result.attempt) == ("client_error", 422, 1)


def test_the_last_attempt_failing_makes_the_delivery_dead(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(500))
    result = deliverer.deliver(
        endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock), attempt=10)
    )
    assert isinstance(result, Dead)
    assert (result.error, result.status, result.attempt) == ("server_error", 500, 10)


def test_retry_after_in_seconds_sets_the_next_attempt_and_throttles(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(429, {"retry-after": "120"}))
    result = deliverer.deliver(endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, RetryLater)
    assert result.error == "rate_limited"
    assert result.next_attempt_at == real_now_clock() + timedelta(seconds=120)
    assert result.throttle_until == real_now_clock() + timedelta(seconds=120)


def test_retry_after_as_an_http_date_is_honoured(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    later = real_now_clock() + timedelta(hours=1)
    server.answer("/hook", Reply(503, {"retry-after": format_datetime(later, usegmt=True)}))
    result = deliverer.deliver(endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, RetryLater)
    assert result.next_attempt_at == later
    assert result.throttle_until == later


def test_retry_after_is_capped(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(503, {"retry-after": "99999999"}))
    result = deliverer.deliver(endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, RetryLater)
    assert result.next_attempt_at == real_now_clock() + timedelta(hours=24)


def test_a_short_retry_after_never_brings_a_retry_before_the_schedule(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(503, {"retry-after": "1"}))
    result = deliverer.deliver(
        endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock), attempt=3)
    )
    assert isinstance(result, RetryLater)
    assert result.next_attempt_at == real_now_clock() + timedelta(minutes=30) * 1.05
    assert result.throttle_until == real_now_clock() + timedelta(seconds=1)


def test_a_receiver_that_does_not_answer_in_time_is_a_read_timeout(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(204, hold=server.hold()))
    target = endpoint(server.url(), read_timeout=0.2)
    result = deliverer.deliver(target, Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, RetryLater)
    assert (result.error, result.status) == ("read_timeout", None)
    assert len(server.to("/hook")) == 1


def test_a_connection_that_never_opens_is_a_connect_timeout(
    deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    tarpit = Tarpit()
    try:
        target = endpoint(f"http://127.0.0.1:{tarpit.port}/hook", connect_timeout=0.2)
        result = deliverer.deliver(target, Delivery("evt_1", body_for(real_now_clock)))
    finally:
        tarpit.close()
    assert isinstance(result, RetryLater)
    assert (result.error, result.status) == ("connect_timeout", None)


def test_a_refused_connection_is_a_connect_error(
    deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    target = endpoint(f"http://127.0.0.1:{closed_port()}/hook")
    result = deliverer.deliver(target, Delivery("evt_1", body_for(real_now_clock)))
    assert isinstance(result, RetryLater)
    assert result.error == "connect_error"


def test_results_and_logs_never_carry_the_answer_or_the_payload(
    server: RecordingServer,
    deliverer: WebhookDeliverer,
    real_now_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.answer("/hook", Reply(500, body=b"stack trace mentioning jane@example.com"))
    with caplog.at_level(logging.DEBUG, logger="cartback"):
        result = deliverer.deliver(
            endpoint(server.url()), Delivery("evt_1", body_for(real_now_clock))
        )
    assert isinstance(result, RetryLater)
    assert "jane" not in repr(result)
    assert caplog.records, "the attempt is logged"
    assert all("jane" not in record.getMessage() for record in caplog.records)
    assert all(server.url() not in record.getMessage() for record in caplog.records)


def test_cookies_set_by_a_receiver_are_not_sent_back(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    server.answer("/hook", Reply(200, {"set-cookie": "session=abc; Path=/"}))
    target = endpoint(server.url())
    deliverer.deliver(target, Delivery("evt_1", body_for(real_now_clock)))
    deliverer.deliver(target, Delivery("evt_2", body_for(real_now_clock)))
    assert [request.headers.get("cookie") for request in server.to("/hook")] == [None, None]


def test_during_rotation_both_secrets_sign_and_either_verifies(
    server: RecordingServer, deliverer: WebhookDeliverer, real_now_clock: FakeClock
) -> None:
    retire_at = real_now_clock() + timedelta(hours=1)
    target = endpoint(
        server.url(),
        secrets=[{"value": OLD_SECRET, "active_until": retire_at.isoformat()}, SECRET],
    )
    deliverer.deliver(target, Delivery("evt_1", body_for(real_now_clock)))
    [request] = server.to("/hook")
    signatures = request.headers["webhook-signature"].split(" ")
    assert [one[:3] for one in signatures] == ["v1,", "v1,"]
    assert verify(request, SECRET) == json.loads(request.body)
    assert verify(request, OLD_SECRET) == json.loads(request.body)


def test_a_retired_secret_no_longer_signs(
    server: RecordingServer, real_now_clock: FakeClock
) -> None:
    retire_at = real_now_clock() - timedelta(seconds=1)
    target = endpoint(
        server.url(), secrets=[SECRET, {"value": OLD_SECRET, "active_until": retire_at}]
    )
    with WebhookDeliverer(clock=real_now_clock) as deliverer:
        deliverer.deliver(target, Delivery("evt_1", body_for(real_now_clock)))
    [request] = server.to("/hook")
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    verify(request, SECRET)
    with pytest.raises(WebhookVerificationError):
        verify(request, OLD_SECRET)


def test_tls_is_verified_for_the_host_name_while_connecting_to_the_checked_address(
    tmp_path: Path, real_now_clock: FakeClock
) -> None:
    cert, key = make_certificate(tmp_path, "hooks.test")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    trust = ssl.create_default_context(cafile=str(cert))
    resolver = table_resolver({"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with (
        RecordingServer(tls=server_tls) as tls_server,
        WebhookDeliverer(clock=real_now_clock, resolver=resolver, ssl_context=trust) as deliverer,
    ):
        good = endpoint(tls_server.url(scheme="https", host="hooks.test"))
        delivered = deliverer.deliver(good, Delivery("evt_1", body_for(real_now_clock)))
        wrong_name = endpoint(tls_server.url(scheme="https", host="other.test"))
        refused = deliverer.deliver(wrong_name, Delivery("evt_2", body_for(real_now_clock)))
        [request] = tls_server.to("/hook")
    assert isinstance(delivered, Delivered)
    assert request.headers["host"] == f"hooks.test:{tls_server.port}"
    verify(request)
    assert isinstance(refused, RetryLater)
    assert refused.error == "tls_error"
