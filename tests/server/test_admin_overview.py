"""The dashboard's overview over HTTP: the landing page after login, its headline figures
for the chosen period, the period picker, the lift section, the charts, the empty state
and stored markup escaped in the SVG charts."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from cartback import Cartback
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.fixtures import RECEIVER_PASSWORD
from tests.server.support import cart_submission, log_in, seed

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def receiver_settings(receiver_settings: Settings) -> Settings:
    """No background dispatcher: the tests tick it themselves."""
    return dataclasses.replace(receiver_settings, dispatcher=False)


def figures(page: str) -> dict[str, str]:
    found = re.findall(
        r'<li data-figure="([a-z_]+)">.*?<div class="value">([^<]*)</div>', page, re.S
    )
    return {key: html.unescape(value) for key, value in found}


def test_the_overview_is_where_login_lands(receiver_client: TestClient) -> None:
    response = receiver_client.post(
        "/admin/login", data={"password": RECEIVER_PASSWORD}, follow_redirects=False
    )
    assert response.headers["location"] == "/admin"
    page = receiver_client.get("/admin")
    assert "<h1>Overview</h1>" in page.text
    assert '<a href="/admin" aria-current="page">Overview</a>' in page.text


def test_an_empty_period_says_so_and_shows_no_rate(admin: TestClient) -> None:
    page = admin.get("/admin").text
    assert 'id="empty"' in page
    assert figures(page) == {
        "abandoned": "0",
        "contacted": "0",
        "recovered": "0",
        "recovery_rate": "n/a",
        "recovered_revenue": "0.00",
    }
    assert 'id="no-control"' in page
    assert "No flow holds out a control group" in page
    assert "No recovery message was sent" in page


def test_headline_figures_count_the_period(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(
        cartback,
        clock,
        [cart_submission(f"p{i}@example.com", product_id="p1") for i in range(3)],
    )
    cartback.mark_ordered(email="p0@example.com", order_id="o-1", revenue="20.00")
    page = admin.get("/admin?period=7d").text
    assert 'id="empty"' not in page
    shown = figures(page)
    assert (shown["abandoned"], shown["contacted"], shown["recovered"]) == ("3", "0", "0")
    assert shown["recovery_rate"] == "0.0%"
    assert "of 1 orders in all" in page  # the order came without a message


def test_the_period_picker_moves_the_window(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    now = clock.now
    clock.now = now - timedelta(days=20)
    seed(cartback, clock, [cart_submission("old@example.com")])
    clock.now = now - timedelta(days=2)
    seed(cartback, clock, [cart_submission("new@example.com")])
    clock.now = now
    assert figures(admin.get("/admin?period=7d").text)["abandoned"] == "1"
    assert figures(admin.get("/admin").text)["abandoned"] == "2"  # 30 days by default
    assert figures(admin.get("/admin?period=90d").text)["abandoned"] == "2"
    day = (now - timedelta(days=20)).date().isoformat()
    chosen = admin.get(f"/admin?period=custom&from={day}&to={day}")
    assert chosen.status_code == 200
    assert figures(chosen.text)["abandoned"] == "1"
    assert f'name="from" type="date" value="{day}"' in chosen.text
    assert '<option value="custom" selected>' in chosen.text


@pytest.mark.parametrize(
    "query",
    [
        "period=custom&from=nope&to=2026-11-20",
        "period=custom&from=2026-11-20&to=2026-11-01",
        "period=custom&from=1900-01-01&to=2026-11-20",
    ],
)
def test_a_period_that_cannot_be_used_is_a_400_showing_30_days(
    admin: TestClient, query: str
) -> None:
    page = admin.get("/admin?" + query)
    assert page.status_code == 400
    assert "This period cannot be used" in page.text
    assert "Showing the last 30 days instead." in page.text
    assert 'data-figure="abandoned"' in page.text


def test_an_unknown_period_choice_falls_back_to_30_days(admin: TestClient) -> None:
    page = admin.get("/admin?period=forever")
    assert page.status_code in (200, 400)
    assert '<option value="30d" selected>' in page.text


def test_every_chart_is_an_svg_with_a_title(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(cartback, clock, [cart_submission("a@example.com", product_id="p1")])
    page = admin.get("/admin").text
    for chart in (
        "recovery",
        "abandoned",
        "channels",
        "hours",
        "weekdays",
        "products",
        "forms",
        "payments",
    ):
        svg = re.search(rf'<svg[^>]*aria-labelledby="svg-{chart}-title.*?</svg>', page, re.S)
        assert svg is not None, chart
        assert f'<title id="svg-{chart}-title">' in svg.group(0)
    assert 'id="chart-steps-1"' in page  # where prospects of the first form stopped


def test_stored_markup_is_escaped_in_the_charts(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    seed(
        cartback,
        clock,
        [cart_submission("x@example.com", form_id="f<b>1</b>", product_id=XSS, product_name=XSS)],
    )
    page = admin.get("/admin").text
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>1</b>" not in page
    assert XSS in html.unescape(page)


def test_a_control_group_shows_its_lift_section(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: object
) -> None:
    from server_example.app import create_app

    settings = dataclasses.replace(receiver_settings, flows={"control": {"conversational": 0.5}})
    app = create_app(settings, clock=clock, monotonic=receiver_monotonic)  # type: ignore[arg-type]
    cartback = app.state.cartback
    with TestClient(app) as client:
        log_in(client, RECEIVER_PASSWORD)
        empty = client.get("/admin").text
        assert "held out in the control group of conversational yet" in empty
        seed(cartback, clock, [cart_submission(f"c{i}@example.com") for i in range(6)])
        app.state.recovery.tick()
        page = client.get("/admin").text
    lift = re.search(r'<div class="lift [a-z_]+" data-flow="conversational">.*?</div>', page, re.S)
    assert lift is not None
    assert "Not enough data yet" in lift.group(0)
    assert "fewer than 100 carts" in lift.group(0)
