"""Real checkouts, driven in real Chromium, captured by the real receiver.

Each page of ``tests/browser/pages`` reproduces one platform's stock checkout markup
(names, ids, autocomplete tokens, labels, its step structure with real page loads where
the platform has them, its country select with the platform's own values) and embeds
the snippet as its install guide (docs/platforms/) says. A prospect goes through it as
a prospect does; the snippet posts to the reference receiver served by uvicorn
(``live_receiver``), and the tests read what it stored through the SDK facade.

What each test proves: the right fields are stored and nothing extra, the cart stays
open through every step's submit, and a prospect in the EU is refused under the
platform's country encoding.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from starlette.applications import Starlette

from cartback import Cart, Contact, EligibilityPolicy, parse_submission
from server_example.settings import Settings

from .support import FixtureSite, PageLog, wait_until

pytestmark = pytest.mark.browser

CAPTURE = "/api/capture"
COMPLETE = "/api/capture/complete"

ANSWERS = """
(() => {
  // The receiver's answers to the captures this document sent by fetch.
  const answers = (window.__answers = []);
  const fetch = window.fetch;
  window.fetch = function (url, init) {
    const sent = fetch.apply(this, arguments);
    if (String(url).endsWith("/api/capture")) {
      sent.then((response) => response.clone().json()).then((body) => answers.push(body), () => {});
    }
    return sent;
  };
})();
"""


@pytest.fixture
def receiver_settings(receiver_settings: Settings, site: FixtureSite) -> Settings:
    """The receiver, open to the shop's origin (the fixture site) and not rate limited:
    a prospect's typing sends many captures."""
    return dataclasses.replace(
        receiver_settings,
        allowed_origins=(site.origin,),
        rate_per_minute=100_000,
        rate_burst=10_000,
        policy=EligibilityPolicy(allowed_sellers=frozenset({"us", "acme-us"})),
    )


@dataclasses.dataclass
class Shop:
    """A browser on the shop's checkout, the snippet posting to the live receiver."""

    page: Page
    site: FixtureSite
    app: Starlette
    log: PageLog

    def open(self, name: str) -> None:
        self.page.goto(self.site.url(name), wait_until="domcontentloaded")
        self.ready()

    def ready(self) -> None:
        assert self.page.evaluate("typeof window.cartback?.capture") == "function"

    def type(self, values: dict[str, str]) -> None:
        """Type into inputs (CSS selectors), leaving each with Tab, as a prospect does."""
        for selector, value in values.items():
            self.page.locator(selector).fill(value)
            self.page.keyboard.press("Tab")

    def choose(self, selector: str, label: str) -> None:
        self.page.locator(selector).select_option(label=label)
        self.page.keyboard.press("Tab")

    def submit(self, selector: str, then: str | None = None) -> None:
        """Press a step's button; ``then``: the page the step's submit loads."""
        if then is None:
            self.page.click(selector)
        else:
            with self.page.expect_navigation(url=f"**/pages/{then}"):
                self.page.click(selector)
            self.ready()

    def order(self, selector: str) -> None:
        """Place the order with the button at ``selector``, once the receiver stored the
        capture that focusing it sends.

        The page that is left would otherwise send that capture while the thank-you page
        reports the order, and the receiver can record the order first (its writer
        batches captures): the late capture then opens a second cart. (A receiver-side
        matter; the tests place the order as a prospect who paused on the button.)
        """
        self.page.focus(selector)
        name = self.page.eval_on_selector(selector, "button => button.name || button.id")
        self.cart(f"the focus on {name}", lambda cart: cart.context.last_field == name)
        with self.page.expect_navigation(url="**/pages/order-received.html"):
            self.page.click(selector)
        self.ready()

    def carts(self) -> list[Cart]:
        return list(self.app.state.cartback.list_carts(limit=10).items)

    def cart(self, what: str, condition: Callable[[Cart], object]) -> Cart:
        """The one cart, once ``condition`` holds for it."""

        def found() -> Cart | None:
            carts = self.carts()
            assert len(carts) <= 1, "one prospect, one cart"
            return carts[0] if carts and condition(carts[0]) else None

        return wait_until(found, what=what, page=self.page)

    def refused(self, reason: str) -> None:
        """Wait until the receiver answered a capture of this page with ``reason``."""
        wait_until(
            lambda: any(
                answer.get("status") == "not_stored" and reason in answer.get("reasons", [])
                for answer in self.page.evaluate("window.__answers")
            ),
            what=f"a capture refused with {reason}",
            page=self.page,
        )

    def leave(self) -> None:
        """The tab goes to the background: the snippet captures at once."""
        self.page.evaluate(
            """() => {
              Object.defineProperty(document, "visibilityState",
                                    { configurable: true, get: () => "hidden" });
              document.dispatchEvent(new Event("visibilitychange"));
            }"""
        )

    def completions(self) -> int:
        return sum(seen.url.endswith(COMPLETE) for seen in self.log.requests)


