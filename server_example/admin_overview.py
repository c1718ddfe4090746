"""The dashboard's overview, ``GET /admin``: what recovery earned in a period, at a glance.

The period picker (the last 7, 30 or 90 days, or chosen days, as whole days in the shop's
time zone), the headline figures (abandoned, contacted, recovered, recovery rate,
recovered revenue), each flow's lift against its control group (with its interval, or
"not enough data yet"), the figures per channel, and the charts: recovery over time,
conversion per channel, abandonments by hour and weekday, the most abandoned products
and forms, where prospects stop and the payment failures. Everything comes from one
``Cartback.insights`` pass over the period's carts.

``/admin`` with the carts table's filters (``start``, ``end``, ``email``, ``status``,
``page``: a bookmark from before the overview) redirects to ``/admin/carts``.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cartback import Insights
from cartback.flows import FlowAssignments
from cartback.reports import BucketSize, resolve_zone
from server_example.admin_auth import AdminAuth
from server_example.admin_filters import PERIOD_CHOICES, Period, parse_period
from server_example.admin_insights import (
    figure_rows,
    headline_cards,
    lift_view,
    overview_charts,
)
from server_example.admin_pages import AdminPages
from server_example.recovery import RecoveryRunner

__all__ = ["WEEKLY_AFTER_DAYS", "InsightsPages", "Overview"]

CART_FILTERS: Final = ("start", "end", "email", "status", "page")
"""The carts table's query parameters: ``/admin`` with any of them is an old bookmark."""
WEEKLY_AFTER_DAYS: Final = 120
"""Periods longer than this are charted per week rather than per day."""


class InsightsPages(AdminPages):
    """A base for pages of one period's insights, in the shop's time zone."""

    def __init__(self, auth: AdminAuth, recovery: RecoveryRunner) -> None:
        super().__init__(auth)
        settings = recovery.dispatcher.settings
        self.assignments: FlowAssignments = settings.assignments
        self.time_zone: str = settings.shop.timezone
        self.zone = resolve_zone(self.time_zone)

    def period(self, request: Request) -> tuple[Period, list[str]]:
        """The period the request asks for, and the problems found."""
        return parse_period(request.query_params, now=self.cartback.now(), zone=self.zone)

    def insights(self, period: Period) -> Insights:
        """The period's insights (blocking: one pass over its carts)."""
        bucket: BucketSize = "week" if period.days > WEEKLY_AFTER_DAYS else "day"
        return self.cartback.insights(
            period.since, period.until, time_zone=self.time_zone, bucket=bucket
        )

    def period_context(self, period: Period, errors: list[str]) -> dict[str, Any]:
        """What the period picker shows."""
        return {
            "period": period,
            "periods": list(PERIOD_CHOICES.items()),
            "errors": errors,
            "time_zone": self.time_zone,
            "controlled": sorted(flow for flow, share in self.assignments.control.items() if share),
        }


class Overview(InsightsPages):
    """The overview page."""

    section = "overview"

    def routes(self) -> list[BaseRoute]:
        """The page's routes."""
        return [Route("/admin", self.secured(self.index), methods=["GET"])]

    async def index(self, request: Request) -> Response:
        """GET /admin: the period's figures and charts."""
        params = request.query_params
        if any(name in params for name in CART_FILTERS):
            carts = {k: v for k, v in params.items() if k in CART_FILTERS}
            return RedirectResponse("/admin/carts?" + urlencode(carts), status_code=303)
        period, errors = self.period(request)
        insights = await run_in_threadpool(self.insights, period)
        currency = insights.currency
        context = {
            **self.period_context(period, errors),
            "insights": insights,
            "cards": headline_cards(insights),
            "lifts": [lift_view(flow, currency) for flow in insights.lifts],
            "channels": figure_rows(insights.figures.channels, currency),
            "charts": overview_charts(insights),
        }
        return self.render(request, "admin_overview.html", context, status=400 if errors else 200)
