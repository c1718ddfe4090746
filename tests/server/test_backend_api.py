"""The signed API over HTTP: failed payments, push devices, social opt-ins, tracked
activity, email and SMS replies. Every call is signed; a bad one changes nothing."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cartback import Cartback, Changes, webhook_headers
from server_example import create_app
from tests.conftest import FakeClock
from tests.server.test_api import API_SECRET, CAPTURE, beacon, make_settings, sdk

_ids = itertools.count()


def signed(api: TestClient, path: str, body: dict[str, Any], clock: FakeClock,
           secret: str = API_SECRET) -> Any:  # fmt: skip
    raw = json.dumps(body).encode()
    headers = webhook_headers(secret, f"msg_{next(_ids)}", int(clock.now.timestamp()), raw)
    return api.post(path, content=raw, headers={"content-type": "application/json", **headers})


@pytest.fixture
def api(tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), clock=clock)) as client:
        beacon(client, CAPTURE)  # jane@example.com, US, session sess-1
        yield client


def test_a_failed_payment_keeps_the_cart_open_with_its_reason(
    api: TestClient, clock: FakeClock
) -> None:
    beacon(api, {"session_id": "sess-1"}, "/api/capture/complete")
    answer = signed(api, "/api/orders", {"type": "payment.failed", "session_id": "sess-1",
                                          "reason": "authentication_timeout"}, clock)  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["status"] == "payment_failed"
    [cart] = sdk(api).list_carts().items
    assert cart.status == "open"
    assert cart.last_payment_failure is not None
    assert cart.last_payment_failure.reason == "authentication_timeout"


def test_a_bad_failure_reason_names_the_field(api: TestClient, clock: FakeClock) -> None:
    answer = signed(api, "/api/orders", {"type": "payment.failed", "email": "jane@example.com",
                                          "reason": "cosmic_rays"}, clock)  # fmt: skip
    assert answer.status_code == 422
    assert answer.json()["field"] == "reason"


def test_a_confirmed_order_closes_the_submitted_cart(api: TestClient, clock: FakeClock) -> None:
    beacon(api, {"session_id": "sess-1"}, "/api/capture/complete")
    answer = signed(api, "/api/orders", {"email": "jane@example.com", "order_id": "o-7",
                                          "revenue": "49.00"}, clock)  # fmt: skip
    assert answer.json()["status"] == "closed"
    [cart] = sdk(api).list_carts().items
    assert (cart.status, cart.order_id) == ("ordered", "o-7")


def test_devices_register_and_invalidate(api: TestClient, clock: FakeClock) -> None:
    body = {"email": "jane@example.com", "platform": "ios", "token": "ab" * 32,
            "app_id": "com.shop.app"}  # fmt: skip
    assert signed(api, "/api/devices", body, clock).json() == {"status": "registered"}
    cartback = sdk(api)
    assert cartback.may_contact("jane@example.com", "push")
    gone = signed(api, "/api/devices", {**body, "invalidate": True}, clock)
    assert gone.json() == {"status": "invalidated"}
    (device,) = cartback.devices("jane@example.com")
    assert not device.active


def test_social_opt_in_and_tracking(api: TestClient, clock: FakeClock) -> None:
    opt_in = {"email": "jane@example.com", "platform": "messenger", "page_id": "123",
              "recipient_id": "6543210987654321"}  # fmt: skip
    assert signed(api, "/api/social", opt_in, clock).json() == {"status": "registered"}
    track = {"email": "jane@example.com", "kind": "metric", "name": "Profile completed"}
    assert signed(api, "/api/track", track, clock).json() == {"status": "recorded"}
    cartback = sdk(api)
    assert cartback.may_contact("jane@example.com", "messenger")
    (activity,) = cartback.store.activities("jane@example.com")
    assert (activity.kind, activity.name) == ("metric", "profile_completed")


def test_an_email_reply_is_kept_for_staff(api: TestClient, clock: FakeClock) -> None:
    body = {"from": "Jane <JANE@example.com>", "text": "Can I pay in two parts?",
            "in_reply_to": "<cartback.msg_0123abcd@shop.example>"}  # fmt: skip
    answer = signed(api, "/api/inbound/email", body, clock)
    assert answer.json()["status"] == "recorded"
    (reply,) = sdk(api).replies("jane@example.com")
    assert (reply.text, reply.channel, reply.message_id) == (
        "Can I pay in two parts?",
        "email",
        "msg_0123abcd",
    )


def test_stop_by_sms_withdraws_consent(api: TestClient, clock: FakeClock) -> None:
    cartback: Cartback = sdk(api)
    cartback.record_consent("jane@example.com", "sms", "granted")
    cartback.store.write(
        lambda tx: tx.apply(Changes(sms_numbers=(("+14155552671", "jane@example.com", clock.now),)))
    )
    assert signed(api, "/api/inbound/sms", {"from": "+14155552671", "text": "STOP"},
                  clock).json() == {"status": "opted_out"}  # fmt: skip
    assert not cartback.may_contact("jane@example.com", "sms")
    unknown = signed(api, "/api/inbound/sms", {"from": "+14155550000", "text": "hi"}, clock)
    assert unknown.json() == {"status": "unknown_number"}


@pytest.mark.parametrize(
    "path", ["/api/orders", "/api/devices", "/api/social", "/api/track", "/api/inbound/email",
             "/api/inbound/sms"],
)  # fmt: skip
def test_every_signed_endpoint_refuses_unsigned_or_wrongly_signed_calls(
    api: TestClient, clock: FakeClock, path: str
) -> None:
    unsigned = api.post(path, json={"email": "jane@example.com"})
    assert unsigned.status_code == 401
    assert unsigned.json()["reason"] == "bad_signature"
    other = "whsec_" + "A" * 43 + "="
    wrong = signed(api, path, {"email": "jane@example.com"}, clock, secret=other)
    assert wrong.status_code == 401
    assert sdk(api).store.activities("jane@example.com") == []


def test_without_a_secret_the_signed_api_is_off(tmp_path: Path, clock: FakeClock) -> None:
    with TestClient(create_app(make_settings(tmp_path, api_secret=None), clock=clock)) as api:
        answer = api.post("/api/track", json={})
        assert answer.status_code == 403
        assert answer.json()["reason"] == "not_configured"
