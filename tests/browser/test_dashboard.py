"""The staff dashboard in a real Chromium against a live receiver: log in, every view,
every filter, the CSV downloads, the keyboard, a phone's width and dark mode.

The ``page`` fixture fails a test on any console error or uncaught exception, so every
test here also checks that the dashboard pages log no errors (a script the page's
Content-Security-Policy refused would log one).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect
from starlette.applications import Starlette

from cartback import CSV_COLUMNS, Cart
from cartback._ticket_pass import TicketPass
from cartback.reports import MESSAGE_COLUMNS
from cartback.tickets import TicketRuleSet, call_prospect_rule
from server_example.app import create_app
from server_example.settings import Settings
from tests.browser.admin import contrast, describe_focus, facade, focusable, log_in, shoot
from tests.browser.support import PageLog
from tests.conftest import FakeClock
from tests.server.fixtures import RECEIVER_PASSWORD, FakeMonotonic
from tests.server.support import cart_submission, seed

pytestmark = pytest.mark.browser

ENDPOINT = {
    "id": "crm",
    "url": "https://hooks.example.com/in",
    "secrets": ["whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"],
    "event_types": ["cart.captured"],
}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def receiver_app(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> Starlette:
    """The receiver with a ticket rule and a webhook endpoint (workers and dispatcher
    off: nothing is delivered, the tests run the ticket pass and the dispatcher)."""
    settings = dataclasses.replace(
        receiver_settings,
        tickets=TicketRuleSet(rules=(call_prospect_rule(Decimal("200")),)),
        webhooks=(ENDPOINT,),
        run_workers=False,
        dispatcher=False,
    )
    return create_app(settings, clock=clock, monotonic=receiver_monotonic)


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
            cart_submission(
                "ben@shoppers.net", product_id="p2", fields={"first_name": "Ben"}, session_id="s-b"
            ),
            cart_submission(
                "cy@example.com",
                product_id="p1",
                cart_value="250.00",
                currency="USD",
                consent={"newsletter": False, "sms": True},
                fields={
                    "first_name": "Cy",
                    "last_name": "Young-Whitfield",
                    "phone": "+1 415 555 0100",
                    "street": "Long Avenue of the Americas",
                    "house_number": "1250",
                    "city": "San Francisco",
                    "zip": "94103",
                },
            ),
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
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Carts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Carts")
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


def test_each_filter_and_its_heading(
    page: Page, page_log: PageLog, live_receiver: str, carts: list[Cart], receiver_app: Starlette
) -> None:
    page_log.allow_console_error(r"status of 400 \(Bad Request\)")  # the bad dates, on purpose
    cartback = facade(receiver_app)
    cartback.mark_ordered(email="cy@example.com", order_id="o-1")
    cartback.mark_submitted("s-b")
    log_in(page, live_receiver)
    heading = page.get_by_role("heading", level=1)

    page.get_by_label("Email contains").fill("EXAMPLE")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(live_receiver + "/admin/carts?start=&end=&email=EXAMPLE&status=all")
    assert shown_emails(page) == ["cy@example.com", "ann@example.com"]
    expect(page.get_by_label("Email contains")).to_have_value("EXAMPLE")

    page.get_by_label("Email contains").fill("")
    page.get_by_label("Start date (UTC)").fill("2026-11-20")
    page.get_by_label("End date (UTC)").fill("2026-11-21")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#summary")).to_contain_text("2 carts match.")
    assert shown_emails(page) == ["cy@example.com", "ben@shoppers.net"]

    for status, title, emails in [
        ("submitted", "Submitted carts", ["ben@shoppers.net"]),
        ("ordered", "Ordered carts", ["cy@example.com"]),
        ("all", "Carts", ["cy@example.com", "ben@shoppers.net"]),
    ]:
        page.get_by_label("Status").select_option(status)
        page.get_by_role("button", name="Filter").click()
        expect(heading).to_have_text(title)
        assert shown_emails(page) == emails

    page.get_by_label("Start date (UTC)").fill("")
    page.get_by_label("Status").select_option("open")
    page.get_by_role("button", name="Filter").click()
    expect(heading).to_have_text("Abandoned carts")
    expect(page.locator("#summary")).to_contain_text("1 cart matches.")
    assert shown_emails(page) == ["ann@example.com"]
    expect(page.locator("#by-product tbody td")).to_have_text(["p1", "1"])

    page.get_by_label("Start date (UTC)").fill("2026-11-22")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert")).to_contain_text("The start date is after the end date.")
    expect(page.locator("#carts")).to_have_count(0)
    page.get_by_role("link", name="Clear the filters").click()
    expect(page).to_have_url(live_receiver + "/admin/carts")
    assert len(shown_emails(page)) == 3


def test_a_filter_matching_nothing_says_so_and_offers_no_export(
    page: Page, live_receiver: str, carts: list[Cart]
) -> None:
    log_in(page, live_receiver, start="/admin/carts?email=nobody")
    empty = page.locator("#empty")
    expect(empty).to_contain_text("No cart matches these filters.")
    expect(page.locator("#carts")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Export"))).to_have_count(0)
    expect(page.locator("th")).to_have_count(0)  # no bare table headers
    shoot(page, "carts-empty-filter")
    empty.get_by_role("link", name="Clear the filters").click()
    expect(page).to_have_url(live_receiver + "/admin/carts")
    assert len(shown_emails(page)) == 3


def read_download(page: Page, button: str, tmp_path: Path) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    return download.suggested_filename, saved.read_bytes()


def test_downloads_by_clicking(
    page: Page,
    live_receiver: str,
    carts: list[Cart],
    receiver_app: Starlette,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    recovery = receiver_app.state.recovery
    recovery.tick()
    clock.advance(hours=3, minutes=1)
    recovery.tick()  # the conversational email to every cart
    log_in(page, live_receiver, start="/admin/carts?email=example")
    expect(page.get_by_label("CSV format")).to_have_value("spreadsheet")  # the safe default

    name, body = read_download(page, "Export 2 carts as CSV", tmp_path)
    assert name == "abandoned-carts-2026-11-22.csv"
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [record["email"] for record in records] == ["cy@example.com", "ann@example.com"]
    assert [record["first_name"] for record in records] == ["Cy", "Ann"]
    assert records[0]["phone"] == "'+14155550100"  # a spreadsheet would read a formula

    page.get_by_label("CSV format").select_option("tools")
    name, body = read_download(page, "Export 2 carts as CSV", tmp_path)
    tools = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert dict(zip(CSV_COLUMNS, tools[1], strict=True))["phone"] == "+14155550100"

    name, body = read_download(page, "Export their recovery messages as CSV", tmp_path)
    assert name == "recovery-messages-2026-11-22.csv"
    messages = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert tuple(messages[0]) == MESSAGE_COLUMNS
    assert [row[1] for row in messages[1:]] == [carts[2].id, carts[0].id]
    expect(page).to_have_url(live_receiver + "/admin/carts?email=example")  # still there


def test_every_view_through_the_navigation(
    page: Page, live_receiver: str, carts: list[Cart], receiver_app: Starlette
) -> None:
    tickets: TicketPass = receiver_app.state.integrations.tickets
    assert tickets.on_capture().created == 1  # Cy: 250 USD and a phone
    log_in(page, live_receiver, start="/admin", heading="Overview")
    nav = page.get_by_role("navigation", name="Dashboard")
    current = nav.locator('[aria-current="page"]')
    expect(current).to_have_text("Overview")
    shoot(page, "overview")

    nav.get_by_role("link", name="Carts").click()
    expect(current).to_have_text("Carts")
    shoot(page, "carts")

    page.get_by_role("link", name="cy@example.com").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("cy@example.com")
    expect(page.locator("#consent")).to_contain_text("box left unticked")
    expect(current).to_have_text("Carts")
    shoot(page, "cart")

    nav.get_by_role("link", name="Tickets").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tickets")
    expect(current).to_have_text("Tickets")
    page.get_by_role("link", name="Call this prospect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Call this prospect")
    expect(page.locator("#contact")).to_contain_text("cy@example.com")

    nav.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook endpoints")
    expect(current).to_have_text("Webhooks")
    page.get_by_role("link", name="crm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook endpoint crm")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="Add an endpoint").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a webhook endpoint")

    nav.get_by_role("link", name="Carts").click()
    expect(page).to_have_url(live_receiver + "/admin/carts")


def test_the_keyboard_reaches_every_control_with_a_visible_focus(
    page: Page, live_receiver: str, carts: list[Cart]
) -> None:
    log_in(page, live_receiver, start="/admin/carts?page=1")
    page.goto(live_receiver + "/admin/carts?page=1")  # the focus starts at the top

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0  # shown when focused
    assert box["y"] >= 0
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")  # past the navigation, into the page's own controls
    expect(page.get_by_label("Start date (UTC)")).to_be_focused()

    page.goto(live_receiver + "/admin/carts?page=1")
    expected = focusable(page)
    reached: list[str] = []
    for _ in range(4 * len(expected)):
        page.keyboard.press("Tab")
        focus = describe_focus(page)
        if focus is None:
            break
        assert focus["outline"] != "none", focus  # a visible ring
        assert focus["width"] >= 2, focus
        if not reached or reached[-1] != focus["html"]:  # a date input has 3 parts
            reached.append(focus["html"])
        if len(reached) > len(expected):
            break
    assert reached[: len(expected)] == expected
    assert any('id="email"' in html for html in expected)
    assert any("Export 3 carts" in html for html in expected)

    page.get_by_label("Email contains").focus()
    page.keyboard.type("ann@")
    page.keyboard.press("Enter")  # Enter submits the filter form
    expect(page).to_have_url(re.compile(r"/admin/carts\?.*email=ann%40"))
    assert shown_emails(page) == ["ann@example.com"]


def test_the_filter_form_lines_up(page: Page, live_receiver: str, carts: list[Cart]) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_receiver)
    fields = page.locator("form.filters .field")
    labels = [fields.nth(i).locator("label").bounding_box() for i in range(fields.count())]
    controls = [
        fields.nth(i).locator("input, select").bounding_box() for i in range(fields.count())
    ]
    button = page.get_by_role("button", name="Filter").bounding_box()
    assert len(controls) == 4
    assert button is not None
    boxes = [box for box in labels + controls if box is not None]
    assert len(boxes) == 8
    for label, control in zip(labels, controls, strict=True):
        assert label is not None
        assert control is not None
        assert abs(label["x"] - control["x"]) < 1  # each label starts where its control does
        assert 0 <= control["y"] - (label["y"] + label["height"]) < 8  # just above it
    tops = {round(box["y"]) for box in controls if box is not None}
    heights = {round(box["height"]) for box in controls if box is not None}
    assert len(tops) == 1  # one row
    assert len(heights) == 1  # one height
    control = controls[0]
    assert control is not None
    assert abs((button["y"] + button["height"]) - (control["y"] + control["height"])) < 1


def test_on_a_phone_times_stay_on_one_line_and_the_table_scrolls_in_its_box(
    page: Page, live_receiver: str, carts: list[Cart]
) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, live_receiver)
    shoot(page, "carts-phone")
    line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")
    times = page.locator("#carts time")
    assert times.count() >= 3
    for index in range(times.count()):
        box = times.nth(index).bounding_box()
        assert box is not None
        assert box["height"] < 1.5 * line, box  # one line
    parts = page.locator("#carts td.when > span")  # created, changed, captures
    for index in range(parts.count()):
        box = parts.nth(index).bounding_box()
        assert box is not None
        assert box["height"] < 1.5 * line, box
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    scroller = page.locator(".carts.table-scroll")
    assert scroller.evaluate("el => el.scrollWidth > el.clientWidth")  # it scrolls, inside
    for index in range(page.locator("form.filters .field").count()):
        field = page.locator("form.filters .field").nth(index)
        label, control = field.locator("label"), field.locator("input, select")
        label_box, control_box = label.bounding_box(), control.bounding_box()
        assert label_box is not None
        assert control_box is not None
        assert control_box["x"] + control_box["width"] <= PHONE["width"]
        assert abs(label_box["x"] - control_box["x"]) < 1


def test_dark_mode_is_readable(
    page: Page, page_log: PageLog, live_receiver: str, carts: list[Cart]
) -> None:
    page_log.allow_console_error(r"status of 400 \(Bad Request\)")  # the error, on purpose
    page.emulate_media(color_scheme="dark")
    log_in(page, live_receiver, start="/admin/carts?status=all")
    shoot(page, "carts-dark")

    def color(selector: str, prop: str = "color") -> str:
        value: str = page.locator(selector).first.evaluate(f"el => getComputedStyle(el).{prop}")
        return value

    background = color("body", "backgroundColor")
    assert contrast(background, "rgb(0, 0, 0)") < 2  # a dark page
    for selector in ("h1", "#carts td", ".lead", "#carts .muted", "#carts a", "nav a"):
        assert contrast(color(selector), background) >= 4.5, selector
    filter_button = page.get_by_role("button", name="Filter")
    assert (
        contrast(
            filter_button.evaluate("el => getComputedStyle(el).color"),
            filter_button.evaluate("el => getComputedStyle(el).backgroundColor"),
        )
        >= 4.5
    )
    state = page.locator("#carts .state-left_unticked").first
    assert contrast(state.evaluate("el => getComputedStyle(el).color"), background) >= 4.5
    page.goto(live_receiver + "/admin/carts?start=nope")
    assert contrast(color('[role="alert"]'), background) >= 4.5


def test_each_ticket_filter(
    page: Page, live_receiver: str, carts: list[Cart], receiver_app: Starlette
) -> None:
    cartback = facade(receiver_app)
    tickets: TicketPass = receiver_app.state.integrations.tickets
    assert tickets.on_capture().created == 1
    (ticket,) = cartback.tickets()
    log_in(page, live_receiver, start="/admin/tickets", heading="Tickets")
    rows = page.locator("#tickets tbody tr")
    expect(rows).to_have_count(1)  # open ones by default

    page.get_by_label("Status").select_option("assigned")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#empty")).to_contain_text("No ticket matches these filters.")
    expect(page.get_by_role("button", name=re.compile("Export"))).to_have_count(0)

    cartback.assign_ticket(ticket.id, "Sam")
    page.get_by_label("Assignee").fill("Sam")
    page.get_by_label("Assignee").press("Enter")
    expect(rows).to_have_count(1)
    expect(page.locator("#tickets .status")).to_contain_text("assigned")
    page.get_by_label("Assignee").fill("Kim")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(0)
    page.get_by_role("link", name="Clear the filters").first.click()
    expect(page).to_have_url(live_receiver + "/admin/tickets")
    expect(rows).to_have_count(0)  # the default shows open tickets; this one is assigned
    page.get_by_label("Status").select_option("all")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    shoot(page, "tickets")


# -- the overview, segments and flows ----------------------------------------------------

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'
SVG_XSS = '"><svg onload="window.__xss=1">'
INSIGHT_PAGES = ("/admin", "/admin/segments?products=p1", "/admin/flows")
HEADINGS = {"/admin": "Overview", "/admin/segments": "Segments", "/admin/flows": "Flows"}


def heading_of(path: str) -> str:
    return HEADINGS[path.split("?")[0]]


def test_the_overview_segments_and_flows_through_the_navigation(
    page: Page, live_receiver: str, carts: list[Cart]
) -> None:
    log_in(page, live_receiver, start="/admin", heading="Overview")
    expect(page.locator('[data-figure="abandoned"] .value')).to_have_text("3")
    page.get_by_label("Period", exact=True).select_option("7d")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/admin\?period=7d"))
    expect(page.locator("#period-label")).to_contain_text("Last 7 days")
    expect(page.locator("#chart-hours svg")).to_be_visible()

    nav = page.get_by_role("navigation", name="Dashboard")
    nav.get_by_role("link", name="Segments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Segments")
    expect(page.locator("#no-saved")).to_be_visible()
    page.get_by_label("Product ids (comma-separated, any of them)").fill("p1")
    page.get_by_role("button", name="Show its carts").click()
    expect(page.locator("#segment-carts .email")).to_have_text(
        ["cy@example.com", "ann@example.com"]
    )
    with page.expect_download() as info:
        page.get_by_role("button", name="Export 2 carts as CSV").click()
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert [row[rows[0].index("email")] for row in rows[1:]] == [
        "cy@example.com",
        "ann@example.com",
    ]

    page.get_by_label("Save as (letters, digits, spaces, - and _)").fill("Loaf lovers")
    page.get_by_role("button", name="Save the segment").click()
    expect(page.get_by_role("status").first).to_have_text("Segment saved.")
    expect(page.locator("#saved tbody tr")).to_have_count(1)
    page.get_by_label("Product ids (comma-separated, any of them)").fill("")
    page.get_by_role("button", name="Delete Loaf lovers").click()
    expect(page.get_by_role("status").first).to_have_text("Segment deleted.")
    expect(page.locator("#saved")).to_have_count(0)

    nav.get_by_role("link", name="Flows").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Flows")
    expect(page.locator('article[data-flow="conversational"]').first).to_contain_text(
        "every other cart"
    )
    shoot(page, "flows")


@pytest.mark.parametrize(
    ("path", "first_control"),
    [("/admin", "Period"), ("/admin/segments", "Carts that match"), ("/admin/flows", "Period")],
)
def test_the_keyboard_reaches_the_insight_forms(
    page: Page, live_receiver: str, carts: list[Cart], path: str, first_control: str
) -> None:
    log_in(page, live_receiver, start=path, heading=heading_of(path))
    page.goto(live_receiver + path)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label(first_control, exact=True)).to_be_focused()

    # the segment JSON's box is folded away: the keyboard reaches its summary instead
    expected = [
        "<summary>Or write the segment as JSON</summary>"
        if html.startswith('<textarea id="json"')
        else html
        for html in focusable(page)
    ]
    page.goto(live_receiver + path)
    reached: list[str] = []
    for _ in range(4 * len(expected)):
        page.keyboard.press("Tab")
        focus = describe_focus(page)
        if focus is None:
            break
        assert focus["outline"] != "none", focus
        if not reached or reached[-1] != focus["html"]:
            reached.append(focus["html"])
        if len(reached) >= len(expected):
            break
    assert reached == expected
    assert any("<button" in html and "submit" in html for html in reached)


@pytest.mark.parametrize("path", INSIGHT_PAGES)
def test_on_a_phone_the_insight_pages_do_not_scroll_sideways(
    page: Page, live_receiver: str, carts: list[Cart], path: str
) -> None:
    page.set_viewport_size(PHONE)
    log_in(
        page,
        live_receiver,
        start=path,
        heading=heading_of(path),
    )
    shoot(page, "phone" + path.replace("/", "-").replace("?", "-"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for svg in page.locator("main svg").all():
        box = svg.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]


@pytest.mark.parametrize("path", INSIGHT_PAGES)
def test_dark_mode_keeps_the_insight_pages_and_charts_readable(
    page: Page, live_receiver: str, carts: list[Cart], path: str
) -> None:
    page.emulate_media(color_scheme="dark")
    log_in(
        page,
        live_receiver,
        start=path,
        heading=heading_of(path),
    )
    shoot(page, "dark" + path.replace("/", "-").replace("?", "-"))
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert contrast(background, "rgb(0, 0, 0)") < 2
    texts = page.locator("main h1, main h2, main p, main td, main th, main label, main svg text")
    assert texts.count() > 3
    for index in range(texts.count()):
        item = texts.nth(index)
        if not item.is_visible():
            continue
        fill = item.evaluate(
            "el => getComputedStyle(el)[el instanceof SVGElement ? 'fill' : 'color']"
        )
        opacity = float(item.evaluate("el => getComputedStyle(el).opacity"))
        if opacity < 1:  # a muted chart label: mixed with the background
            fill = _mix(fill, background, opacity)
        assert contrast(fill, background) >= 4.5, item.evaluate("el => el.outerHTML.slice(0, 80)")


def _mix(color: str, background: str, alpha: float) -> str:
    def channels(value: str) -> list[float]:
        return [float(x) for x in re.findall(r"[\d.]+", value)[:3]]

    mixed = [
        round(a * alpha + b * (1 - alpha))
        for a, b in zip(channels(color), channels(background), strict=True)
    ]
    return f"rgb({mixed[0]}, {mixed[1]}, {mixed[2]})"


def test_no_stored_value_runs_a_script_on_any_page(
    page: Page, live_receiver: str, receiver_app: Starlette, clock: FakeClock
) -> None:
    # page_log fails the test on any console error: a script or image the page's CSP
    # refused, or an image fetched from "x", would log one
    cartback = facade(receiver_app)
    seed(
        cartback,
        clock,
        [
            cart_submission(
                "x@example.com",
                product_id=XSS,
                product_name=XSS,
                form_id=SVG_XSS,
                step=2,
                steps_total=3,
                last_field=XSS,
                fields={"first_name": XSS, "city": SVG_XSS},
            )
        ],
    )
    segment = {"type": "product", "product_id": XSS}
    cartback.save_segment("odd one", segment)
    log_in(page, live_receiver, start="/admin", heading="Overview")
    paths = [
        "/admin",
        "/admin/carts",
        "/admin/segments",
        "/admin/segments?saved=odd+one",
        "/admin/flows",
    ]
    for path in paths:
        page.goto(live_receiver + path)
        expect(page.locator("main")).to_be_visible()
        assert page.evaluate("window.__xss === undefined"), path
        assert page.locator("main script, main img, main svg svg").count() == 0, path
    page.goto(live_receiver + "/admin")
    chart = page.locator("#chart-products")
    assert XSS[:20] in chart.inner_text()  # the bar's label, shortened, as text
    assert XSS in (chart.locator("desc").text_content() or "")  # in full for screen readers
    fields = page.locator("#chart-fields-1")
    assert SVG_XSS in (fields.locator("h3").text_content() or "")  # the form id, as text
    assert XSS in (fields.locator("desc").text_content() or "")  # the last field touched
    page.goto(live_receiver + "/admin/segments?saved=odd+one")
    assert XSS in page.locator("#description").inner_text()
