"""The staff dashboard in a real Chromium against a live receiver: log in, filter, export.

The ``page`` fixture fails a test on any console error or uncaught exception, so every
test here also checks that the dashboard pages log no errors.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Dialog, Page, expect
from starlette.applications import Starlette

from cartback import CSV_COLUMNS, Cart, Cartback
from tests.browser.support import PageLog
from tests.conftest import FakeClock
from tests.server.fixtures import RECEIVER_PASSWORD
from tests.server.support import cart_submission, seed

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def facade(app: Starlette) -> Cartback:
    cartback = app.state.cartback
    assert isinstance(cartback, Cartback)
    return cartback


def log_in(page: Page, base: str, *, start: str = "/admin") -> None:
    """Open ``start``, get sent to the login form, log in, and land back on ``start``."""
    page.goto(base + start)
    expect(page).to_have_url(f"{base}/admin/login?{urlencode({'next': start})}")
    page.get_by_label("Admin password").fill(RECEIVER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + start)
    expect(page.get_by_role("heading", name="Abandoned carts")).to_be_visible()


def shown_emails(page: Page) -> list[str]:
    return page.locator("#carts tbody .email").all_inner_texts()


@pytest.fixture
def carts(receiver_app: Starlette, clock: FakeClock) -> list[Cart]:
    """Three carts on three days, oldest first; the clock's day is 2026-11-22."""
    cartback = facade(receiver_app)
    start = clock.now
    clock.now = start.replace(day=19)
    seeded = seed(
        cartback,
        clock,
        [
            cart_submission("ann@example.com", product_id="p1", fields={"first_name": "Ann"}),
            cart_submission("ben@shoppers.net", product_id="p2", fields={"first_name": "Ben"}),
            cart_submission("cy@example.com", product_id="p1", fields={"first_name": "Cy"}),
        ],
        step_seconds=86_400,
    )
    clock.now = start
    return seeded


def test_log_in_and_see_the_carts(
    page: Page, page_log: PageLog, live_receiver: str, carts: list[Cart]
) -> None:
    page_log.allow_console_error(r"status of 401 \(Unauthorized\)")  # the wrong password
    page.goto(live_receiver + "/admin")
    page.get_by_label("Admin password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That password is not right.")
    page_cookies = page.context.cookies()
    assert page_cookies == []

    page.get_by_label("Admin password").fill(RECEIVER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_receiver + "/admin")
    assert shown_emails(page) == ["cy@example.com", "ben@shoppers.net", "ann@example.com"]
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/admin"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(live_receiver + "/admin/login")
    page.goto(live_receiver + "/admin")
    expect(page.get_by_label("Admin password")).to_be_visible()


def test_filter_by_email_dates_and_status(
    page: Page, page_log: PageLog, live_receiver: str, carts: list[Cart], receiver_app: Starlette
) -> None:
    page_log.allow_console_error(r"status of 400 \(Bad Request\)")  # the bad dates, on purpose
    facade(receiver_app).mark_ordered(email="cy@example.com", order_id="o-1")
    log_in(page, live_receiver)

    page.get_by_label("Email contains").fill("EXAMPLE")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(live_receiver + "/admin?start=&end=&email=EXAMPLE&status=all")
    assert shown_emails(page) == ["cy@example.com", "ann@example.com"]
    expect(page.get_by_label("Email contains")).to_have_value("EXAMPLE")

    page.get_by_label("Email contains").fill("")
    page.get_by_label("Start date (UTC)").fill("2026-11-20")
    page.get_by_label("End date (UTC)").fill("2026-11-21")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#summary")).to_contain_text("2 carts match.")
    assert shown_emails(page) == ["cy@example.com", "ben@shoppers.net"]

    page.get_by_label("Status").select_option("open")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#summary")).to_contain_text("1 cart matches.")
    assert shown_emails(page) == ["ben@shoppers.net"]
    expect(page.locator("#by-product tbody td")).to_have_text(["p2", "1"])

    page.get_by_label("Start date (UTC)").fill("2026-11-22")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert")).to_contain_text("The start date is after the end date.")
    expect(page.locator("#carts")).to_have_count(0)


def test_export_csv_by_clicking(
    page: Page, live_receiver: str, carts: list[Cart], tmp_path: Path
) -> None:
    log_in(page, live_receiver, start="/admin?email=example")
    page.get_by_label("CSV for").select_option("excel")
    with page.expect_download() as info:
        page.get_by_role("button", name="Export 2 carts as CSV").click()
    download = info.value
    assert download.suggested_filename == "abandoned-carts-2026-11-22.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    body = saved.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [record["email"] for record in records] == ["cy@example.com", "ann@example.com"]
    assert [record["first_name"] for record in records] == ["Cy", "Ann"]
    expect(page).to_have_url(live_receiver + "/admin?email=example")  # still on the table


def test_stored_markup_renders_as_text(
    page: Page, live_receiver: str, receiver_app: Starlette, clock: FakeClock
) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    seed(
        facade(receiver_app),
        clock,
        [cart_submission("xss@example.com", product_name=XSS, fields={"first_name": XSS})],
    )
    log_in(page, live_receiver)
    name = page.locator("#carts tbody .name")
    expect(name).to_have_text(XSS)
    expect(page.locator("#carts tbody .product-name")).to_have_text(XSS)
    expect(page.get_by_text(XSS).first).to_be_visible()
    page.wait_for_load_state("load")
    assert page.locator("#carts img, #carts script").count() == 0
    assert page.evaluate("document.images.length") == 0
    assert dialogs == []
