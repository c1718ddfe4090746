"""Dashboard pages for webhook endpoints, under ``/admin/webhooks``.

- ``GET /admin/webhooks``: every endpoint with its status, health, lag and dead letters.
- ``GET``/``POST /admin/webhooks/new``: add one (a secret is generated when none is
  given, and shown once, on the page that answers the form).
- ``GET /admin/webhooks/{id}``: its settings (secrets only as hints), health, dead
  letters; forms to edit it (a new secret rotates: the old one keeps signing for the
  hours chosen), disable, enable, remove, and replay dead letters (one, all, or those
  whose event happened in a time range, UTC).
- ``POST /admin/webhooks/{id}/edit``, ``/disable``, ``/enable``, ``/remove``, ``/replay``.

Every page is behind the dashboard's login; every form post must come from the
dashboard's own pages. The endpoints live in the store, so every receiver and worker on
the database sees a change at once (a worker applies it on its next tick).
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cartback import ConfigurationError, InvalidInputError
from cartback.webhooks import WEBHOOK_EVENT_TYPES, EndpointConfigError
from cartback.webhooks._errors import EndpointNotFoundError
from cartback.webhooks._registry import EndpointView
from server_example.admin_pages import AdminPages, Form, first

__all__ = ["WebhookPages", "new_secret"]

_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MINUTE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")
DEAD_LETTERS_SHOWN: Final = 100
"""Dead letters listed on an endpoint's page (replay "all" covers every one)."""


def new_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text) if part]


def _moment(text: str, label: str) -> datetime | None:
    """A ``datetime-local`` value read as UTC; ``ValueError`` names the field."""
    text = text.strip()
    if not text:
        return None
    if not _MINUTE.fullmatch(text):
        raise ValueError(f"{label} is not a time: use YYYY-MM-DDTHH:MM (UTC).")
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _settings(form: Form) -> dict[str, Any]:
    """Endpoint settings from the add/edit form (secrets aside)."""
    settings: dict[str, Any] = {
        "url": first(form, "url"),
        "event_types": [value for value in form.get("event_types", []) if value],
        "allowed_networks": _split(first(form, "allowed_networks")),
        "allowed_hosts": _split(first(form, "allowed_hosts")),
    }
    for name, kind in (("max_in_flight", int), ("rate_per_second", float)):
        text = first(form, name)
        if text:
            try:
                settings[name] = kind(text)
            except ValueError:
                raise EndpointConfigError(
                    f"{name}: not a number", setting=name, reason="not_a_number"
                ) from None
    return settings


