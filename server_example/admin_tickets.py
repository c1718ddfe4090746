"""Dashboard pages for sales tickets, under ``/admin/tickets``.

- ``GET /admin/tickets``: tickets newest first, 50 a page, filtered by status
  (``open``, ``assigned``, ``closed``, all) and assignee.
- ``GET /admin/tickets/{id}``: what the salesperson needs: why it fired, the contact,
  the cart, the abandonment history, consent per channel, a recovery link (made fresh
  on each view: ``Cartback.recovery_token`` and the receiver's ``/r/{token}``), notes;
  forms to assign, unassign, add a note, close with a resolution, reopen.
- ``POST /admin/tickets/{id}/assign``, ``/unassign``, ``/note``, ``/close``, ``/reopen``.

Tickets hold personal data: they are shown only behind the login, and never logged.
"""

from __future__ import annotations

import re
from typing import Any, Final, get_args
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cartback import CartNotFoundError, ConfigurationError, InvalidInputError
from cartback.tickets import Ticket, TicketNotFoundError, TicketResolution
from server_example.admin_filters import (
    MAX_PERSON,
    TICKET_STATUS_FILTERS,
    TicketFilters,
    parse_ticket_filters,
)
from server_example.admin_pages import AdminPages, first

__all__ = ["TICKET_PAGE_SIZE", "TicketPages"]

TICKET_PAGE_SIZE: Final = 50
"""Tickets per page."""
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RESOLUTIONS: Final[tuple[TicketResolution, ...]] = get_args(TicketResolution)
_PERSON: Final = MAX_PERSON
_NOTE: Final = 4000