@pytest.fixture
def shop(
    page: Page, page_log: PageLog, site: FixtureSite, receiver_app: Starlette, live_receiver: str
) -> Iterator[Shop]:
    site.use(endpoint=f"{live_receiver}{CAPTURE}")
    page.add_init_script(ANSWERS)
    yield Shop(page, site, receiver_app, page_log)
    assert page.context.cookies() == [], "the snippet sets no cookies"
    bodies = [
        json.loads(seen.post_data)
        for seen in page_log.requests
        if seen.url.endswith(CAPTURE) and seen.post_data
    ]
    assert bodies, "the page sent captures"
    for body in bodies:
        parse_submission(body)  # every body the snippet sent is one the receiver reads
    page.close()  # while the receiver still runs: the page's last capture reaches it


def open_and_stays_open(shop: Shop, what: str, condition: Callable[[Cart], object]) -> Cart:
    cart = shop.cart(what, lambda cart: condition(cart) and cart.status == "open")
    assert shop.completions() == 0, "a step's submit is not the purchase"
    return cart


def completed(shop: Shop) -> Cart:
    return shop.cart("the order to close the cart", lambda cart: cart.status != "open")


ANN = Contact(
    email="ann.lee@example.com",
    phone="+15125550199",
    phone_e164=True,
    first_name="Ann",
    last_name="Lee",
    street="12 Elm Street",
    city="Austin",
    state="TX",
    postal_code="78701",
    country="US",
)


# -- WooCommerce ------------------------------------------------------------------------


def test_woocommerce_block_checkout(shop: Shop) -> None:
    shop.open("woocommerce-blocks.html")
    shop.type({"#email": "ann.lee@example.com"})
    shop.choose("#shipping-country", "United States (US)")
    shop.type(
        {
            "#shipping-first_name": "Ann",
            "#shipping-last_name": "Lee",
            "#shipping-address_1": "12 Elm Street",
            "#shipping-address_2": "Apt 4",
            "#shipping-city": "Austin",
        }
    )
    shop.choose("#shipping-state", "Texas")
    shop.type({"#shipping-postcode": "78701", "#shipping-phone": "+1 512 555 0199"})
    expected = ANN.model_copy(update={"address_extra": {"shipping_address_2": "Apt 4"}})
    cart = open_and_stays_open(shop, "the shipping address", lambda c: c.contact == expected)
    assert cart.context.form_id == "woo-blocks"
    assert cart.context.last_field is not None

    shop.order("#place-order")
    assert completed(shop).contact == cart.contact


def test_woocommerce_classic_checkout(shop: Shop) -> None:
    shop.open("woocommerce.html")
    shop.type(
        {
            "#billing_first_name": "Ann",
            "#billing_last_name": "Lee",
            "#billing_company": "Lee Studio",
            "#billing_address_1": "12 Elm Street",
            "#billing_city": "Austin",
            "#billing_state": "TX",
            "#billing_postcode": "78701",
            "#billing_phone": "+1 512 555 0199",
            "#order_comments": "Leave at the door",
            "#billing_email": "ann.lee@example.com",
        }
    )
    shop.choose("#billing_country", "United States (US)")
    expected = ANN.model_copy(update={"address_extra": {"billing_company": "Lee Studio"}})
    cart = shop.cart("the billing address", lambda c: c.contact == expected)
    assert "Leave at the door" not in cart.model_dump_json()


# The stock checkouts preselect the shop's country: the prospect changes it first. (A
# prospect who types the email first is captured with the preselected country; see
# docs/platforms/.)


