"""The dashboard's webhook and ticket pages over HTTP (a real TestClient on the app):
listing with status, health, lag and dead letters; adding, editing, disabling,
enabling, removing endpoints; replaying dead letters one, all, or by time range;
tickets listed, assigned, noted, closed and reopened, with their recovery link."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cartback import Cartback, Settlement
from cartback._ticket_pass import TicketPass
from cartback.tickets import TicketRuleSet, call_prospect_rule
from server_example.admin_auth import SECURITY_HEADERS
from server_example.app import create_app
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.fixtures import FakeMonotonic
from tests.server.support import cart_submission

SECRET = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
SETTINGS_ENDPOINT = {
    "id": "from-settings",
    "url": "https://hooks.example.com/in",
    "secrets": [SECRET],
    "event_types": ["cart.captured"],
}
RULES = TicketRuleSet(rules=(call_prospect_rule(Decimal("200")),))


@pytest.fixture
def receiver_app(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> Starlette:
    settings = dataclasses.replace(
        receiver_settings, webhooks=(SETTINGS_ENDPOINT,), tickets=RULES, run_workers=False
    )
    return create_app(settings, clock=clock, monotonic=receiver_monotonic)


def text(page: Any) -> str:
    """A page's (or a fragment's) text with white space collapsed and entities read."""
    raw = page if isinstance(page, str) else page.text
    return html.unescape(re.sub(r"\s+", " ", raw))


def new_endpoint(admin: TestClient, **fields: Any) -> Any:
    form = {
        "id": "crm",
        "url": "https://crm.example.com/hook",
        "event_types": ["cart.captured", "ticket.created"],
        **fields,
    }
    return admin.post("/admin/webhooks/new", data=form, follow_redirects=False)


# -- webhooks ---------------------------------------------------------------------------


def test_the_pages_need_the_login(receiver_client: TestClient) -> None:
    for path in ("/admin/webhooks", "/admin/webhooks/new", "/admin/tickets"):
        response = receiver_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login?next=")
    posted = receiver_client.post("/admin/webhooks/new", data={"id": "x"}, follow_redirects=False)
    assert posted.status_code == 303


def test_endpoints_from_the_settings_are_listed_at_startup(admin: TestClient) -> None:
    page = admin.get("/admin/webhooks")
    assert page.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert 'data-endpoint-id="from-settings"' in page.text
    assert "https://hooks.example.com/in" in page.text
    assert SECRET not in page.text


def test_adding_an_endpoint_shows_a_generated_secret_once(
    admin: TestClient, cartback: Cartback
) -> None:
    created = new_endpoint(admin)
    assert created.status_code == 201
    shown = re.search(r"whsec_[A-Za-z0-9+/=]+", created.text)
    assert shown is not None
    secret = shown.group(0)
    view = cartback.webhook_endpoint("crm")
    assert view.event_types == ("cart.captured", "ticket.created")
    assert view.secret_hints == ("whsec_…" + secret[-4:],)
    for path in ("/admin/webhooks", "/admin/webhooks/crm"):
        assert secret not in admin.get(path).text


def test_a_bad_endpoint_is_refused_with_the_setting_named_and_no_secret_echoed(
    admin: TestClient, cartback: Cartback
) -> None:
    refused = new_endpoint(admin, url="http://10.0.0.5/hook", secret="whsec_c2hvcnQ=")
    assert refused.status_code == 422
    assert "url" in text(refused)
    assert "whsec_c2hvcnQ=" not in refused.text
    assert 'value="http://10.0.0.5/hook"' in refused.text  # the form keeps what was typed
    short = new_endpoint(admin, secret="whsec_c2hvcnQ=")
    assert short.status_code == 422
    assert "secrets" in text(short)
    assert [v.id for v in cartback.webhook_endpoints()] == ["from-settings"]
    assert new_endpoint(admin, id="from-settings").status_code == 422


def test_cross_origin_posts_are_refused(admin: TestClient, cartback: Cartback) -> None:
    response = admin.post(
        "/admin/webhooks/from-settings/disable",
        headers={"sec-fetch-site": "cross-site"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert cartback.webhook_endpoint("from-settings").enabled


def test_edit_disable_enable_and_remove(admin: TestClient, cartback: Cartback) -> None:
    new_endpoint(admin)
    edited = admin.post(
        "/admin/webhooks/crm/edit",
        data={"url": "https://crm.example.com/v2", "event_types": ["cart.ordered"]},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    view = cartback.webhook_endpoint("crm")
    assert (view.url, view.event_types) == ("https://crm.example.com/v2", ("cart.ordered",))
    assert "Saved." in admin.get(edited.headers["location"]).text

    assert admin.post("/admin/webhooks/crm/disable", follow_redirects=False).status_code == 303
    assert cartback.webhook_endpoint("crm").disabled_reason == "manual"
    listed = text(admin.get("/admin/webhooks"))
    assert "disabled (manual)" in listed
    admin.post("/admin/webhooks/crm/enable")
    assert cartback.webhook_endpoint("crm").enabled

    removed = admin.post("/admin/webhooks/crm/remove", follow_redirects=False)
    assert (removed.status_code, removed.headers["location"]) == (303, "/admin/webhooks")
    assert admin.get("/admin/webhooks/crm").status_code == 404


def test_a_new_secret_rotates_the_old_one_out_after_the_hours_chosen(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    new_endpoint(admin, secret=SECRET)
    rotated = "whsec_" + "WllZWFhYWFhYWFhYWFhYWFhYWFhYWFhY"
    admin.post(
        "/admin/webhooks/crm/edit",
        data={
            "url": "https://crm.example.com/hook",
            "event_types": ["cart.captured"],
            "secret": rotated,
            "keep_old_hours": "24",
        },
    )
    from cartback.webhooks._registry import endpoint_of

    record = cartback.store.endpoint("crm")
    assert record is not None
    endpoint = endpoint_of(record)
    assert endpoint.active_secrets(clock.now) == (rotated, SECRET)
    assert endpoint.active_secrets(clock.now + timedelta(hours=25)) == (rotated,)


def dead_letters(cartback: Cartback, clock: FakeClock, count: int) -> list[int]:
    """``count`` captures whose deliveries to ``from-settings`` died, an hour apart."""
    store = cartback.store
    for number in range(count):
        cartback.capture(cart_submission(f"d{number}@example.com"))
        clock.advance(hours=1)
    claimed = store.claim("webhook:from-settings", owner="t", now=clock.now)
    store.settle(
        "webhook:from-settings",
        [Settlement.dead(d.seq, "server_error") for d in claimed],
        now=clock.now,
    )
    return [d.seq for d in claimed]


def test_the_list_shows_health_lag_and_dead_letters(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    dead_letters(cartback, clock, 2)
    cartback.capture(cart_submission("pending@example.com"))
    row = re.search(
        r'<tr data-endpoint-id="from-settings">(.*?)</tr>', admin.get("/admin/webhooks").text, re.S
    )
    assert row is not None
    cells = text(row.group(1))
    assert "healthy" in cells
    assert re.search(r'class="dead">\s*2\s*<', row.group(1))
    assert "not yet read" in cells


def test_replay_one_dead_letter(admin: TestClient, cartback: Cartback, clock: FakeClock) -> None:
    seqs = dead_letters(cartback, clock, 3)
    page = admin.get("/admin/webhooks/from-settings")
    assert page.text.count("data-seq=") == 3
    done = admin.post(
        "/admin/webhooks/from-settings/replay", data={"seq": str(seqs[1])}, follow_redirects=False
    )
    assert done.status_code == 303
    assert "1 dead letter queued again." in admin.get(done.headers["location"]).text
    assert [d.seq for d in cartback.webhook_dead_letters("from-settings")] == [seqs[0], seqs[2]]


def test_replay_all_dead_letters(admin: TestClient, cartback: Cartback, clock: FakeClock) -> None:
    dead_letters(cartback, clock, 3)
    done = admin.post("/admin/webhooks/from-settings/replay", data={"scope": "all"})
    assert "3 dead letters queued again." in done.text
    assert cartback.webhook_dead_letters("from-settings") == []


def test_replay_dead_letters_by_time_range(
    admin: TestClient, cartback: Cartback, clock: FakeClock
) -> None:
    start = clock.now
    seqs = dead_letters(cartback, clock, 3)  # events at start, +1 h, +2 h
    since = (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    until = (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    done = admin.post(
        "/admin/webhooks/from-settings/replay",
        data={"scope": "range", "since": since, "until": until},
    )
    assert "1 dead letter queued again." in done.text
    assert [d.seq for d in cartback.webhook_dead_letters("from-settings")] == [seqs[0], seqs[2]]
    refused = admin.post(
        "/admin/webhooks/from-settings/replay",
        data={"scope": "range", "since": until, "until": since},
    )
    assert refused.status_code == 422
    assert "The start is after the end." in refused.text
    bad = admin.post("/admin/webhooks/from-settings/replay", data={"scope": "range", "since": "x"})
    assert bad.status_code == 422


def test_unknown_endpoints_are_404(admin: TestClient) -> None:
    assert admin.get("/admin/webhooks/nope").status_code == 404
    assert admin.get("/admin/webhooks/..%2f").status_code == 404
    assert admin.post("/admin/webhooks/nope/disable").status_code == 404


# -- tickets ----------------------------------------------------------------------------


@pytest.fixture
def ticket_id(cartback: Cartback, receiver_app: Starlette) -> str:
    tickets: TicketPass = receiver_app.state.integrations.tickets
    cartback.capture(
        cart_submission(
            "lead@example.com",
            fields={"phone": "+1 415 555 0100", "first_name": "Lea"},
            cart_value="250.00",
            currency="USD",
            product_name="Course",
        )
    )
    assert tickets.on_capture().created == 1
    [ticket] = cartback.tickets()
    return ticket.id


def test_tickets_are_listed_with_their_task_and_prospect(admin: TestClient, ticket_id: str) -> None:
    page = admin.get("/admin/tickets")
    assert page.status_code == 200
    assert f'data-ticket-id="{ticket_id}"' in page.text
    shown = text(page)
    assert "Call this prospect" in shown
    assert "lead@example.com" in shown
    assert "250.00 USD" in shown
    assert "1 ticket." in shown
    assert admin.get("/admin/tickets?status=closed").text.count("data-ticket-id") == 0
    assert admin.get("/admin/tickets?status=bogus").status_code == 400


def test_a_ticket_shows_contact_history_consent_and_a_fresh_recovery_link(
    admin: TestClient, ticket_id: str, cartback: Cartback, receiver_settings: Settings
) -> None:
    page = admin.get(f"/admin/tickets/{ticket_id}")
    assert page.status_code == 200
    shown = text(page)
    assert "+14155550100" in shown
    assert "1 cart, 0 later ordered" in shown
    assert 'data-channel="sms"' in page.text
    link = re.search(r'<p class="link"><a href="([^"]+)"', page.text)
    assert link is not None
    url = html.unescape(link.group(1))
    assert url.startswith(receiver_settings.public_url + "/r/")
    claims = cartback.verify_link(url.rsplit("/", 1)[1], "recover")
    assert claims.cart_id == cartback.ticket(ticket_id).draft.cart.cart_id


def test_staff_assign_note_close_and_reopen_a_ticket(
    admin: TestClient, ticket_id: str, cartback: Cartback
) -> None:
    base = f"/admin/tickets/{ticket_id}"
    assert (
        admin.post(f"{base}/assign", data={"assignee": "maria"}, follow_redirects=False).status_code
        == 303
    )
    assert cartback.ticket(ticket_id).assignee == "maria"
    admin.post(f"{base}/note", data={"author": "maria", "text": "Card declined; link sent"})
    assert "Card declined; link sent" in admin.get(base).text
    assert "maria" in text(admin.get("/admin/tickets?status=assigned&assignee=maria"))
    admin.post(f"{base}/close", data={"resolution": "won"})
    closed = cartback.ticket(ticket_id)
    assert (closed.status, closed.resolution) == ("closed", "won")
    refused = admin.post(f"{base}/assign", data={"assignee": "bob"})
    assert refused.status_code == 409
    assert "reopen it first" in refused.text
    admin.post(f"{base}/reopen")
    assert cartback.ticket(ticket_id).status == "assigned"
    admin.post(f"{base}/unassign")
    assert cartback.ticket(ticket_id).status == "open"


def test_bad_ticket_forms_are_refused(admin: TestClient, ticket_id: str) -> None:
    base = f"/admin/tickets/{ticket_id}"
    assert admin.post(f"{base}/assign", data={"assignee": ""}).status_code == 422
    assert admin.post(f"{base}/note", data={"text": ""}).status_code == 422
    assert admin.post(f"{base}/close", data={"resolution": "maybe"}).status_code == 422
    assert admin.get("/admin/tickets/tkt_missing").status_code == 404
    response = admin.post(f"{base}/note", content=b"text=x", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_an_erased_prospects_ticket_is_gone(
    admin: TestClient, ticket_id: str, cartback: Cartback
) -> None:
    cartback.erase("lead@example.com")
    assert admin.get(f"/admin/tickets/{ticket_id}").status_code == 404
    assert "lead@example.com" not in admin.get("/admin/tickets?status=all").text