class TicketPages(AdminPages):
    """The ticket pages."""

    section = "tickets"

    def routes(self) -> list[BaseRoute]:
        """The pages' routes."""
        s = self.secured
        routes: list[BaseRoute] = [
            Route("/admin/tickets", s(self.index), methods=["GET"]),
            Route("/admin/tickets/{ticket_id}", s(self.detail), methods=["GET"]),
        ]
        for action in ("assign", "unassign", "note", "close", "reopen"):
            routes.append(
                Route(
                    f"/admin/tickets/{{ticket_id}}/{action}",
                    s(getattr(self, action), post=True),
                    methods=["POST"],
                )
            )
        return routes

    async def page(
        self, request: Request, filters: TicketFilters, *, errors: list[str]
    ) -> Response:
        """The list of tickets matching ``filters`` (with ``errors`` above it: 400)."""

        def read() -> tuple[list[Ticket], int]:
            query = filters.query()
            offset = (filters.page - 1) * TICKET_PAGE_SIZE
            return (
                self.cartback.tickets(query, limit=TICKET_PAGE_SIZE, offset=offset),
                self.cartback.store.count_tickets(query),
            )

        tickets, total = await run_in_threadpool(read)
        pages = max(1, -(-total // TICKET_PAGE_SIZE))
        return self.render(
            request,
            "admin_tickets.html",
            {
                "tickets": tickets,
                "total": total,
                "filters": filters,
                "statuses": TICKET_STATUS_FILTERS,
                "pages": pages,
                "prev_query": urlencode(filters.params(page=filters.page - 1))
                if filters.page > 1
                else None,
                "next_query": urlencode(filters.params(page=filters.page + 1))
                if filters.page < pages
                else None,
                "last_query": urlencode(filters.params(page=pages)),
                "export_params": {k: v for k, v in filters.params().items() if k != "page"},
                "errors": errors,
            },
            status=400 if errors else 200,
        )

    async def index(self, request: Request) -> Response:
        """GET /admin/tickets: the filtered list."""
        filters, errors = parse_ticket_filters(request.query_params)
        return await self.page(request, filters, errors=errors)

    def _link(self, ticket: Ticket) -> str | None:
        """A fresh recovery link for the ticket's cart (``None`` once it is gone)."""
        if self.cartback.links is None:
            return ticket.draft.recovery_link
        try:
            token = self.cartback.recovery_token(ticket.draft.cart.cart_id)
        except CartNotFoundError:
            return None
        return f"{self.settings.public_url.rstrip('/')}/r/{token}"

    async def _ticket(self, request: Request) -> Ticket | None:
        ticket_id = request.path_params["ticket_id"]
        if not _ID.fullmatch(ticket_id):
            return None
        try:
            return await run_in_threadpool(self.cartback.ticket, ticket_id)
        except TicketNotFoundError:
            return None

    async def _detail(
        self, request: Request, ticket: Ticket, *, error: str | None = None, status: int = 200
    ) -> Response:
        link = await run_in_threadpool(self._link, ticket)
        context: dict[str, Any] = {
            "ticket": ticket,
            "draft": ticket.draft,
            "link": link,
            "resolutions": _RESOLUTIONS,
            "error": error,
        }
        return self.render(request, "admin_ticket.html", context, status=status)

    async def detail(self, request: Request) -> Response:
        """GET /admin/tickets/{id}: one ticket."""
        ticket = await self._ticket(request)
        if ticket is None:
            return PlainTextResponse("No such ticket.", status_code=404)
        return await self._detail(request, ticket)

    async def _step(self, request: Request, action: str) -> Response:
        ticket = await self._ticket(request)
        if ticket is None:
            return PlainTextResponse("No such ticket.", status_code=404)
        form = await self.form(request) if action in ("assign", "note", "close") else {}
        try:
            if action == "assign":
                assignee = first(form, "assignee")
                if not 1 <= len(assignee) <= _PERSON:
                    raise ValueError(f"Name who takes it (1 to {_PERSON} characters).")
                await run_in_threadpool(self.cartback.assign_ticket, ticket.id, assignee)
            elif action == "unassign":
                await run_in_threadpool(self.cartback.unassign_ticket, ticket.id)
            elif action == "note":
                author = first(form, "author") or "staff"
                text = first(form, "text")
                if not 1 <= len(text) <= _NOTE or len(author) > _PERSON:
                    raise ValueError(f"Write a note of 1 to {_NOTE} characters.")
                await run_in_threadpool(
                    lambda: self.cartback.add_ticket_note(ticket.id, author=author, text=text)
                )
            elif action == "close":
                chosen = first(form, "resolution")
                resolution = next((known for known in _RESOLUTIONS if known == chosen), None)
                if resolution is None:
                    raise ValueError("Choose how it ended.")
                await run_in_threadpool(self.cartback.close_ticket, ticket.id, resolution)
            else:
                await run_in_threadpool(self.cartback.reopen_ticket, ticket.id)
        except InvalidInputError as exc:
            return await self._detail(request, ticket, error=_refusal(exc.reason), status=409)
        except (ValueError, ConfigurationError) as exc:
            return await self._detail(request, ticket, error=str(exc), status=422)
        return RedirectResponse(f"/admin/tickets/{ticket.id}", status_code=303)

    async def assign(self, request: Request) -> Response:
        """POST /admin/tickets/{id}/assign: ``assignee``."""
        return await self._step(request, "assign")

    async def unassign(self, request: Request) -> Response:
        """POST /admin/tickets/{id}/unassign."""
        return await self._step(request, "unassign")

    async def note(self, request: Request) -> Response:
        """POST /admin/tickets/{id}/note: ``author``, ``text``."""
        return await self._step(request, "note")

    async def close(self, request: Request) -> Response:
        """POST /admin/tickets/{id}/close: ``resolution``."""
        return await self._step(request, "close")

    async def reopen(self, request: Request) -> Response:
        """POST /admin/tickets/{id}/reopen."""
        return await self._step(request, "reopen")


def _refusal(reason: str) -> str:
    return {
        "ticket_closed": "The ticket is closed: reopen it first.",
        "ticket_not_closed": "Only a closed ticket can be reopened.",
        "ticket_not_assigned": "The ticket is not assigned.",
    }.get(reason, "That cannot be done to this ticket now.")
