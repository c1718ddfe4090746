"""What every page of the dashboard shares: the login guard, the security headers,
same-origin checks on every form post, small urlencoded forms, and the layout's context
(the navigation's current section, the time formats).

The pages are ``admin_overview`` (the landing page), ``dashboard`` (the carts),
``admin_carts`` (one cart), ``admin_segments``, ``admin_flows``, ``admin_export`` (CSV
downloads), ``admin_tickets`` and ``admin_webhooks``; each takes the ``AdminAuth`` whose
session and password they honour.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from server_example.admin_auth import AdminAuth, Endpoint
from server_example.admin_views import short_when, when
from server_example.plumbing import ApiError, media_type, read_body

__all__ = ["ICON", "MAX_FORM_BODY", "AdminPages", "Form", "Section", "first", "icon", "when"]

MAX_FORM_BODY: Final = 64 * 1024
"""Largest accepted form body on the admin pages, in bytes."""

ICON: Final = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<path d="M1 2h2l2 8h8l2-6H4" fill="none" stroke="#2563eb" stroke-width="1.5"/>'
    '<circle cx="6" cy="13" r="1.5" fill="#2563eb"/>'
    '<circle cx="12" cy="13" r="1.5" fill="#2563eb"/>'
    "</svg>"
)
"""The dashboard's tab icon (so browsers do not ask for a missing ``/favicon.ico``)."""

Section = Literal["overview", "carts", "segments", "flows", "tickets", "webhooks"]
"""The navigation's entries; the page's own is marked as current."""

Form = dict[str, list[str]]


async def icon(request: Request) -> Response:
    """GET /admin/icon.svg (and /favicon.ico): the tab icon (public, cacheable)."""
    return Response(
        ICON,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


class AdminPages:
    """A base for dashboard pages: authentication, forms, templates."""

    section: ClassVar[Section | None] = None
    """The navigation entry the pages belong to."""

    def __init__(self, auth: AdminAuth) -> None:
        self.auth = auth
        self.cartback = auth.cartback
        self.settings = auth.settings
        self.templates = auth.templates

    def secured(self, page: Endpoint, *, post: bool = False) -> Endpoint:
        """``page`` behind the admin login (and, for a form post, the same-origin
        check), with the dashboard's security headers."""
        return self.auth.guard(page, post=post)

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
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        section: Section | None = None,
        status: int = 200,
    ) -> Response:
        """A template of the pages, with the layout's context."""
        full = {
            "when": when,
            "short_when": short_when,
            "section": section or self.section,
            **context,
        }
        return self.templates.TemplateResponse(request, name, full, status_code=status)


def first(form: Form, name: str, default: str = "") -> str:
    """The first value of a form field, stripped."""
    values = form.get(name)
    return values[0].strip() if values else default
