"""The README's promise, end to end: the snippet on the demo shop, the real receiver,
the dashboard. A newcomer fills the form, closes the tab, and sees the cart."""

from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import Browser, Page, expect
from starlette.applications import Starlette

from cartback import Cart, Cartback
from server_example.settings import Settings
from tests.browser.support import wait_until
from tests.server.fixtures import RECEIVER_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver_settings(receiver_settings: Settings) -> Settings:
    """The shared receiver settings with the demo shop page switched on."""
    return dataclasses.replace(receiver_settings, demo=True)


def carts(app: Starlette) -> tuple[Cart, ...]:
    cartback = app.state.cartback
    assert isinstance(cartback, Cartback)
    return cartback.list_carts().items


def fill_demo_form(page: Page) -> None:
    page.fill("#email", "new.comer@example.com")
    page.fill("#first_name", "Nia")
    page.fill("#phone", "(415) 555-2671")
    page.select_option("#country", "US")
    page.fill("#heard", "a podcast")
    page.check("input[name=payment_plan][value='3x']")
    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.check("#newsletter")
    page.click("h1")  # blur the last field


def test_fill_close_the_tab_and_see_the_cart_in_the_dashboard(
    browser: Browser, live_receiver: str, receiver_app: Starlette
) -> None:
    shop = browser.new_context().new_page()
    shop.goto(live_receiver + "/")
    fill_demo_form(shop)
    shop.close(run_before_unload=True)  # the prospect leaves: pagehide sends the beacon

    wait_until(lambda: len(carts(receiver_app)) == 1, what="the beacon's cart")
    [cart] = carts(receiver_app)
    assert cart.contact.email == "new.comer@example.com"
    assert (cart.contact.first_name, cart.contact.phone) == ("Nia", "+14155552671")
    assert cart.contact.country == "US"
    assert cart.newsletter_opt_in is True
    assert cart.context.product_id == "sourdough-course"
    stored = cart.contact.model_dump_json() + cart.context.model_dump_json()
    for never in ("4242", "podcast", '"3x"'):
        assert never not in stored

    staff = browser.new_context().new_page()
    staff.goto(live_receiver + "/admin")
    staff.fill("input[name=password]", RECEIVER_PASSWORD)
    staff.click("button[type=submit]")
    expect(staff.locator("h1")).to_be_visible()  # the overview, where a login lands
    staff.goto(live_receiver + "/admin/carts")
    expect(staff.locator("table").last).to_contain_text("new.comer@example.com")
    expect(staff.locator("table").last).to_contain_text("The Sourdough Course")


def test_buying_closes_the_cart(page: Page, live_receiver: str, receiver_app: Starlette) -> None:
    page.goto(live_receiver + "/")
    fill_demo_form(page)
    wait_until(lambda: len(carts(receiver_app)) == 1, what="the captured cart", page=page)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Thank you for your order")
    wait_until(lambda: carts(receiver_app)[0].status == "ordered", what="the closed cart")


def test_an_eu_prospect_is_never_stored(
    page: Page, live_receiver: str, receiver_app: Starlette
) -> None:
    page.goto(live_receiver + "/")
    page.select_option("#country", "DE")
    with page.expect_response(lambda r: r.url.endswith("/api/capture")) as answer:
        page.fill("#email", "hans@example.de")
        page.click("h1")
    assert answer.value.json() == {"status": "not_stored", "reasons": ["country_excluded"]}
    assert carts(receiver_app) == ()


def test_a_declined_card_keeps_the_cart_open_with_its_reason(
    page: Page, live_receiver: str, receiver_app: Starlette
) -> None:
    page.goto(live_receiver + "/")
    fill_demo_form(page)
    wait_until(lambda: len(carts(receiver_app)) == 1, what="the captured cart", page=page)
    page.select_option("#demo_outcome", "card_declined")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your payment did not go through")
    (cart,) = carts(receiver_app)
    assert cart.status == "open"
    assert [failure.reason for failure in cart.payment_failures] == ["card_declined"]


def test_the_thanks_page_says_when_no_cart_had_been_captured(
    page: Page, live_receiver: str
) -> None:
    page.goto(live_receiver + "/thanks")
    expect(page.locator("p")).to_contain_text("nothing had been captured")