@pytest.mark.parametrize("country", ["France", "Germany"])
def test_woocommerce_refuses_eu_prospects(shop: Shop, country: str) -> None:
    shop.open("woocommerce-blocks.html")
    shop.choose("#shipping-country", country)
    shop.type({"#email": "eu@example.com", "#shipping-city": "Lyon"})
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_excluded")
    assert shop.carts() == []


# -- Medusa -------------------------------------------------------------------------------


def fill_medusa(shop: Shop, country: str) -> None:
    shop.type(
        {
            "#shipping_address\\.first_name": "Ann",
            "#shipping_address\\.last_name": "Lee",
            "#shipping_address\\.address_1": "12 Elm Street",
            "#shipping_address\\.company": "Lee Studio",
            "#shipping_address\\.postal_code": "78701",
            "#shipping_address\\.city": "Austin",
        }
    )
    shop.choose("#shipping_address\\.country_code", country)
    shop.type(
        {
            "#shipping_address\\.province": "TX",
            "#email": "ann.lee@example.com",
            "#shipping_address\\.phone": "+1 512 555 0199",
        }
    )


def test_medusa_storefront(shop: Shop) -> None:
    shop.open("medusa.html")
    fill_medusa(shop, "United States")
    shop.submit("#submit-address")  # the Address step: a server action, no page load
    expected = ANN.model_copy(update={"address_extra": {"shipping_address_company": "Lee Studio"}})
    cart = open_and_stays_open(shop, "the address step", lambda c: c.contact == expected)
    shop.page.click("#continue-to-payment")
    shop.page.click("#continue-to-review")
    shop.leave()  # the address form is gone; what was typed on it is carried on
    # The review step's capture only says where the prospect got to: stored quietly.
    later = open_and_stays_open(
        shop,
        "a capture from the review step",
        lambda c: c.context.last_field == "continue-to-review",
    )
    assert later.capture_count == cart.capture_count  # stored quietly, no new capture

    shop.order("#place-order")
    assert completed(shop).contact == cart.contact


def test_medusa_refuses_eu_prospects(shop: Shop) -> None:
    shop.open("medusa.html")
    fill_medusa(shop, "France")
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_excluded")
    assert shop.carts() == []


# -- Shopify (checkout.liquid era: one page per step) ---------------------------------------


def shopify_information(shop: Shop, country: str) -> None:
    shop.open("shopify-information.html")
    shop.choose("#checkout_shipping_address_country", country)
    shop.type({"#checkout_email": "ann.lee@example.com"})
    shop.page.check("#checkout_buyer_accepts_marketing")
    shop.type(
        {
            "#checkout_shipping_address_first_name": "Ann",
            "#checkout_shipping_address_last_name": "Lee",
            "#checkout_shipping_address_address1": "12 Elm Street",
            "#checkout_shipping_address_city": "Austin",
        }
    )
    shop.choose("#checkout_shipping_address_province", "New York")
    shop.type(
        {
            "#checkout_shipping_address_zip": "78701",
            "#checkout_shipping_address_phone": "+1 512 555 0199",
        }
    )


def test_shopify_checkout_pages(shop: Shop) -> None:
    shopify_information(shop, "United States")
    expected = ANN.model_copy(update={"state": "NY"})
    first = open_and_stays_open(
        shop, "the information step", lambda c: c.contact == expected and c.newsletter_opt_in
    )

    shop.submit("#continue_button", then="shopify-shipping.html")
    shop.page.check("#checkout_shipping_rate_id_shopify-express-20_00")
    shop.leave()
    second = open_and_stays_open(shop, "the shipping step", lambda c: c.context.step == 2)
    assert second.contact == first.contact  # the rate is no contact data: not stored

    shop.submit("#continue_button", then="shopify-payment.html")
    shop.page.locator("#checkout_payment_gateway_60123").focus()
    shop.leave()
    open_and_stays_open(shop, "the payment step", lambda c: c.context.step == 3)
    shop.order("#continue_button")
    assert completed(shop).contact == first.contact


def test_shopify_refuses_eu_prospects(shop: Shop) -> None:
    shopify_information(shop, "Germany")
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_excluded")
    assert shop.carts() == []


# -- Magento 2 ------------------------------------------------------------------------------


