"""The demo's thanks page (the demo shop's own backend) says what happened to the
prospect's carts: how many the order closed, or that none had been captured."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cartback import Cartback
from server_example.app import create_app
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.fixtures import FakeMonotonic
from tests.server.support import cart_submission, seed


@pytest.fixture
def receiver_app(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> Starlette:
    settings = dataclasses.replace(receiver_settings, demo=True)
    return create_app(settings, clock=clock, monotonic=receiver_monotonic)


def outcome(client: TestClient, **form: str) -> tuple[str, str]:
    response = client.post("/thanks", data=form)
    assert response.status_code == 200
    heading = re.search(r"<h1>(.*?)</h1>", response.text)
    said = re.search(r'<p id="outcome">(.*?)</p>', response.text, re.S)
    assert heading is not None
    assert said is not None
    return heading.group(1), " ".join(html.unescape(re.sub(r"<[^>]+>", "", said.group(1))).split())


def test_buying_says_how_many_carts_it_closed(
    receiver_client: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(cartback, clock, [cart_submission("ann@example.com")])
    heading, said = outcome(receiver_client, email="ann@example.com")
    assert heading == "Thank you for your order"
    assert said.startswith(
        "This is a demo: nothing was charged. The shop's backend (this page) confirmed the "
        "order to the receiver,"
    )
    assert "closed your abandoned cart: no recovery message will follow" in said
    assert [cart.status for cart in cartback.list_carts().items] == ["ordered"]

    seed(cartback, clock, [cart_submission("ben@example.com", form_id=f) for f in ("a", "b")])
    _, said = outcome(receiver_client, email="ben@example.com")
    assert "closed 2 abandoned carts" in said


def test_buying_without_a_captured_cart_says_none_was_closed(
    receiver_client: TestClient, cartback: Cartback
) -> None:
    heading, said = outcome(receiver_client, email="never@example.com")
    assert heading == "Thank you for your order"
    assert said == (
        "This is a demo: nothing was charged. No cart was captured for this visit, so the "
        "receiver had none to close: nothing had been captured, and no recovery message was "
        "planned."
    )
    _, said = outcome(receiver_client, email="")
    assert "(no email address was entered)" in said
    assert receiver_client.get("/thanks").status_code == 200  # straight to the page


def test_a_failed_payment_says_whether_a_cart_keeps_its_reason(
    receiver_client: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    heading, said = outcome(receiver_client, email="", demo_outcome="card_declined")
    assert heading == "Your payment did not go through"  # even without an email
    assert said.endswith("Nothing was recorded: no cart had been captured for this visit.")
    (cart,) = seed(cartback, clock, [cart_submission("cy@example.com")])
    heading, said = outcome(
        receiver_client, email="cy@example.com", demo_outcome="authentication_timeout"
    )
    assert heading == "Your payment did not go through"
    assert "(authentication_timeout). The cart stays open with that reason" in said
    assert [f.reason for f in cartback.get_cart(cart.id).payment_failures] == [
        "authentication_timeout"
    ]
