"""The shop backend's server-to-server "order placed" call, signed (Standard Webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from cartback import (
    Cartback,
    InvalidInputError,
    Money,
    SignatureError,
    verify_webhook,
)
from cartback._submission import invalid_input_from
from server_example.plumbing import ApiError, read_body
from server_example.settings import Settings

__all__ = ["OrderPlaced", "OrdersApi"]


class OrderPlaced(BaseModel):
    """An order that closes the prospect's (or browser session's) open carts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Annotated[str, Field(min_length=3, max_length=320)] | None = None
    session_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    form_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    order_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    revenue: Money | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> OrderPlaced:
        if self.email is None and self.session_id is None:
            raise ValueError("give email or session_id")
        return self


@dataclass
class OrdersApi:
    cartback: Cartback
    settings: Settings

    async def order_placed(self, request: Request) -> JSONResponse:
        """POST /api/orders: verify the signature on the raw body, then close carts."""
        if not self.settings.order_secret:
            raise ApiError(
                403, field="$", reason="not_configured", message="set CARTBACK_ORDER_SECRET"
            )
        raw = await read_body(request, self.settings.max_body_bytes)
        try:
            verify_webhook(
                self.settings.order_secret, request.headers, raw, now=self.cartback.now()
            )
        except SignatureError as exc:
            raise ApiError(
                401, field="webhook-signature", reason="bad_signature", message=str(exc)
            ) from None
        try:
            order = OrderPlaced.model_validate_json(raw)
        except ValidationError as exc:
            raise ApiError.from_invalid(invalid_input_from(exc)) from None
        try:
            closed = await run_in_threadpool(
                self.cartback.mark_ordered,
                email=order.email,
                session_id=order.session_id,
                form_id=order.form_id,
                order_id=order.order_id,
                revenue=order.revenue,
            )
        except InvalidInputError as exc:
            raise ApiError.from_invalid(exc) from None
        return JSONResponse({"status": "closed", "carts": [cart.id for cart in closed]})
