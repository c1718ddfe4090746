"""The dashboard's CSV downloads, streamed: memory stays flat whatever the number of rows.

- ``GET /admin/carts.csv`` (and its old name ``/admin/export.csv``): every cart matching
  the carts filters (start, end, email, status).
- ``GET /admin/messages.csv``: every recovery message planned for those carts (sent,
  skipped, deferred or failed), cart by cart.
- ``GET /admin/tickets.csv``: every ticket matching the tickets filters (status,
  assignee).

``format=spreadsheet`` (the default: semicolon, UTF-8 with BOM, cells a spreadsheet
would run as formulas prefixed with ``'``) or ``format=tools`` (comma, UTF-8, every value
exactly as stored, for other programs); the old names ``excel`` and ``rfc4180`` still
work. See ``cartback.export``.

Each download reads the store a page at a time, and ends at the moment it started:
carts captured while it streams would shift the pages (newest first) and repeat a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Final

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from cartback import Cart, CartQuery, MessageRecord, iter_csv
from cartback.export import CsvStyle
from cartback.reports import iter_messages_csv, iter_tickets_csv
from cartback.store import TicketQuery
from cartback.tickets import Ticket
from server_example.admin_auth import AdminAuth
from server_example.admin_filters import (
    DashboardFilters,
    parse_filters,
    parse_format,
    parse_ticket_filters,
)
from server_example.admin_pages import AdminPages
from server_example.admin_tickets import TicketPages
from server_example.dashboard import Dashboard

__all__ = ["EXPORT_PAGE_SIZE", "Exports", "ticket_record"]

EXPORT_PAGE_SIZE: Final = 500
"""Carts (or tickets) read from the store per query while a download streams."""


def ticket_record(ticket: Ticket) -> dict[str, object]:
    """A ticket as the ticket export's row (``TICKET_COLUMNS``); its notes as a JSON
    list of ``{"at", "author", "text"}``, oldest first."""
    notes = [
        {"at": note.at.isoformat(), "author": note.author, "text": note.text}
        for note in ticket.notes
    ]
    return {
        "id": ticket.id,
        "rule": ticket.draft.rule_id,
        "status": ticket.status,
        "assignee": ticket.assignee,
        "cart_id": ticket.draft.cart.cart_id,
        "created_at": ticket.created_at,
        "notes": json.dumps(notes, ensure_ascii=False) if notes else None,
    }


class Exports(AdminPages):
    """The CSV downloads. A download whose filters cannot be used answers the page of
    those filters, with the problems (400)."""

    def __init__(self, auth: AdminAuth, dashboard: Dashboard, tickets: TicketPages) -> None:
        super().__init__(auth)
        self.dashboard = dashboard
        self.ticket_pages = tickets

    def routes(self) -> list[BaseRoute]:
        """The downloads' routes."""
        s = self.secured
        return [
            Route("/admin/carts.csv", s(self.carts), methods=["GET"]),
            Route("/admin/export.csv", s(self.carts), methods=["GET"]),
            Route("/admin/messages.csv", s(self.messages), methods=["GET"]),
            Route("/admin/tickets.csv", s(self.tickets), methods=["GET"]),
        ]

    def _download(self, request: Request, name: str, chunks: Iterator[str]) -> Response:
        day = self.cartback.now().date().isoformat()
        headers = {"Content-Disposition": f'attachment; filename="{name}-{day}.csv"'}
        if request.method == "HEAD":
            return Response(media_type="text/csv", headers=headers)
        encoded = (text.encode("utf-8") for text in chunks)
        return StreamingResponse(
            iterate_in_threadpool(encoded), media_type="text/csv", headers=headers
        )

    # -- carts and their messages ------------------------------------------------------

    def _cart_filters(self, request: Request) -> tuple[DashboardFilters, CsvStyle, list[str]]:
        params = {k: v for k, v in request.query_params.items() if k != "page"}
        filters, errors = parse_filters(params)
        fmt = parse_format(params, errors)
        return filters, fmt, errors

    def _snapshot(self, filters: DashboardFilters) -> CartQuery:
        """The filter's query, ending now."""
        now = self.cartback.now()
        query = filters.query()
        end = now
        if filters.end is not None:
            end = min(now, datetime.combine(filters.end, time.max, tzinfo=UTC))
        return CartQuery(
            start=query.start, end=end, email_contains=query.email_contains, status=query.status
        )

    def _carts(self, query: CartQuery) -> Iterator[Cart]:
        offset = 0
        while True:
            page = self.cartback.list_carts(query, limit=EXPORT_PAGE_SIZE, offset=offset)
            yield from page.items
            if not page.items or not page.has_more:
                return
            offset += len(page.items)

    def _messages(self, query: CartQuery) -> Iterator[MessageRecord]:
        # The store reads messages per cart (or per prospect); one read per cart keeps
        # the memory flat, carts a page at a time.
        for cart in self._carts(query):
            yield from self.cartback.messages(cart.id)

    async def carts(self, request: Request) -> Response:
        """GET /admin/carts.csv: every cart matching the filters."""
        filters, fmt, errors = self._cart_filters(request)
        if errors:
            return self.dashboard.page(request, filters, errors=errors)
        query = self._snapshot(filters)
        return self._download(request, "abandoned-carts", iter_csv(self._carts(query), fmt))

    async def messages(self, request: Request) -> Response:
        """GET /admin/messages.csv: the recovery messages of the carts matching the
        filters, cart by cart (newest cart first), each cart's oldest first."""
        filters, fmt, errors = self._cart_filters(request)
        if errors:
            return self.dashboard.page(request, filters, errors=errors)
        query = self._snapshot(filters)
        chunks = iter_messages_csv(self._messages(query), fmt)
        return self._download(request, "recovery-messages", chunks)

    # -- tickets -----------------------------------------------------------------------

    def _tickets(self, query: TicketQuery) -> Iterator[dict[str, object]]:
        # Newest first: a ticket opened while the download streams shifts the later
        # pages by one, so a row of the previous page may come again; it is skipped.
        offset = 0
        previous: set[str] = set()
        while True:
            page = self.cartback.tickets(query, limit=EXPORT_PAGE_SIZE, offset=offset)
            yield from (ticket_record(t) for t in page if t.id not in previous)
            if len(page) < EXPORT_PAGE_SIZE:
                return
            previous = {ticket.id for ticket in page}
            offset += len(page)

    async def tickets(self, request: Request) -> Response:
        """GET /admin/tickets.csv: every ticket matching the filters, newest first."""
        params = {k: v for k, v in request.query_params.items() if k != "page"}
        filters, errors = parse_ticket_filters(params)
        fmt = parse_format(params, errors)
        if errors:
            return await self.ticket_pages.page(request, filters, errors=errors)
        chunks = iter_tickets_csv(self._tickets(filters.query()), fmt)
        return self._download(request, "tickets", chunks)
