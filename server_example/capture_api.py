"""The snippet's session endpoints (checkout completed, opt-out) and the guard every
snippet endpoint shares; the capture itself is ``capture_endpoint``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from cartback import Cartback, InvalidInputError
from cartback.notices import SessionNotice
from server_example.plumbing import ApiError, client_key, read_json_object
from server_example.ratelimit import RateLimiter
from server_example.settings import Settings

__all__ = ["CaptureApi"]


@dataclass
class CaptureApi:
    """Wires the SDK to HTTP for the snippet. Rules live in ``cartback``, not here."""

    cartback: Cartback
    settings: Settings
    limiter: RateLimiter

    def __post_init__(self) -> None:
        self._origins = self.settings.origins  # a property that parses: once, not per request

    def guard(self, origin: str | None, client: str) -> None:
        """Refuse an ``Origin`` outside the allow-list (403) and a client over its rate
        (429 with ``Retry-After``)."""
        if origin is not None and origin.rstrip("/") not in self._origins:
            raise ApiError(
                403, field="origin", reason="origin_not_allowed", message="origin not allowed"
            )
        retry_after = self.limiter.acquire(client)
        if retry_after is not None:
            seconds = max(1, int(retry_after + 0.999))
            raise ApiError(
                429,
                field="$",
                reason="rate_limited",
                message="too many requests",
                headers={"Retry-After": str(seconds)},
            )

    def _guard(self, request: Request) -> None:
        self.guard(
            request.headers.get("origin"),
            client_key(request, self.settings.trusted_client_ip_header),
        )

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