def fill_magento(shop: Shop, country: str) -> None:
    shop.choose("[name=country_id]", country)
    shop.type({"#customer-email": "ann.lee@example.com"})
    shop.type(
        {
            "[name=firstname]": "Ann",
            "[name=lastname]": "Lee",
            "[name='street[0]']": "12 Elm Street",
            "[name='street[1]']": "Unit 7",
            "[name=city]": "Austin",
        }
    )
    shop.choose("[name=region_id]", "Texas")
    shop.type({"[name=postcode]": "78701", "[name=telephone]": "+1 512 555 0199"})


def test_magento_checkout(shop: Shop) -> None:
    shop.open("magento.html")
    fill_magento(shop, "United States")
    expected = ANN.model_copy(update={"state": "Texas", "address_extra": {"street_1": "Unit 7"}})
    cart = open_and_stays_open(shop, "the shipping step", lambda c: c.contact == expected)

    shop.submit("#shipping-next")  # the shipping method form's submit: a step
    shop.page.locator("#checkmo").focus()
    shop.leave()
    paying = open_and_stays_open(shop, "the payment step", lambda c: c.context.step == 3)
    assert paying.contact == cart.contact

    shop.order("#place-order")
    assert completed(shop).contact == cart.contact


def test_magento_refuses_eu_prospects(shop: Shop) -> None:
    shop.open("magento.html")
    fill_magento(shop, "France")
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_excluded")
    assert shop.carts() == []


# -- PrestaShop (one page load per step) ----------------------------------------------------


def prestashop_personal_information(shop: Shop) -> None:
    shop.open("prestashop-1.html")
    shop.page.check("#field-id_gender-2")
    shop.type(
        {
            "#field-firstname": "Ann",
            "#field-lastname": "Lee",
            "#field-email": "ann.lee@example.com",
            "#field-birthday": "05/31/1970",
        }
    )
    shop.page.check("[name=newsletter]")
    shop.page.check("[name=customer_privacy]")
    shop.page.check("[name=psgdpr]")
    shop.type({"#field-firstname": "Ann"})


def prestashop_address(shop: Shop, country: str) -> None:
    shop.type(
        {"#field-address1": "12 Elm Street", "#field-city": "Austin", "#field-postcode": "78701"}
    )
    shop.choose("#field-id_state", "Texas")
    shop.choose("#field-id_country", country)
    shop.type({"#field-phone": "+1 512 555 0199"})


def test_prestashop_checkout(shop: Shop) -> None:
    prestashop_personal_information(shop)
    # No country on this step: nothing may be stored yet (the country decides).
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_missing")
    assert shop.carts() == []

    shop.submit("[name=continue]", then="prestashop-2.html")
    prestashop_address(shop, "United States")  # id_country 21
    expected = ANN.model_copy(update={"state": "Texas"})
    cart = open_and_stays_open(
        shop, "the addresses step", lambda c: c.contact == expected and c.newsletter_opt_in
    )
    assert "1970" not in cart.model_dump_json()  # the birthdate is no contact data

    shop.submit("[name=confirm-addresses]", then="prestashop-3.html")
    shop.type({"#delivery_message": "Ring twice"})
    open_and_stays_open(shop, "the shipping method step", lambda c: c.context.step == 3)
    shop.submit("[name=confirmDeliveryOption]", then="prestashop-4.html")
    shop.page.check("[name='conditions_to_approve[terms-and-conditions]']")
    shop.leave()
    paying = open_and_stays_open(shop, "the payment step", lambda c: c.context.step == 4)
    assert paying.contact == cart.contact
    assert "Ring twice" not in paying.model_dump_json()

    shop.order("#place-order")
    assert completed(shop).contact == cart.contact


@pytest.mark.parametrize("country", ["France", "Germany"])
def test_prestashop_refuses_eu_prospects(shop: Shop, country: str) -> None:
    # France is id_country 8: as ISO 3166-1 numeric, 008 would be Albania.
    prestashop_personal_information(shop)
    shop.submit("[name=continue]", then="prestashop-2.html")
    prestashop_address(shop, country)
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_excluded")
    assert shop.carts() == []


# -- BigCommerce ----------------------------------------------------------------------------


def bigcommerce_shipping(shop: Shop, country: str) -> None:
    shop.type({"#email": "ann.lee@example.com"})
    shop.page.check("#shouldSubscribe")
    shop.submit("#checkout-customer-continue")  # the customer step: its form, no page load
    shop.choose("#countryCodeInput", country)
    shop.type(
        {
            "#firstNameInput": "Ann",
            "#lastNameInput": "Lee",
            "#phoneInput": "+1 512 555 0199",
            "#addressLine1Input": "12 Elm Street",
            "#cityInput": "Austin",
        }
    )
    shop.choose("#provinceCodeInput", "Washington")
    shop.type({"#postCodeInput": "78701"})


