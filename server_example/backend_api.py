"""The signed server-to-server API: what the shop's backend, order platform, app or mail
and SMS providers tell the receiver. Every call is signed with the Standard Webhooks
scheme and ``CARTBACK_API_SECRET``; the signature is checked on the raw body before
anything parses it.

- ``POST /api/orders``: an order (closes carts) or ``{"type": "payment.failed"}``.
- ``POST /api/devices``: register a push token for a prospect, or invalidate one.
- ``POST /api/social``: a Messenger or Instagram opt-in.
- ``POST /api/track``: site or app activity, a custom metric, a purchase.
- ``POST /api/inbound/email``: a reply to a recovery email (pauses the flow).
- ``POST /api/inbound/sms``: an SMS back (``STOP`` withdraws SMS consent).
- ``POST /api/engagements``: a provider's delivery receipt or open for a sent message.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from cartback import (
    Cartback,
    ConsentEvent,
    InvalidInputError,
    MessageNotFoundError,
    SignatureError,
    StoreUnavailableError,
    verify_webhook,
)
from cartback.notices import (
    DeviceNotice,
    EngagementNotice,
    InboundEmailNotice,
    InboundSmsNotice,
    OrderNotice,
    PaymentFailureNotice,
    SocialOptInNotice,
    TrackNotice,
)
from server_example.plumbing import ApiError, read_body
from server_example.settings import Settings

__all__ = ["BackendApi"]

N = TypeVar("N")

Handler = Callable[[Request], Awaitable[JSONResponse]]


@dataclass
class BackendApi:
    """Wires the SDK to the signed API. Rules live in ``cartback``, not here."""

    cartback: Cartback
    settings: Settings

    def routes(self) -> list[BaseRoute]:
        """The signed endpoints."""
        return [
            Route("/api/orders", self.orders, methods=["POST"]),
            Route("/api/devices", self.devices, methods=["POST"]),
            Route("/api/social", self.social, methods=["POST"]),
            Route("/api/track", self.track, methods=["POST"]),
            Route("/api/inbound/email", self.inbound_email, methods=["POST"]),
            Route("/api/inbound/sms", self.inbound_sms, methods=["POST"]),
            Route("/api/engagements", self.engagements, methods=["POST"]),
        ]

    async def _verified(self, request: Request) -> dict[str, Any]:
        """The JSON object of a body whose signature verifies."""
        if not self.settings.api_secret:
            raise ApiError(
                403, field="$", reason="not_configured", message="set CARTBACK_API_SECRET"
            )
        raw = await read_body(request, self.settings.max_body_bytes)
        try:
            verify_webhook(self.settings.api_secret, request.headers, raw, now=self.cartback.now())
        except SignatureError as exc:
            raise ApiError(
                401, field="webhook-signature", reason="bad_signature", message=str(exc)
            ) from None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(
                400, field="$", reason="malformed_json", message="body is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise ApiError(400, field="$", reason="not_an_object", message="body must be an object")
        return data

    @staticmethod
    async def _run(call: Callable[[], N]) -> N:
        try:
            return await run_in_threadpool(call)
        except InvalidInputError as exc:
            raise ApiError.from_invalid(exc) from None
        except StoreUnavailableError:
            raise ApiError.database_unavailable() from None

    @staticmethod
    def _parse(kind: type[Any], data: dict[str, Any]) -> Any:
        try:
            return kind.parse(data)
        except InvalidInputError as exc:
            raise ApiError.from_invalid(exc) from None

    async def orders(self, request: Request) -> JSONResponse:
        """POST /api/orders: an order closes carts; a failed payment keeps them open."""
        data = await self._verified(request)
        if data.get("type") == "payment.failed":
            failure: PaymentFailureNotice = self._parse(PaymentFailureNotice, data)
            carts = await self._run(
                lambda: self.cartback.record_payment_failure(
                    failure.reason,
                    email=failure.email,
                    session_id=failure.session_id,
                    form_id=failure.form_id,
                )
            )
            return JSONResponse({"status": "payment_failed", "carts": [c.id for c in carts]})
        order: OrderNotice = self._parse(OrderNotice, data)
        closed = await self._run(
            lambda: self.cartback.mark_ordered(
                email=order.email,
                session_id=order.session_id,
                form_id=order.form_id,
                order_id=order.order_id,
                revenue=order.revenue,
            )
        )
        return JSONResponse({"status": "closed", "carts": [cart.id for cart in closed]})

    async def devices(self, request: Request) -> JSONResponse:
        """POST /api/devices: register a push token, or invalidate one."""
        notice: DeviceNotice = self._parse(DeviceNotice, await self._verified(request))
        if notice.invalidate:
            changed = await self._run(
                lambda: self.cartback.invalidate_device(notice.platform, notice.token)
            )
            return JSONResponse({"status": "invalidated" if changed else "unchanged"})
        await self._run(
            lambda: self.cartback.register_device(
                notice.email, notice.platform, notice.token, notice.app_id
            )
        )
        return JSONResponse({"status": "registered"})

    async def social(self, request: Request) -> JSONResponse:
        """POST /api/social: a Messenger or Instagram opt-in."""
        notice: SocialOptInNotice = self._parse(SocialOptInNotice, await self._verified(request))
        await self._run(
            lambda: self.cartback.register_social_recipient(
                notice.email,
                notice.platform,
                page_id=notice.page_id,
                recipient_id=notice.recipient_id,
                text_version=notice.text_version,
            )
        )
        return JSONResponse({"status": "registered"})

    async def track(self, request: Request) -> JSONResponse:
        """POST /api/track: something the prospect did."""
        notice: TrackNotice = self._parse(TrackNotice, await self._verified(request))
        await self._run(
            lambda: self.cartback.track(
                notice.email, notice.kind, name=notice.name, value=notice.value
            )
        )
        return JSONResponse({"status": "recorded"})

    async def inbound_email(self, request: Request) -> JSONResponse:
        """POST /api/inbound/email: a reply to a recovery email."""
        notice: InboundEmailNotice = self._parse(InboundEmailNotice, await self._verified(request))
        address = parseaddr(notice.sender)[1] or notice.sender
        message_id = None
        if notice.in_reply_to:
            # Our Message-IDs are <cartback.msg_...@host>: the message id is inside.
            inner = notice.in_reply_to.strip().strip("<>").partition("@")[0]
            local = inner.removeprefix("cartback.")
            message_id = local if local.startswith("msg_") else None
        reply = await self._run(
            lambda: self.cartback.record_reply(address, "email", notice.text, message_id=message_id)
        )
        return JSONResponse({"status": "recorded", "reply": reply.id})

    async def inbound_sms(self, request: Request) -> JSONResponse:
        """POST /api/inbound/sms: an SMS back; STOP and the other keywords withdraw."""
        notice: InboundSmsNotice = self._parse(InboundSmsNotice, await self._verified(request))
        outcome = await self._run(
            lambda: self.cartback.record_sms_reply(notice.sender, notice.text)
        )
        if outcome is None:
            return JSONResponse({"status": "unknown_number"})
        if isinstance(outcome, ConsentEvent):
            return JSONResponse({"status": "opted_out"})
        return JSONResponse({"status": "recorded", "reply": outcome.id})

    async def engagements(self, request: Request) -> JSONResponse:
        """POST /api/engagements: a sent message was delivered or opened."""
        notice: EngagementNotice = self._parse(EngagementNotice, await self._verified(request))
        now = self.cartback.now()
        at = notice.at if notice.at is not None and notice.at <= now else now
        try:
            engagement = await self._run(
                lambda: self.cartback.record_engagement(notice.message_id, notice.kind, at=at)
            )
        except MessageNotFoundError:
            raise ApiError(
                404, field="message_id", reason="not_found", message="no such message"
            ) from None
        return JSONResponse({"status": "recorded", "cart": engagement.cart_id})
