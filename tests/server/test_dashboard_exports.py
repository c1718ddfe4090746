"""The dashboard's CSV downloads of recovery messages and tickets: what they hold, in
which format, with which filters, and that they stream page by page."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cartback import Cartback, CsvFormat
from cartback._ticket_pass import TicketPass
from cartback.reports import MESSAGE_COLUMNS, TICKET_COLUMNS, message_row
from cartback.store import TicketQuery
from cartback.tickets import TicketRuleSet, call_prospect_rule
from server_example import admin_export
from server_example.app import create_app
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.fixtures import FakeMonotonic
from tests.server.support import cart_submission, seed

RULES = TicketRuleSet(rules=(call_prospect_rule(Decimal("200")),))


@pytest.fixture
def receiver_app(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> Starlette:
    settings = dataclasses.replace(
        receiver_settings, tickets=RULES, run_workers=False, dispatcher=False
    )
    return create_app(settings, clock=clock, monotonic=receiver_monotonic)


def rows_of(response: Any, fmt: str = "spreadsheet") -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    body: bytes = response.content
    if fmt in ("spreadsheet", "excel"):
        assert body.startswith(b"\xef\xbb\xbf")
        reader = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";")
    else:
        assert not body.startswith(b"\xef\xbb\xbf")
        reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
    header, *rows = list(reader)
    return [dict(zip(header, row, strict=True)) for row in rows]


# -- recovery messages -----------------------------------------------------------------


@pytest.fixture
def contacted(receiver_client: TestClient, cartback: Cartback, clock: FakeClock) -> list[str]:
    """Two carts that each got the conversational email; a third captured later, not
    contacted yet. Cart ids, oldest first."""
    carts = seed(
        cartback,
        clock,
        [
            cart_submission("ann@example.com", fields={"first_name": "=Ann"}),
            cart_submission("ben@shoppers.net", fields={"first_name": "Ben"}),
        ],
    )
    runner = receiver_client.app.state.recovery  # type: ignore[attr-defined]
    runner.tick()
    clock.advance(hours=3, minutes=1)
    runner.tick()
    (later,) = seed(cartback, clock, [cart_submission("cy@example.com")])
    return [cart.id for cart in carts] + [later.id]


@pytest.mark.parametrize("fmt", ["spreadsheet", "tools", "excel", "rfc4180"])
def test_messages_export_holds_every_message_of_the_filtered_carts(
    admin: TestClient, cartback: Cartback, contacted: list[str], fmt: CsvFormat
) -> None:
    ann, ben, cy = contacted
    expected = cartback.messages(ben) + cartback.messages(ann)  # newest cart first
    assert [message.status for message in expected] == ["sent", "sent"]
    assert cartback.messages(cy) == []

    response = admin.get(f"/admin/messages.csv?format={fmt}")
    assert response.headers["content-disposition"] == (
        'attachment; filename="recovery-messages-2026-11-22.csv"'
    )
    rows = rows_of(response, fmt)
    assert [tuple(row) for row in rows][:1] == [MESSAGE_COLUMNS]
    assert [list(row.values()) for row in rows] == [message_row(m, fmt) for m in expected]
    assert [row["cart_id"] for row in rows] == [ben, ann]
    assert {row["channel"] for row in rows} == {"email"}
    assert rows[0]["prospect"] == "ben@shoppers.net"

    only_ann = rows_of(admin.get(f"/admin/messages.csv?format={fmt}&email=example.com"), fmt)
    assert [row["cart_id"] for row in only_ann] == [ann]


def test_messages_export_of_carts_without_messages_is_a_header(
    admin: TestClient, contacted: list[str]
) -> None:
    response = admin.get("/admin/messages.csv?format=tools&email=cy@")
    assert response.content == (",".join(MESSAGE_COLUMNS) + "\r\n").encode()


def test_messages_export_reads_the_carts_a_page_at_a_time(
    admin: TestClient,
    cartback: Cartback,
    contacted: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admin_export, "EXPORT_PAGE_SIZE", 2)
    pages: list[int] = []
    original = cartback.list_carts

    def spy(query: Any = None, *, limit: int = 50, offset: int = 0) -> Any:
        pages.append(offset)
        assert limit == 2
        return original(query, limit=limit, offset=offset)

    monkeypatch.setattr(cartback, "list_carts", spy)
    rows = rows_of(admin.get("/admin/messages.csv"))
    assert len(rows) == 2
    assert pages == [0, 2]


def test_downloads_need_the_login(receiver_client: TestClient) -> None:
    for path in ("/admin/messages.csv", "/admin/tickets.csv", "/admin/carts.csv"):
        response = receiver_client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login?next=")


def test_head_sends_the_headers_only(admin: TestClient, contacted: list[str]) -> None:
    for path, name in (
        ("/admin/messages.csv", "recovery-messages"),
        ("/admin/tickets.csv", "tickets"),
    ):
        response = admin.head(path)
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{name}-2026-11-22.csv"'
        )


# -- tickets ---------------------------------------------------------------------------


def open_tickets(
    receiver_app: Starlette, cartback: Cartback, count: int, *, who: str = "lead"
) -> list[str]:
    """``count`` "call this prospect" tickets; their ids, newest first."""
    for index in range(count):
        cartback.capture(
            cart_submission(
                f"{who}{index}@example.com",
                fields={"phone": "+1 415 555 0100", "first_name": "Lea"},
                cart_value="250.00",
                currency="USD",
            )
        )
        tickets: TicketPass = receiver_app.state.integrations.tickets
        assert tickets.on_capture().created == 1
    return [ticket.id for ticket in cartback.store.list_tickets(TicketQuery(), limit=count)]


@pytest.mark.parametrize("fmt", ["spreadsheet", "tools"])
def test_tickets_export_holds_the_filtered_tickets_with_their_notes(
    admin: TestClient, receiver_app: Starlette, cartback: Cartback, clock: FakeClock, fmt: str
) -> None:
    newest, oldest = open_tickets(receiver_app, cartback, 2)
    cartback.assign_ticket(oldest, "=Sam")
    cartback.add_ticket_note(oldest, author="Sam", text="Called; rings back Monday")
    clock.advance(minutes=1)
    cartback.add_ticket_note(oldest, author="Sam", text="-Left a voicemail")

    rows = rows_of(admin.get(f"/admin/tickets.csv?status=all&format={fmt}"), fmt)
    assert [tuple(row) for row in rows][:1] == [TICKET_COLUMNS]
    assert [row["id"] for row in rows] == [newest, oldest]
    first, second = rows
    assert first["rule"] == "call-prospect"
    assert first["status"] == "open"
    assert first["assignee"] == ""
    assert first["notes"] == ""
    assert first["cart_id"] == cartback.ticket(newest).draft.cart.cart_id
    assert first["created_at"] == "2026-11-22T12:00:00+00:00"
    guard = "'" if fmt == "spreadsheet" else ""
    assert second["assignee"] == guard + "=Sam"
    assert second["status"] == "assigned"
    notes = json.loads(second["notes"])
    assert notes == [
        {"at": "2026-11-22T12:00:00+00:00", "author": "Sam", "text": "Called; rings back Monday"},
        {"at": "2026-11-22T12:01:00+00:00", "author": "Sam", "text": "-Left a voicemail"},
    ]

    assigned = rows_of(admin.get(f"/admin/tickets.csv?status=assigned&format={fmt}"), fmt)
    assert [row["id"] for row in assigned] == [oldest]
    by_sam = rows_of(admin.get(f"/admin/tickets.csv?status=all&assignee==Sam&format={fmt}"), fmt)
    assert [row["id"] for row in by_sam] == [oldest]
    assert rows_of(admin.get(f"/admin/tickets.csv?status=closed&format={fmt}"), fmt) == []
    default = rows_of(admin.get(f"/admin/tickets.csv?format={fmt}"), fmt)  # the open ones
    assert [row["id"] for row in default] == [newest]


def test_tickets_export_pages_through_every_ticket_once(
    admin: TestClient,
    receiver_app: Starlette,
    cartback: Cartback,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = open_tickets(receiver_app, cartback, 5)
    monkeypatch.setattr(admin_export, "EXPORT_PAGE_SIZE", 2)
    original = cartback.tickets
    offsets: list[int] = []

    def new_ticket_between_pages(query: Any = None, *, limit: int = 50, offset: int = 0) -> Any:
        offsets.append(offset)
        if offset == 2:  # a ticket opened while the download streams shifts the pages
            clock.advance(seconds=1)
            open_tickets(receiver_app, cartback, 1, who="late")
        return original(query, limit=limit, offset=offset)

    monkeypatch.setattr(cartback, "tickets", new_ticket_between_pages)
    rows = rows_of(admin.get("/admin/tickets.csv"))
    assert [row["id"] for row in rows] == ids
    assert offsets == [0, 2, 4, 6]  # 6 tickets by then: the third page was full


def test_the_tickets_page_offers_the_download_with_its_filters(
    admin: TestClient, receiver_app: Starlette, cartback: Cartback
) -> None:
    open_tickets(receiver_app, cartback, 1)
    page = admin.get("/admin/tickets?status=all&assignee=").text
    assert 'action="/admin/tickets.csv"' in page
    assert '<input type="hidden" name="status" value="all">' in page
    assert "Export 1 ticket as CSV" in page
    empty = admin.get("/admin/tickets?status=closed").text
    assert "No ticket matches these filters." in empty
    assert "/admin/tickets.csv" not in empty


def test_bad_ticket_download_filters_show_the_tickets_page(admin: TestClient) -> None:
    response = admin.get("/admin/tickets.csv?status=bogus&format=xlsx")
    assert response.status_code == 400
    assert "The status must be open, assigned, closed or all." in response.text
    assert "The export format must be spreadsheet or tools." in response.text
    assert 'action="/admin/tickets"' in response.text
