"""The demo's recovery, end to end in Chromium: a prospect leaves the demo shop; with the
demo's fast clock the conversational email reaches its local mailbox (a real SMTP
server); the email's recovery link reopens the pre-filled order form; buying closes the
cart."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from starlette.applications import Starlette

from cartback import Cart, Cartback
from server_example.app import create_app
from server_example.demo import DemoClock, Mailbox
from server_example.settings import Settings
from tests.browser.support import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    opened = Mailbox(DemoClock(speed=7200))
    opened.start()
    yield opened
    opened.stop()


@pytest.fixture
def receiver_app(tmp_path: Path, receiver_socket: socket.socket, mailbox: Mailbox) -> Starlette:
    """The demo as ``python -m server_example`` runs it, its clock 7,200 times faster
    (the conversational email's three hours in 1.5 seconds)."""
    host, port = receiver_socket.getsockname()[:2]
    settings = Settings.for_demo(str(tmp_path / "demo.sqlite3"), f"http://{host}:{port}")
    return create_app(settings, clock=DemoClock(speed=7200), mailbox=mailbox)


def carts(app: Starlette) -> tuple[Cart, ...]:
    cartback = app.state.cartback
    assert isinstance(cartback, Cartback)
    return cartback.list_carts().items


def test_a_prospect_who_leaves_gets_the_email_and_its_link_reopens_the_form(
    browser: Browser, page: Page, live_receiver: str, receiver_app: Starlette, mailbox: Mailbox
) -> None:
    shop = browser.new_context().new_page()
    shop.goto(live_receiver + "/")
    shop.fill("#email", "lea.returns@example.com")
    shop.fill("#first_name", "Lea")
    shop.fill("#phone", "(503) 555-0142")
    shop.select_option("#country", "US")
    shop.click("h1")
    shop.close(run_before_unload=True)  # the prospect leaves

    wait_until(lambda: mailbox.emails, what="the recovery email in the mailbox", timeout=30)
    (received,) = mailbox.emails
    assert received.subject == "You had started your order…"
    assert "lea.returns@example.com" in received.to
    assert "Hello Lea," in received.part("plain")

    page.goto(live_receiver + "/mailbox")
    page.click(f"a[href='/mailbox/{received.number}']")
    text = page.locator("pre").inner_text()
    link = re.search(r"http://\S+/r/\S+", text)
    assert link is not None
    assert "lea.returns" not in link.group(0)  # the link carries a token, not the address

    page.goto(link.group(0))
    expect(page.locator("#email")).to_have_value("lea.returns@example.com")
    expect(page.locator("#first_name")).to_have_value("Lea")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Thank you for your order")
    wait_until(lambda: carts(receiver_app)[0].status == "ordered", what="the closed cart")
    cartback: Cartback = receiver_app.state.cartback
    (cart,) = carts(receiver_app)
    assert [m.status for m in cartback.messages(cart.id)] == ["sent"]
    assert len(cartback.store.clicks(cart.id)) == 1
