"""The dashboard's flows page, ``GET /admin/flows``, read-only: the recovery flows in use
and what they did in a period.

Each flow of the receiver's recovery config (``flows`` in ``CARTBACK_CONFIG``): which
carts enter it (the default, order forms, products), its control group share, every
version still in use with its steps in words; for the period's carts (the overview's
period picker), its enrolments by state and each step's messages by status (sent,
skipped with why, deferred, failed); and the attribution figures per flow, step and
A/B variant from ``Cartback.insights``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cartback.store import CartQuery
from server_example.admin_filters import Period
from server_example.admin_flow_views import FlowTally, flow_views
from server_example.admin_insights import figure_rows
from server_example.admin_overview import InsightsPages

__all__ = ["FlowPages"]

_TICK: Final = timedelta(microseconds=1)


class FlowPages(InsightsPages):
    """The flows page."""

    section = "flows"

    def routes(self) -> list[BaseRoute]:
        """The page's routes."""
        return [Route("/admin/flows", self.secured(self.index), methods=["GET"])]

    def _tally(self, period: Period) -> FlowTally:
        """The period's enrolments and messages (blocking: one pass over its carts)."""
        query = CartQuery(start=period.since, end=period.until - _TICK)
        return FlowTally().add(self.cartback.store.report_batches(query))

    async def index(self, request: Request) -> Response:
        """GET /admin/flows: the flows, their steps, enrolments and messages."""
        period, errors = self.period(request)
        tally = await run_in_threadpool(self._tally, period)
        insights = await run_in_threadpool(self.insights, period)
        currency = insights.currency
        figures = insights.figures
        flows = [
            (view, tally.states(view.id) if view.current else (), tally.steps(view.id))
            for view in flow_views(self.assignments)
        ]
        context = {
            **self.period_context(period, errors),
            "flows": flows,
            "assigned": bool(
                self.assignments.default or self.assignments.by_form or self.assignments.by_product
            ),
            "by_flow": figure_rows(figures.flows, currency),
            "by_step": figure_rows(figures.steps, currency),
            "by_variant": figure_rows(figures.variants, currency),
            "carts": tally.carts,
        }
        return self.render(request, "admin_flows.html", context, status=400 if errors else 200)
