"""No script runs from a stored value: carts whose every stored field holds markup, a
ticket and its notes, a reply and webhook endpoints, shown on every dashboard page in a
real Chromium. Each payload sets ``window.__xss`` (or opens a dialog) if it ever runs;
the test asserts it never does, that no element or event handler was injected, and that
the text shows literally.

The pages also send a Content-Security-Policy without inline scripts; a payload that got
into the markup would then log a refusal, which fails the test too (the ``page``
fixture). The assertions here do not rely on it: the markup itself must be inert.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Dialog, Page
from starlette.applications import Starlette

from cartback import Cart, OrderForm
from cartback._ticket_pass import TicketPass
from cartback.tickets import TicketRuleSet, call_prospect_rule
from server_example.app import create_app
from server_example.settings import Settings
from tests.browser.admin import facade, log_in, shoot
from tests.conftest import FakeClock
from tests.server.fixtures import FakeMonotonic
from tests.server.support import cart_submission, seed

pytestmark = pytest.mark.browser

PAYLOADS = (
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=2">',
    "'><svg onload=window.__xss=3>",
    "<svg><script>window.__xss=4</script></svg>",
    "javascript:window.__xss=5",
    '<iframe srcdoc="<script>parent.__xss=6</script>"></iframe>',
    '{{ 7*7 }}<a href="javascript:window.__xss=7">x</a>',
    "<math><mtext><style><img src=x onerror=window.__xss=8></style></mtext></math>",
)
FORM_ID = "<svg onload=window.__xss=9>"
TICKET_TITLE = "<b onmouseover=window.__xss=10>Call</b>"
HOOK_URLS = (
    'https://hooks.example.com/"><img/src=x/onerror=window.__xss=11>',
    "https://hooks.example.com/'><svg/onload=window.__xss=12>",
)

_INJECTED_JS = """() => {
  const injected = document.querySelectorAll('img, iframe, object, embed, svg, math, script, b');
  const handlers = [...document.querySelectorAll('*')].filter(
    el => [...el.attributes].some(a => a.name.startsWith('on')));
  const scripted = [...document.querySelectorAll('[href], [src], [action], [formaction]')].filter(
    el => ['href', 'src', 'action', 'formaction'].some(
      name => (el.getAttribute(name) || '').trim().toLowerCase().startsWith('javascript:')));
  return {xss: window.__xss ?? null, injected: injected.length, handlers: handlers.length,
          scripted: scripted.length};
}"""


def payload(index: int) -> str:
    return PAYLOADS[index % len(PAYLOADS)]


@pytest.fixture
def receiver_app(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> Starlette:
    """The receiver with a form whose id is markup (and a company field), a ticket rule
    whose title is markup, two endpoints whose URLs hold markup (workers off)."""
    form = OrderForm(form_id=FORM_ID, additional_address_fields=frozenset({"address2", "company"}))
    hooks = tuple(
        {
            "id": f"hook-{index}",
            "url": url,
            "secrets": ["whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"],
            "event_types": ["cart.captured"],
        }
        for index, url in enumerate(HOOK_URLS)
    )
    settings = dataclasses.replace(
        receiver_settings,
        forms={FORM_ID: form},
        tickets=TicketRuleSet(rules=(call_prospect_rule(Decimal("200"), title=TICKET_TITLE),)),
        webhooks=hooks,
        run_workers=False,
    )
    return create_app(settings, clock=clock, monotonic=receiver_monotonic)


@pytest.fixture
def marked_up(receiver_app: Starlette, clock: FakeClock) -> tuple[Cart, Cart, str]:
    """Two carts with markup in every stored field (one later ordered under a marked-up
    order id), a reply, and a ticket with a marked-up assignee and notes. Returns the
    carts and the ticket id."""
    cartback = facade(receiver_app)
    text_fields = (
        "first_name", "last_name", "street", "house_number", "city", "state", "zip",
        "address2", "company", "phone",
    )  # fmt: skip
    carts = seed(
        cartback,
        clock,
        [
            cart_submission(
                f"xss{offset}@example.com",
                form_id=FORM_ID,
                product_id=payload(offset + 1),
                product_name=payload(offset + 2),
                consent_version=payload(offset + 3)[:64],
                cart_value="250.00",
                currency="USD",
                fields={name: payload(offset + i) for i, name in enumerate(text_fields)},
            )
            for offset in (0, 4)
        ],
    )
    cartback.record_reply("xss0@example.com", "email", payload(5))
    tickets: TicketPass = receiver_app.state.integrations.tickets
    assert tickets.on_capture().created == 2
    ticket = cartback.tickets()[-1]
    cartback.assign_ticket(ticket.id, payload(6)[:128])
    cartback.add_ticket_note(ticket.id, author=payload(7)[:128], text=payload(0))
    (ordered,) = cartback.mark_ordered(email="xss4@example.com", order_id=payload(1))
    return carts[0], ordered, ticket.id


def assert_inert(page: Page, dialogs: list[str], where: str) -> None:
    page.wait_for_load_state("load")
    found = page.evaluate(_INJECTED_JS)
    assert found == {"xss": None, "injected": 0, "handlers": 0, "scripted": 0}, where
    assert dialogs == [], where


def test_no_stored_value_runs_on_any_page(
    page: Page, live_receiver: str, marked_up: tuple[Cart, Cart, str]
) -> None:
    first, ordered, ticket_id = marked_up
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    log_in(page, live_receiver)
    shoot(page, "xss-carts")
    body = page.locator("body").inner_text()
    for text in PAYLOADS:  # every payload is in some field of these two carts
        assert text in body, text
    assert FORM_ID in body
    assert "{{ 7*7 }}" in body  # no template ran either
    assert_inert(page, dialogs, "carts")

    pages = {
        "the email filter": "/admin/carts?" + urlencode({"email": payload(1)}),
        "a cart": f"/admin/carts/{first.id}",
        "the ordered cart": f"/admin/carts/{ordered.id}",
        "tickets": "/admin/tickets?status=all",
        "a ticket": f"/admin/tickets/{ticket_id}",
        "webhooks": "/admin/webhooks",
        "a webhook": "/admin/webhooks/hook-0",
        "another webhook": "/admin/webhooks/hook-1",
        "the login form": "/admin/login?" + urlencode({"next": payload(1)}),
    }
    expected = {
        "the email filter": [],
        "a cart": [*PAYLOADS, FORM_ID],  # every field, the reply
        "the ordered cart": list(PAYLOADS),  # the order id among them
        "tickets": [TICKET_TITLE, payload(6)[:128]],
        "a ticket": [TICKET_TITLE, payload(6)[:128], payload(7)[:128], payload(0), FORM_ID],
        "webhooks": list(HOOK_URLS),
        "a webhook": [HOOK_URLS[0]],
        "another webhook": [HOOK_URLS[1]],
        "the login form": [],
    }
    for where, path in pages.items():
        page.goto(live_receiver + path)
        body = page.locator("body").inner_text()
        for text in expected[where]:
            assert text in body, (where, text)
        assert_inert(page, dialogs, where)
    page.goto(live_receiver + pages["the email filter"])
    assert page.get_by_label("Email contains").input_value() == payload(1)  # as typed
