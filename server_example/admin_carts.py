"""The dashboard's page for one cart, under ``/admin/carts/{id}``: what was captured, its
consent per channel, where it stands in its recovery flow (the flow and version, the
step it is at, when it is next due, or why it ended), every message planned for it
(sent, skipped, deferred or failed, with why), the prospect's replies, and what each
channel would send now (nothing is sent from this page).

``POST /admin/carts/{id}/resume`` resumes a flow a reply paused.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cartback import CartNotFoundError, preview
from server_example.admin_auth import AdminAuth
from server_example.admin_pages import AdminPages
from server_example.admin_views import consent_summary
from server_example.recovery import RecoveryRunner

__all__ = ["CartPages"]

_ID: Final = re.compile(r"cart_[A-Za-z0-9_]{1,64}")


class CartPages(AdminPages):
    """The cart page."""

    section = "carts"

    def __init__(self, auth: AdminAuth, recovery: RecoveryRunner) -> None:
        super().__init__(auth)
        self.recovery = recovery

    def routes(self) -> list[BaseRoute]:
        """The page's routes."""
        return [
            Route("/admin/carts/{cart_id}", self.secured(self.detail), methods=["GET"]),
            Route(
                "/admin/carts/{cart_id}/resume",
                self.secured(self.resume, post=True),
                methods=["POST"],
            ),
        ]

    def _context(self, cart_id: str) -> dict[str, object] | None:
        cartback = self.cartback
        try:
            cart = cartback.get_cart(cart_id)
        except CartNotFoundError:
            return None
        prospect = cart.contact.prospect_key or ""
        now = cartback.now()
        consents = cartback.consents_for(cart, at=now)
        dispatcher = self.recovery.dispatcher
        previews = preview(
            cart,
            shop=dispatcher.settings.shop,
            signer=dispatcher.signer,
            at=now,
            consent={channel: decision.allowed for channel, decision in consents.items()},
            devices=cartback.store.devices(prospect),
            recipients=cartback.store.social_recipients(prospect),
            history=cartback.store.messages(prospect=prospect),
        )
        return {
            "cart": cart,
            "consents": consents,
            "consent": consent_summary(consents, cart.newsletter_opt_in),
            "scheduled": cartback.store.enrolment(cart.id),
            "messages": cartback.messages(cart.id),
            "replies": cartback.replies(prospect, limit=20) if prospect else [],
            "previews": previews,
        }

    async def detail(self, request: Request) -> Response:
        """GET /admin/carts/{id}: the cart, its flow, its messages and previews."""
        cart_id = request.path_params["cart_id"]
        if not _ID.fullmatch(cart_id):
            return PlainTextResponse("Not found", status_code=404)
        context = await run_in_threadpool(self._context, cart_id)
        if context is None:
            return PlainTextResponse("Not found", status_code=404)
        return self.render(request, "admin_cart.html", context)

    async def resume(self, request: Request) -> Response:
        """POST /admin/carts/{id}/resume: earlier replies no longer pause the flow."""
        cart_id = request.path_params["cart_id"]
        if not _ID.fullmatch(cart_id):
            return PlainTextResponse("Not found", status_code=404)
        await run_in_threadpool(self.cartback.resume_flow, cart_id)
        return RedirectResponse(f"/admin/carts/{cart_id}", status_code=303)
