"""The snippet's endpoints: capture, checkout completed, opt-out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cartback import Cartback, InvalidInputError
from cartback.notices import SessionNotice
from server_example.capture_stage import Captured, CaptureRequest, Rejected, Unavailable
from server_example.plumbing import ApiError, client_key, read_json_body, read_json_object
from server_example.ratelimit import RateLimiter
from server_example.settings import Settings
from server_example.writer import CaptureWriter, WriterOverloadedError

__all__ = ["CaptureApi"]

_PLAIN_ANSWERS: Final = {
    status: json.dumps({"status": status, "reasons": []}, separators=(",", ":")).encode()
    for status in ("stored", "updated", "unchanged", "not_stored")
}


@dataclass
class CaptureApi:
    """Wires the SDK to HTTP for the snippet. Rules live in ``cartback``, not here."""

    cartback: Cartback
    settings: Settings
    writer: CaptureWriter
    limiter: RateLimiter

    def __post_init__(self) -> None:
        self._origins = self.settings.origins  # a property that parses: once, not per request

    def _guard(self, request: Request) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") not in self._origins:
            raise ApiError(
                403, field="origin", reason="origin_not_allowed", message="origin not allowed"
            )
        retry_after = self.limiter.acquire(
            client_key(request, self.settings.trusted_client_ip_header)
        )
        if retry_after is not None:
            seconds = max(1, int(retry_after + 0.999))
            raise ApiError(
                429,
                field="$",
                reason="rate_limited",
                message="too many requests",
                headers={"Retry-After": str(seconds)},
            )

    async def capture(self, request: Request) -> Response:
        """POST /api/capture: check and store the filled fields of an order form.

        The body goes to the capture stage as read (``capture_stage``: parse, check,
        save); the answer comes once the capture is durable, or says why not."""
        self._guard(request)
        body = await read_json_body(request, self.settings.max_body_bytes)
        fallback_country = None
        if self.settings.trusted_country_header:
            fallback_country = request.headers.get(self.settings.trusted_country_header)
        try:
            reply = await self.writer.submit(CaptureRequest(body, fallback_country))
        except WriterOverloadedError:
            raise ApiError(
                503,
                field="$",
                reason="overloaded",
                message="try again shortly",
                headers={"Retry-After": "1"},
            ) from None
        if isinstance(reply, Captured):
            if not reply.reasons:  # the usual answers, rendered once
                return Response(_PLAIN_ANSWERS[reply.status], media_type="application/json")
            return JSONResponse({"status": reply.status, "reasons": list(reply.reasons)})
        if isinstance(reply, Rejected):
            raise ApiError(
                reply.status_code, field=reply.field, reason=reply.reason, message=reply.message
            )
        if isinstance(reply, Unavailable):
            raise ApiError(
                503,
                field="$",
                reason="unavailable",
                message="the database is unavailable: try again shortly",
                headers={"Retry-After": "2"},
            )
        raise RuntimeError(f"the capture stage failed ({reply.error})")

    async def _session_event(self, request: Request) -> SessionNotice:
        self._guard(request)
        data, _ = await read_json_object(request, self.settings.max_body_bytes)
        try:
            return SessionNotice.parse(data)
        except InvalidInputError as exc:
            raise ApiError.from_invalid(exc) from None

    async def complete(self, request: Request) -> JSONResponse:
        """POST /api/capture/complete: the browser saw the order form submitted. The
        session's carts wait for the shop's confirmation (the signed orders call) or a
        failed payment; without either they are open again after ``submitted_ttl``."""
        event = await self._session_event(request)
        submitted = await run_in_threadpool(
            self.cartback.mark_submitted, event.session_id, form_id=event.form_id
        )
        return JSONResponse({"status": "submitted", "carts": len(submitted)})

    async def optout(self, request: Request) -> JSONResponse:
        """POST /api/capture/optout: "No thanks" — delete what this session captured."""
        event = await self._session_event(request)
        report = await run_in_threadpool(self.cartback.forget_session, event.session_id)
        return JSONResponse({"status": "forgotten", "carts": report.carts})


def response_schema() -> dict[str, Any]:
    """JSON Schema of the capture response, for the OpenAPI document."""
    return {
        "type": "object",
        "required": ["status", "reasons"],
        "properties": {
            "status": {"enum": ["stored", "updated", "unchanged", "not_stored"]},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    }