def test_bigcommerce_checkout(shop: Shop) -> None:
    shop.open("bigcommerce.html")
    bigcommerce_shipping(shop, "United States")
    expected = ANN.model_copy(update={"state": "WA"})
    cart = open_and_stays_open(
        shop, "the shipping step", lambda c: c.contact == expected and c.newsletter_opt_in
    )

    shop.submit("#checkout-shipping-continue")
    shop.page.locator("#radio-cheque").focus()
    shop.leave()
    paying = open_and_stays_open(shop, "the payment step", lambda c: c.context.step == 4)
    assert paying.contact == cart.contact

    shop.order("#checkout-payment-continue")
    assert completed(shop).contact == cart.contact


def test_bigcommerce_refuses_eu_prospects(shop: Shop) -> None:
    shop.open("bigcommerce.html")
    bigcommerce_shipping(shop, "Germany")
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_excluded")
    assert shop.carts() == []


# -- OpenCart -------------------------------------------------------------------------------


def opencart_billing(shop: Shop, country: str) -> None:
    shop.page.click("#button-account")
    shop.type(
        {
            "#input-payment-firstname": "Ann",
            "#input-payment-lastname": "Lee",
            "#input-payment-email": "ann.lee@example.com",
            "#input-payment-telephone": "+1 512 555 0199",
            "#input-payment-company": "Lee Studio",
            "#input-payment-address-1": "12 Elm Street",
            "#input-payment-city": "Austin",
            "#input-payment-postcode": "78701",
        }
    )
    shop.choose("#input-payment-country", country)
    shop.choose("#input-payment-zone", "Texas")


def test_opencart_checkout(shop: Shop) -> None:
    shop.open("opencart.html")
    opencart_billing(shop, "United States")  # country_id 223
    expected = ANN.model_copy(update={"state": "Texas", "address_extra": {"company": "Lee Studio"}})
    cart = open_and_stays_open(shop, "the billing details", lambda c: c.contact == expected)
    shop.page.click("#button-guest")
    shop.type({"[name=comment]": "Call before delivery"})
    shop.page.click("#button-shipping-method")
    shop.page.check("[name=agree]")
    shop.leave()
    paying = open_and_stays_open(shop, "the payment step", lambda c: c.context.step == 5)
    assert paying.contact == cart.contact
    assert "Call before delivery" not in paying.model_dump_json()

    shop.page.click("#button-payment-method")
    shop.order("#button-confirm")
    assert completed(shop).contact == cart.contact


@pytest.mark.parametrize("country", ["France, Metropolitan", "Germany"])
def test_opencart_refuses_eu_prospects(shop: Shop, country: str) -> None:
    shop.open("opencart.html")
    opencart_billing(shop, country)  # country_id 74 and 81
    shop.page.evaluate("cartback.capture()")
    shop.refused("country_excluded")
    assert shop.carts() == []


def test_a_prospect_who_opts_out_midway_leaves_nothing(shop: Shop) -> None:
    """A step's page carries the earlier steps' fields in the tab; "No thanks" drops them."""
    prestashop_personal_information(shop)
    shop.submit("[name=continue]", then="prestashop-2.html")
    prestashop_address(shop, "United States")
    shop.cart("the addresses step", lambda c: c.contact.country)
    assert shop.page.evaluate("Object.keys(sessionStorage).sort()") == ["cartback", "cartbackSent"]
    shop.page.evaluate("cartback.optOut()")
    wait_until(lambda: shop.carts() == [], what="the session forgotten", page=shop.page)
    assert shop.page.evaluate("Object.keys(sessionStorage)") == ["cartback"]


def bodies_sent(log: PageLog) -> list[dict[str, Any]]:
    return [
        json.loads(seen.post_data)
        for seen in log.requests
        if seen.url.endswith(CAPTURE) and seen.post_data
    ]


