"""The dashboard's cart page: what was captured, consent, the flow, messages, replies and
what each channel would send, behind the login."""

from __future__ import annotations

import dataclasses
import html

import pytest
from starlette.testclient import TestClient

from cartback import Cartback
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.fixtures import RECEIVER_PASSWORD
from tests.server.support import log_in

CAPTURE = {
    "form_id": "f1",
    "seller": "us",
    "product_name": "Sourdough <script>alert(1)</script>",
    "fields": {"email": "jane@example.com", "first_name": "Jane", "country": "US"},
}


@pytest.fixture
def receiver_settings(receiver_settings: Settings) -> Settings:
    """The receiver without its background dispatcher: these tests tick it themselves."""
    return dataclasses.replace(receiver_settings, dispatcher=False)


def test_the_cart_page_shows_the_flow_messages_and_previews(
    receiver_client: TestClient, clock: FakeClock
) -> None:
    cartback: Cartback = receiver_client.app.state.cartback  # type: ignore[attr-defined]
    cart = cartback.capture(CAPTURE).cart
    assert cart is not None
    log_in(receiver_client, RECEIVER_PASSWORD)
    page = receiver_client.get(f"/admin/carts/{cart.id}")
    assert page.status_code == 200
    assert "jane@example.com" in page.text
    assert "<script>alert(1)</script>" not in page.text  # escaped everywhere
    assert html.escape("<script>") in page.text
    assert "Not in a flow" in page.text
    assert 'data-channel="email"' in page.text
    assert "Hello Jane," in page.text
    assert "Nothing: no_consent" in page.text  # SMS: never granted

    runner = receiver_client.app.state.recovery  # type: ignore[attr-defined]
    runner.tick()
    clock.advance(hours=3, minutes=1)
    runner.tick()
    page = receiver_client.get(f"/admin/carts/{cart.id}")
    assert "conversational (version 1)" in page.text
    assert '<td class="message-status">sent</td>' in page.text


def test_a_reply_is_shown_and_the_flow_can_be_resumed(
    receiver_client: TestClient, clock: FakeClock
) -> None:
    cartback: Cartback = receiver_client.app.state.cartback  # type: ignore[attr-defined]
    cart = cartback.capture(CAPTURE).cart
    assert cart is not None
    receiver_client.app.state.recovery.tick()  # type: ignore[attr-defined]
    cartback.record_reply("jane@example.com", "email", "Can I pay next week?")
    log_in(receiver_client, RECEIVER_PASSWORD)
    page = receiver_client.get(f"/admin/carts/{cart.id}")
    assert "Can I pay next week?" in page.text
    resumed = receiver_client.post(
        f"/admin/carts/{cart.id}/resume",
        headers={"sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert resumed.status_code == 303
    scheduled = cartback.store.enrolment(cart.id)
    assert scheduled is not None
    assert scheduled.enrolment.resumed_at == clock.now


def test_the_cart_page_needs_the_login_and_a_real_cart(receiver_client: TestClient) -> None:
    assert receiver_client.get("/admin/carts/cart_x", follow_redirects=False).status_code == 303
    log_in(receiver_client, RECEIVER_PASSWORD)
    assert receiver_client.get("/admin/carts/cart_missing").status_code == 404
    assert receiver_client.get("/admin/carts/not-a-cart").status_code == 404
    forged = receiver_client.post(
        "/admin/carts/cart_x/resume", headers={"sec-fetch-site": "cross-site"}
    )
    assert forged.status_code == 403