class WebhookPages(AdminPages):
    """The webhook endpoint pages."""

    section = "webhooks"

    def routes(self) -> list[BaseRoute]:
        """The pages' routes."""
        s = self.secured
        return [
            Route("/admin/webhooks", s(self.index), methods=["GET"]),
            Route("/admin/webhooks/new", s(self.new_form), methods=["GET"]),
            Route("/admin/webhooks/new", s(self.create, post=True), methods=["POST"]),
            Route("/admin/webhooks/{endpoint_id}", s(self.detail), methods=["GET"]),
            Route("/admin/webhooks/{endpoint_id}/edit", s(self.edit, post=True), methods=["POST"]),
            Route(
                "/admin/webhooks/{endpoint_id}/disable",
                s(self.disable, post=True),
                methods=["POST"],
            ),
            Route(
                "/admin/webhooks/{endpoint_id}/enable", s(self.enable, post=True), methods=["POST"]
            ),
            Route(
                "/admin/webhooks/{endpoint_id}/remove", s(self.remove, post=True), methods=["POST"]
            ),
            Route(
                "/admin/webhooks/{endpoint_id}/replay", s(self.replay, post=True), methods=["POST"]
            ),
        ]

    def _context(self, **extra: Any) -> dict[str, Any]:
        return {"event_types": WEBHOOK_EVENT_TYPES, **extra}

    async def index(self, request: Request) -> Response:
        """GET /admin/webhooks: every endpoint at a glance."""
        views = await run_in_threadpool(self.cartback.webhook_endpoints)
        return self.render(request, "admin_webhooks.html", self._context(endpoints=views))

    async def new_form(self, request: Request) -> Response:
        """GET /admin/webhooks/new: the form for a new endpoint."""
        return self.render(request, "admin_webhook_new.html", self._context(values={}, error=None))

    async def create(self, request: Request) -> Response:
        """POST /admin/webhooks/new: store the endpoint, show its secret once."""
        form = await self.form(request)
        endpoint_id = first(form, "id")
        secret = first(form, "secret") or new_secret()
        try:
            settings = {"id": endpoint_id, "secrets": [secret], **_settings(form)}
            view = await run_in_threadpool(self.cartback.add_webhook_endpoint, settings)
        except (ConfigurationError, InvalidInputError) as exc:
            values: dict[str, Any] = {name: first(form, name) for name in form if name != "secret"}
            values["event_types"] = form.get("event_types", [])
            return self.render(
                request,
                "admin_webhook_new.html",
                self._context(values=values, error=_problem(exc)),
                status=422,
            )
        generated = not first(form, "secret")
        return self.render(
            request,
            "admin_webhook.html",
            self._context(
                endpoint=view,
                dead_letters=[],
                created_secret=secret if generated else None,
                notice="Endpoint added.",
                error=None,
            ),
            status=201,
        )

    async def _view(self, request: Request) -> EndpointView | None:
        endpoint_id = request.path_params["endpoint_id"]
        if not _ID.fullmatch(endpoint_id):
            return None
        try:
            return await run_in_threadpool(self.cartback.webhook_endpoint, endpoint_id)
        except EndpointNotFoundError:
            return None

    async def _detail(
        self,
        request: Request,
        view: EndpointView,
        *,
        notice: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        letters = await run_in_threadpool(
            lambda: self.cartback.webhook_dead_letters(view.id, limit=DEAD_LETTERS_SHOWN)
        )
        return self.render(
            request,
            "admin_webhook.html",
            self._context(
                endpoint=view,
                dead_letters=letters,
                created_secret=None,
                notice=notice,
                error=error,
            ),
            status=status,
        )

    async def detail(self, request: Request) -> Response:
        """GET /admin/webhooks/{id}: one endpoint."""
        view = await self._view(request)
        if view is None:
            return PlainTextResponse("No such webhook endpoint.", status_code=404)
        notice = {
            "saved": "Saved.",
            "disabled": "Disabled: nothing is sent until it is enabled again.",
            "enabled": "Enabled: what waited is being delivered.",
        }.get(request.query_params.get("done", ""))
        replayed = request.query_params.get("replayed", "")
        if replayed.isdigit():
            count = int(replayed)
            notice = f"{count} dead letter{'s' if count != 1 else ''} queued again."
        return await self._detail(request, view, notice=notice)

    def _back(self, endpoint_id: str, **params: str) -> Response:
        query = "&".join(f"{key}={value}" for key, value in params.items())
        return RedirectResponse(
            f"/admin/webhooks/{endpoint_id}" + (f"?{query}" if query else ""), status_code=303
        )

    async def edit(self, request: Request) -> Response:
        """POST /admin/webhooks/{id}/edit: new settings; a new secret rotates."""
        view = await self._view(request)
        if view is None:
            return PlainTextResponse("No such webhook endpoint.", status_code=404)
        form = await self.form(request)
        try:
            changes = _settings(form)
            secret = first(form, "secret")
            if secret:
                changes["secrets"] = await run_in_threadpool(
                    self._rotated, view.id, secret, first(form, "keep_old_hours", "24")
                )
            await run_in_threadpool(self.cartback.update_webhook_endpoint, view.id, changes)
        except (ConfigurationError, InvalidInputError, ValueError) as exc:
            return await self._detail(request, view, error=_problem(exc), status=422)
        return self._back(view.id, done="saved")

    def _rotated(self, endpoint_id: str, secret: str, hours_text: str) -> list[dict[str, Any]]:
        """The secrets after adding ``secret`` as the current one: the old ones keep
        signing for ``hours_text`` hours (0: they stop at once)."""
        from cartback.webhooks._registry import endpoint_of

        if not hours_text.isdigit() or not 0 <= int(hours_text) <= 24 * 30:
            raise ValueError("Keep the old secret for 0 to 720 hours.")
        record = self.cartback.store.endpoint(endpoint_id)
        if record is None:
            raise EndpointNotFoundError("no such webhook endpoint", endpoint_id=endpoint_id)
        now = self.cartback.now()
        until = now + timedelta(hours=int(hours_text))
        kept: list[dict[str, Any]] = [{"value": secret}]
        for old in endpoint_of(record).secrets:
            ends = old.active_until if old.active_until is not None else until
            if ends > now and int(hours_text) > 0 and old.value != secret:
                kept.append({"value": old.value, "active_until": min(ends, until).isoformat()})
        return kept[:5]

    async def disable(self, request: Request) -> Response:
        """POST /admin/webhooks/{id}/disable."""
        view = await self._view(request)
        if view is None:
            return PlainTextResponse("No such webhook endpoint.", status_code=404)
        await run_in_threadpool(self.cartback.disable_webhook_endpoint, view.id)
        return self._back(view.id, done="disabled")

    async def enable(self, request: Request) -> Response:
        """POST /admin/webhooks/{id}/enable."""
        view = await self._view(request)
        if view is None:
            return PlainTextResponse("No such webhook endpoint.", status_code=404)
        await run_in_threadpool(self.cartback.enable_webhook_endpoint, view.id)
        return self._back(view.id, done="enabled")

    async def remove(self, request: Request) -> Response:
        """POST /admin/webhooks/{id}/remove: the endpoint, its deliveries, dead letters."""
        view = await self._view(request)
        if view is None:
            return PlainTextResponse("No such webhook endpoint.", status_code=404)
        await run_in_threadpool(self.cartback.remove_webhook_endpoint, view.id)
        return RedirectResponse("/admin/webhooks", status_code=303)

    async def replay(self, request: Request) -> Response:
        """POST /admin/webhooks/{id}/replay: ``seq`` (one), ``scope=all``, or
        ``since``/``until`` (UTC, either may be empty)."""
        view = await self._view(request)
        if view is None:
            return PlainTextResponse("No such webhook endpoint.", status_code=404)
        form = await self.form(request)
        seq, scope = first(form, "seq"), first(form, "scope")
        try:
            if seq:
                if not seq.isdigit() or len(seq) > 18:
                    raise ValueError("That is not a dead letter of this endpoint.")
                count = await run_in_threadpool(
                    lambda: self.cartback.replay_webhooks(view.id, seqs=[int(seq)])
                )
            elif scope == "all":
                count = await run_in_threadpool(self.cartback.replay_webhooks, view.id)
            elif scope == "range":
                since = _moment(first(form, "since"), "The start")
                until = _moment(first(form, "until"), "The end")
                if since is None and until is None:
                    raise ValueError("Give a start, an end, or both.")
                if since and until and since > until:
                    raise ValueError("The start is after the end.")
                if until is not None:
                    until += timedelta(seconds=59, microseconds=999_999)
                count = await run_in_threadpool(
                    lambda: self.cartback.replay_webhooks(view.id, since=since, until=until)
                )
            else:
                raise ValueError("Choose one dead letter, all of them, or a time range.")
        except ValueError as exc:
            return await self._detail(request, view, error=str(exc), status=422)
        return self._back(view.id, replayed=str(count))


def _problem(exc: Exception) -> str:
    """A readable sentence for a refused setting (never the value: it may be a secret)."""
    if isinstance(exc, EndpointConfigError):
        return f"The setting {exc.setting} cannot be used ({exc.reason})."
    if isinstance(exc, InvalidInputError):
        if exc.reason == "already_exists":
            return "An endpoint with this id exists already."
        return f"The field {exc.field} cannot be used ({exc.reason})."
    if isinstance(exc, ConfigurationError):
        return f"The setting {exc.setting} cannot be used."
    return str(exc)
