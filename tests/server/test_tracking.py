"""Tracking over HTTP: the email's tracking image records an open and always answers a
1x1 GIF; providers' delivery receipts and opens arrive on the signed API; a bad call
changes nothing and says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cartback import Changes, LinkSigner, MessageRecord
from server_example import create_app
from tests.conftest import FakeClock
from tests.server.test_api import CAPTURE, beacon, make_settings, sdk
from tests.server.test_backend_api import signed


@pytest.fixture
def api(tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), clock=clock)) as client:
        beacon(client, CAPTURE)  # jane@example.com
        yield client


def sent_email(api: TestClient, clock: FakeClock) -> MessageRecord:
    """A recovery email recorded as sent about Jane's cart (as the dispatcher does)."""
    cartback = sdk(api)
    (cart,) = cartback.list_carts().items
    record = MessageRecord(
        id="msg_tracking1",
        cart_id=cart.id,
        prospect="jane@example.com",
        channel="email",
        status="sent",
        at=clock.now,
        flow_id="conversational",
        step_id="email",
        template="conversational",
    )
    cartback.store.write(lambda tx: tx.apply(Changes(messages=(record,))))
    return record


def signer(api: TestClient) -> LinkSigner:
    links = sdk(api).links
    assert links is not None
    return links


def test_the_tracking_image_records_an_open_and_answers_a_gif(
    api: TestClient, clock: FakeClock
) -> None:
    message = sent_email(api, clock)
    clock.advance(minutes=5)
    answer = api.get(f"/o/{signer(api).open_token(message.cart_id, message.id)}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    assert answer.headers["cache-control"] == "no-store, private"
    assert answer.content.startswith(b"GIF89a")
    assert len(answer.content) == 43
    (opened,) = sdk(api).engagements(message.cart_id)
    assert (opened.message_id, opened.kind, opened.at) == (message.id, "opened", clock.now)


def test_a_forged_tracking_image_answers_the_gif_and_records_nothing(
    api: TestClient, clock: FakeClock
) -> None:
    message = sent_email(api, clock)
    forged = LinkSigner(b"x" * 32).open_token(message.cart_id, message.id)
    for token in (forged, "nonsense", signer(api).recovery_token(message.cart_id, now=clock.now)):
        answer = api.get(f"/o/{token}")
        assert (answer.status_code, answer.headers["content-type"]) == (200, "image/gif")
    assert sdk(api).engagements(message.cart_id) == []


def test_a_delivery_receipt_on_the_signed_api(api: TestClient, clock: FakeClock) -> None:
    message = sent_email(api, clock)
    at = clock.now + timedelta(seconds=30)
    clock.advance(minutes=1)
    body = {"message_id": message.id, "kind": "delivered", "at": at.isoformat()}
    answer = signed(api, "/api/engagements", body, clock)
    assert answer.json() == {"status": "recorded", "cart": message.cart_id}
    (delivered,) = sdk(api).engagements(message.cart_id)
    assert (delivered.kind, delivered.at) == ("delivered", at)


def test_a_receipt_dated_in_the_future_is_dated_now(api: TestClient, clock: FakeClock) -> None:
    message = sent_email(api, clock)
    later = (clock.now + timedelta(days=2)).isoformat()
    signed(api, "/api/engagements", {"message_id": message.id, "kind": "opened", "at": later},
           clock)  # fmt: skip
    (opened,) = sdk(api).engagements(message.cart_id)
    assert opened.at == clock.now


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"message_id": "msg_unknown", "kind": "delivered"}, 404, "message_id"),
        ({"message_id": "msg_tracking1", "kind": "clicked"}, 422, "kind"),
        ({"message_id": "msg_tracking1", "kind": "delivered", "at": "yesterday"}, 422, "at"),
        (
            {"message_id": "msg_tracking1", "kind": "delivered", "at": "2026-11-22T12:00:00"},
            422,
            "at",
        ),
        ({"kind": "delivered"}, 422, "message_id"),
        ({"message_id": "msg_tracking1", "kind": "delivered", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_engagements_name_the_field_and_change_nothing(
    api: TestClient, clock: FakeClock, body: dict[str, object], status: int, field: str
) -> None:
    message = sent_email(api, clock)
    answer = signed(api, "/api/engagements", body, clock)
    assert (answer.status_code, answer.json()["field"]) == (status, field)
    assert sdk(api).engagements(message.cart_id) == []


def test_an_unsigned_engagement_is_refused(api: TestClient, clock: FakeClock) -> None:
    message = sent_email(api, clock)
    answer = api.post("/api/engagements", json={"message_id": message.id, "kind": "delivered"})
    assert answer.status_code == 401
    assert sdk(api).engagements(message.cart_id) == []