def test_the_platforms_country_values_and_texts_go_out_as_the_page_has_them(shop: Shop) -> None:
    shop.open("opencart.html")
    opencart_billing(shop, "United States")
    shop.cart("the billing details", lambda c: c.contact.state)
    last = next(body for body in reversed(bodies_sent(shop.log)) if "zone_id" in body["fields"])
    assert last["context"]["preset"] == "opencart"
    assert last["fields"]["country_id"] == {
        "value": "223",
        "autocomplete": "",
        "text": "United States",
    }
    assert last["fields"]["zone_id"] == {"value": "3669", "autocomplete": "", "text": "Texas"}
    assert last["fields"]["shipping_address"] == {"value": "1", "autocomplete": ""}  # a box
    assert last["fields"]["email"] == {"value": "ann.lee@example.com", "autocomplete": ""}


# -- Shopify's current checkout: the custom pixel ------------------------------------------

PIXEL = Path(__file__).resolve().parents[2] / "snippet" / "shopify" / "cartback-pixel.js"


def mailing_address(country_code: str, country: str) -> dict[str, Any]:
    return {
        "address1": "12 Elm Street",
        "address2": None,
        "city": "Austin",
        "company": None,
        "country": country,
        "countryCode": country_code,
        "firstName": "Ann",
        "lastName": "Lee",
        "phone": "+15125550199",
        "province": "Texas",
        "provinceCode": "TX",
        "zip": "78701",
    }


def checkout(**overrides: Any) -> dict[str, Any]:
    """``event.data`` of a checkout event, as the Web Pixels API gives it."""
    base: dict[str, Any] = {
        "token": "5f7028e0bd5225c17b24bdaa0c09f914",
        "email": "ann.lee@example.com",
        "phone": None,
        "smsMarketingPhone": None,
        "buyerAcceptsEmailMarketing": True,
        "buyerAcceptsSmsMarketing": False,
        "currencyCode": "USD",
        "totalPrice": {"amount": 64.0, "currencyCode": "USD"},
        "lineItems": [
            {
                "id": "gid://shopify/CartLine/1",
                "quantity": 1,
                "title": "Trail cap",
                "variant": {"id": "41", "product": {"id": "7771234", "title": "Trail cap"}},
            }
        ],
        "shippingAddress": None,
        "billingAddress": None,
    }
    return {"checkout": {**base, **overrides}}


@pytest.fixture
def pixel(shop: Shop, live_receiver: str) -> Shop:
    shop.page.goto(shop.site.url("shopify-pixel.html"), wait_until="domcontentloaded")
    source = PIXEL.read_text(encoding="utf-8").replace(
        "https://receiver.example.com/api/capture", f"{live_receiver}{CAPTURE}"
    )
    shop.page.add_script_tag(content=source)
    return shop


def test_shopify_custom_pixel(pixel: Shop) -> None:
    assert pixel.page.evaluate("window.__subscribed()") == [
        "checkout_address_info_submitted",
        "checkout_completed",
        "checkout_contact_info_submitted",
    ]
    pixel.page.evaluate(
        "data => window.__publish('checkout_contact_info_submitted', data)", checkout()
    )
    pixel.refused("country_missing")  # the email alone: no country yet, nothing stored
    assert pixel.carts() == []

    address = mailing_address("US", "United States")
    pixel.page.evaluate(
        "data => window.__publish('checkout_address_info_submitted', data)",
        checkout(shippingAddress=address, billingAddress=address),
    )
    cart = pixel.cart("the address", lambda c: c.contact.country == "US")
    assert cart.contact == ANN
    assert (cart.context.product_id, cart.context.product_name) == ("7771234", "Trail cap")
    assert (cart.context.cart_value, cart.context.currency) == (Decimal(64), "USD")
    assert cart.newsletter_opt_in is True
    consent = pixel.app.state.cartback.consents("ann.lee@example.com")
    assert consent["newsletter"].allowed
    assert not consent["sms"].allowed  # the SMS box left unticked

    pixel.page.evaluate("data => window.__publish('checkout_completed', data)", checkout())
    completed(pixel)


def test_shopify_custom_pixel_refuses_eu_prospects(pixel: Shop) -> None:
    address = mailing_address("FR", "France")
    pixel.page.evaluate(
        "data => window.__publish('checkout_address_info_submitted', data)",
        checkout(shippingAddress=address, email="marie@example.com"),
    )
    pixel.refused("country_excluded")
    assert pixel.carts() == []
