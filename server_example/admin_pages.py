"""What the integration pages of the dashboard share with it: the same login, the same
security headers, same-origin checks on every form post, small urlencoded forms.

The pages themselves are ``admin_webhooks`` and ``admin_tickets``; each takes the
``Dashboard`` whose session and password they honour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from server_example.dashboard import SECURITY_HEADERS, Dashboard
from server_example.plumbing import ApiError, media_type, read_body

__all__ = ["MAX_FORM_BODY", "AdminPages", "Form", "when"]

MAX_FORM_BODY: Final = 64 * 1024
"""Largest accepted form body on the integration pages, in bytes."""

Form = dict[str, list[str]]
Page = Callable[[Request], Awaitable[Response]]


def when(value: datetime | None) -> str:
    """A time as the pages show it (UTC, to the second)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


class AdminPages:
    """A base for dashboard pages: authentication, forms, templates."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.cartback = dashboard.cartback
        self.templates = dashboard.templates

    def secured(self, page: Page, *, post: bool = False) -> Page:
        """``page`` behind the admin login (and, for a form post, the same-origin
        check), with the dashboard's security headers."""

        async def wrapper(request: Request) -> Response:
            denied = await self.dashboard._denied(request)
            if denied is None and post and not self.dashboard._same_origin(request):
                denied = PlainTextResponse("Forbidden", status_code=403)
            response = denied if denied is not None else await page(request)
            response.headers.update(SECURITY_HEADERS)
            return response

        wrapper.__name__ = page.__name__
        wrapper.__doc__ = page.__doc__
        return wrapper

    async def form(self, request: Request) -> Form:
        """The request's urlencoded form (``ApiError`` 400/413/415 otherwise)."""
        if media_type(request) != "application/x-www-form-urlencoded":
            raise ApiError(
                415, field="content-type", reason="unsupported_media_type", message="use the form"
            )
        body = await read_body(request, MAX_FORM_BODY)
        try:
            return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except ValueError:
            raise ApiError(400, field="$", reason="invalid_form", message="not a form") from None

    def render(
        self, request: Request, name: str, context: dict[str, Any], *, status: int = 200
    ) -> Response:
        """A template of the pages."""
        return self.templates.TemplateResponse(request, name, context, status_code=status)


def first(form: Form, name: str, default: str = "") -> str:
    """The first value of a form field, stripped."""
    values = form.get(name)
    return values[0].strip() if values else default
