"""The dashboard's carts page, behind the admin login (``admin_auth``).

- ``GET /admin/carts``: the carts table, newest first, 50 a page, filtered by start
  date, end date (whole UTC days, inclusive), part of an email address and status;
  with the counts per product and per order form for the same filter, and the CSV
  downloads of what matches (``admin_export``).
- ``GET /admin/icon.svg``: the tab icon.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cartback.export import CsvStyle
from server_example.admin_filters import STATUS_FILTERS, DashboardFilters, parse_filters
from server_example.admin_pages import AdminPages, icon
from server_example.admin_views import (
    STATUS_HEADINGS,
    STATUS_INTROS,
    STATUS_LABELS,
    CartListing,
    CartRow,
    consent_summary,
)

__all__ = ["PAGE_SIZE", "Dashboard"]

PAGE_SIZE: Final = 50
"""Carts per dashboard page."""

FORMAT_LABELS: Final[dict[CsvStyle, str]] = {
    "spreadsheet": "Spreadsheet (Excel, Numbers, LibreOffice)",
    "tools": "Machine-readable values (for other programs)",
}
"""The CSV formats as the download forms offer them."""


class Dashboard(AdminPages):
    """The carts page. Construct once per app; ``routes()`` gives its routes."""

    section = "carts"

    def routes(self) -> list[BaseRoute]:
        """The page's routes."""
        return [
            Route("/admin/carts", self.secured(self.index), methods=["GET"]),
            Route("/admin/icon.svg", icon, methods=["GET"]),
        ]

    def _listing(self, filters: DashboardFilters) -> CartListing:
        """The page's carts, the counts and each prospect's consent (blocking I/O)."""
        cartback = self.cartback
        query = filters.query()
        page = cartback.list_carts(query, limit=PAGE_SIZE, offset=(filters.page - 1) * PAGE_SIZE)
        now = cartback.now()
        ledgers = cartback.store.consent_ledgers(
            {prospect for cart in page.items if (prospect := cart.contact.prospect_key)}
        )
        rows = []
        for cart in page.items:
            prospect = cart.contact.prospect_key
            if prospect is None:  # pragma: no cover - a stored cart always has a prospect
                continue
            decisions = cartback.consents_for(cart, at=now, events=ledgers.get(prospect, []))
            rows.append(
                CartRow(cart=cart, consent=consent_summary(decisions, cart.newsletter_opt_in))
            )
        return CartListing(
            rows=tuple(rows),
            total=page.total,
            by_product=cartback.count_carts_by("product_id", query),
            by_form=cartback.count_carts_by("form_id", query),
        )

    def page(
        self,
        request: Request,
        filters: DashboardFilters,
        *,
        errors: list[str],
        listing: CartListing | None = None,
        fmt: CsvStyle = "spreadsheet",
    ) -> Response:
        """The carts page (``listing`` is ``None`` when the filters cannot be used)."""
        context: dict[str, Any] = {
            "filters": filters,
            "errors": errors,
            "listing": listing,
            "heading": STATUS_HEADINGS[filters.status],
            "intro": STATUS_INTROS[filters.status],
            "format": fmt,
            "formats": list(FORMAT_LABELS.items()),
            "statuses": [(status, STATUS_LABELS[status]) for status in STATUS_FILTERS],
            "page_size": PAGE_SIZE,
            "export_params": {k: v for k, v in filters.params().items() if k != "page"},
        }
        if listing is not None:
            pages = max(1, -(-listing.total // PAGE_SIZE))
            context.update(
                pages=pages,
                first_index=(filters.page - 1) * PAGE_SIZE + 1,
                prev_query=urlencode(filters.params(page=filters.page - 1))
                if filters.page > 1
                else None,
                next_query=urlencode(filters.params(page=filters.page + 1))
                if filters.page < pages
                else None,
                last_query=urlencode(filters.params(page=pages)),
            )
        return self.render(request, "dashboard.html", context, status=400 if errors else 200)

    async def index(self, request: Request) -> Response:
        """GET /admin/carts: the filtered, paged table of carts."""
        filters, errors = parse_filters(request.query_params)
        if errors:
            return self.page(request, filters, errors=errors)
        listing = await run_in_threadpool(self._listing, filters)
        return self.page(request, filters, errors=[], listing=listing)
