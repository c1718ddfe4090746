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

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cartback import CartNotFoundError, ConfigurationError, InvalidInputError
from cartback.store import TicketQuery
from cartback.tickets import Ticket, TicketNotFoundError, TicketResolution, TicketStatus
from server_example.admin_pages import AdminPages, first, when
from server_example.dashboard import Dashboard

__all__ = ["TICKET_PAGE_SIZE", "TicketPages"]

TICKET_PAGE_SIZE: Final = 50
"""Tickets per page."""
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STATUSES: Final[tuple[TicketStatus, ...]] = get_args(TicketStatus)
_RESOLUTIONS: Final[tuple[TicketResolution, ...]] = get_args(TicketResolution)
_PERSON: Final = 128
_NOTE: Final = 4000


class TicketPages(AdminPages):
    """The ticket pages."""

    def __init__(self, dashboard: Dashboard) -> None:
        super().__init__(dashboard)

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

    async def index(self, request: Request) -> Response:
        """GET /admin/tickets: the filtered list."""
        params = request.query_params
        errors: list[str] = []
        status_text = params.get("status", "open") or "open"
        status: TicketStatus | None = None
        if status_text != "all":
            for known in _STATUSES:
                if status_text == known:
                    status = known
                    break
            else:
                errors.append("The status must be open, assigned, closed or all.")
                status_text = "open"
                status = "open"
        assignee = params.get("assignee", "").strip()
        if len(assignee) > _PERSON:
            errors.append(f"The assignee filter must be at most {_PERSON} characters.")
            assignee = ""
        page_text = params.get("page", "1") or "1"
        page = int(page_text) if page_text.isdigit() and 1 <= int(page_text) <= 10_000 else 1
        query = TicketQuery(status=status, assignee=assignee or None)

        def read() -> tuple[list[Ticket], int]:
            store = self.cartback.store
            offset = (page - 1) * TICKET_PAGE_SIZE
            return (
                self.cartback.tickets(query, limit=TICKET_PAGE_SIZE, offset=offset),
                store.count_tickets(query),
            )

        tickets, total = await run_in_threadpool(read)
        return self.render(
            request,
            "admin_tickets.html",
            {
                "tickets": tickets,
                "total": total,
                "status": status_text,
                "statuses": ("open", "assigned", "closed", "all"),
                "assignee": assignee,
                "page": page,
                "pages": max(1, -(-total // TICKET_PAGE_SIZE)),
                "errors": errors,
                "when": when,
            },
            status=400 if errors else 200,
        )

    def _link(self, ticket: Ticket) -> str | None:
        """A fresh recovery link for the ticket's cart (``None`` once it is gone)."""
        if self.cartback.links is None:
            return ticket.draft.recovery_link
        try:
            token = self.cartback.recovery_token(ticket.draft.cart.cart_id)
        except CartNotFoundError:
            return None
        return f"{self.dashboard.settings.public_url.rstrip('/')}/r/{token}"

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
            "when": when,
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
