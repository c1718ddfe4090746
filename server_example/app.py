"""The reference receiver: ``create_app(settings)`` returns a Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from cartback import (
    Cartback,
    Clock,
    ConfigurationError,
    InvalidInputError,
    LinkSigner,
    PaymentFailureReason,
    system_clock,
)
from cartback._dispatcher import DispatcherSettings
from cartback.senders import Senders
from cartback.webhooks import WebhookDeliverer
from cartback.webhooks._worker import WorkerSettings
from server_example.admin_auth import AdminAuth
from server_example.admin_carts import CartPages
from server_example.admin_export import Exports
from server_example.admin_flows import FlowPages
from server_example.admin_overview import Overview
from server_example.admin_pages import icon
from server_example.admin_segments import SegmentPages
from server_example.admin_tickets import TicketPages
from server_example.admin_webhooks import WebhookPages
from server_example.backend_api import BackendApi
from server_example.capture_api import CaptureApi
from server_example.capture_endpoint import CaptureEndpoint
from server_example.capture_process import CaptureProcess
from server_example.capture_stage import Stage, in_thread
from server_example.dashboard import Dashboard
from server_example.demo import Mailbox
from server_example.integrations import Integrations
from server_example.links_api import LinksApi
from server_example.openapi import openapi_document
from server_example.plumbing import ApiError, accepts_gzip, error_response, gzipped, read_body
from server_example.ratelimit import RateLimiter
from server_example.recovery import (
    RecoveryRunner,
    build_dispatcher,
    flow_assignments,
    guard_settings,
    make_senders,
    shop_settings,
)
from server_example.settings import Settings
from server_example.wiring import build_cartback
from server_example.writer import CaptureWriter

__all__ = ["SNIPPET_DIR", "create_app", "recovery_runner"]

_DEMO_FIELDS = (
    "email", "first_name", "last_name", "phone", "street", "city", "state", "postal_code",
    "country",
)  # fmt: skip

log = logging.getLogger("cartback.receiver")

PURGE_INTERVAL_SECONDS = 6 * 3600
HERE = Path(__file__).parent
SNIPPET_DIR = HERE.parent / "snippet"
# Autoescape everything explicitly: every value shown in a page may come from a prospect.
TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
    )
)


def recovery_runner(
    cartback: Cartback, settings: Settings, signer: LinkSigner, *, senders: Senders | None = None
) -> RecoveryRunner:
    """The dispatcher these settings describe, in its runner (not started)."""
    shop = shop_settings(
        settings.shop, public_url=settings.public_url, form_urls=settings.form_urls
    )
    guards = guard_settings(settings.guards, fallback_time_zone=shop.timezone)
    dispatcher = build_dispatcher(
        cartback,
        DispatcherSettings(assignments=flow_assignments(settings.flows), shop=shop, guards=guards),
        senders or make_senders(settings.senders, smtp_url=settings.smtp_url),
        signer=signer,
    )
    return RecoveryRunner(dispatcher, cartback, interval=settings.dispatch_interval)


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    monotonic: Callable[[], float] = time.monotonic,
    senders: Senders | None = None,
    mailbox: Mailbox | None = None,
    webhook_deliverer: WebhookDeliverer | None = None,
    webhook_worker: WorkerSettings | None = None,
) -> Starlette:
    """The receiver wired to the store ``settings.database`` names (a SQLite file or a
    ``postgresql://`` DSN).

    ``clock`` (UTC wall time: links, sessions, login throttling) and ``monotonic`` (the
    per-process capture rate limit) are injectable for tests; ``senders`` replaces the
    senders the settings describe (tests, or an integrator wiring providers in code), and
    the webhook worker's deliverer and settings are injectable too
    (``app.state.integrations`` runs them). With ``settings.capture_worker ==
    "process"`` (the default) captures are checked and stored by a worker process the
    lifespan starts (``app.state.capture_process``); it keeps the system clock, so an
    injected ``clock`` needs ``capture_worker="thread"``.
    """
    if settings.capture_worker == "process" and clock is not system_clock:
        raise ConfigurationError(
            "the capture worker process keeps the system clock:"
            " inject a clock with capture_worker='thread'",
            setting="capture_worker",
        )
    cartback = build_cartback(settings, clock=clock)
    store = cartback.store
    signer = LinkSigner(settings.secret_key)
    if senders is None and mailbox is not None:  # the demo: email goes to its mailbox
        senders = make_senders({}, overrides={"email": mailbox.sender()})
    recovery = recovery_runner(cartback, settings, signer, senders=senders)
    capture_process = CaptureProcess(settings) if settings.capture_worker == "process" else None
    stage: Stage = capture_process or in_thread(cartback)
    # The worker process takes a second batch while the web process answers the first.
    writer = CaptureWriter(stage, in_flight=2 if capture_process is not None else 1)
    limiter = RateLimiter(
        per_minute=settings.rate_per_minute, burst=settings.rate_burst, clock=monotonic
    )
    capture = CaptureApi(cartback, settings, limiter)
    capture_endpoint = CaptureEndpoint(capture, writer)
    backend = BackendApi(cartback, settings)
    links = LinksApi(cartback, settings, TEMPLATES)
    auth = AdminAuth(cartback, settings, TEMPLATES)
    dashboard = Dashboard(auth)
    tickets = TicketPages(auth)
    integrations = Integrations(
        cartback, settings, deliverer=webhook_deliverer, worker_settings=webhook_worker
    )

    async def snippet(request: Request) -> Response:
        name = "cartback.js" if request.url.path.endswith(".src.js") else "cartback.min.js"
        path = SNIPPET_DIR / name
        headers = {"Cache-Control": "public, max-age=300", "Vary": "Accept-Encoding"}
        if accepts_gzip(request):  # the snippet's budget is its gzip size: serve that
            headers["Content-Encoding"] = "gzip"
            return Response(gzipped(path), media_type="text/javascript", headers=headers)
        return FileResponse(path, media_type="text/javascript", headers=headers)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def demo_shop(request: Request) -> Response:
        # A recovery link lands here with the stored fields: the form is pre-filled.
        prefill = {
            name: request.query_params[name][:200]
            for name in _DEMO_FIELDS
            if name in request.query_params
        }
        return TEMPLATES.TemplateResponse(request, "demo_shop.html", {"prefill": prefill})

    async def mailbox_index(request: Request) -> Response:
        emails = mailbox.emails if mailbox is not None else ()
        return TEMPLATES.TemplateResponse(request, "mailbox.html", {"emails": emails})

    async def mailbox_email(request: Request) -> Response:
        number = request.path_params["number"]
        found = mailbox.email(number) if mailbox is not None else None
        if found is None:
            return PlainTextResponse("No such email", status_code=404)
        response = TEMPLATES.TemplateResponse(request, "mailbox_email.html", {"email": found})
        # The email's HTML is shown in a sandboxed frame; nothing in it may run.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
            " frame-src 'self'; script-src 'none'"
        )
        return response

    async def demo_thanks(request: Request) -> Response:
        # The demo shop's own backend: it confirms the order (or reports the failed
        # payment) to the receiver, as a real shop's backend would through /api/orders.
        form: dict[str, list[str]] = {}
        if request.method == "POST":
            body = await read_body(request, settings.max_body_bytes)
            form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=64)
        email = (form.get("email") or [""])[-1].strip()
        outcome = (form.get("demo_outcome") or ["paid"])[-1]
        failure: PaymentFailureReason | None = None
        if outcome in ("authentication_timeout", "card_declined"):
            failure = "card_declined" if outcome == "card_declined" else "authentication_timeout"
        context: dict[str, object] = {
            "paid": failure is None,
            "closed": 0,
            "reason": failure or "",
            "email_given": bool(email),
        }
        if email and "@" in email:
            try:
                if failure is not None:
                    failed = await run_in_threadpool(
                        cartback.record_payment_failure, failure, email=email
                    )
                    context["closed"] = len(failed)
                else:
                    closed = await run_in_threadpool(
                        cartback.mark_ordered, email=email, order_id="demo"
                    )
                    context["closed"] = len(closed)
            except (InvalidInputError, ApiError):
                pass  # a demo form with an odd address: nothing to confirm
        return TEMPLATES.TemplateResponse(request, "demo_thanks.html", context)

    routes = [
        Route("/api/capture", capture_endpoint, methods=["POST"]),
        Route("/api/capture/complete", capture.complete, methods=["POST"]),
        Route("/api/capture/optout", capture.optout, methods=["POST"]),
        *backend.routes(),
        Route("/r/{token}", links.recover, methods=["GET"]),
        Route("/u/{token}", links.unsubscribe, methods=["GET", "POST"]),
        Route("/o/{token}", links.opened, methods=["GET"]),
        Route("/cartback.js", snippet, methods=["GET"]),
        Route("/cartback.src.js", snippet, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/favicon.ico", icon, methods=["GET"]),
        *auth.routes(),
        *Overview(auth, recovery).routes(),
        *SegmentPages(auth).routes(),
        *FlowPages(auth, recovery).routes(),
        *dashboard.routes(),
        *Exports(auth, dashboard, tickets).routes(),
        *CartPages(auth, recovery).routes(),
        *WebhookPages(auth).routes(),
        *tickets.routes(),
    ]
    if settings.demo:
        routes += [
            Route("/", demo_shop, methods=["GET"]),
            Route("/thanks", demo_thanks, methods=["GET", "POST"]),
            Route("/mailbox", mailbox_index, methods=["GET"]),
            Route("/mailbox/{number:int}", mailbox_email, methods=["GET"]),
        ]

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
            return error_response(
                ApiError(exc.status_code, field="$", reason=reason, message=str(exc.detail))
            )
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        # Never the exception text: it could hold submitted values.
        log.error("unhandled %s on %s", type(exc).__name__, request.url.path)
        return JSONResponse(
            {"field": "$", "reason": "internal_error", "message": "internal error"},
            status_code=500,
        )

    async def purge() -> None:
        # Retention: carts idle longer than retention_days go (counts only in the log).
        removed = await run_in_threadpool(cartback.purge_expired)
        if removed:
            log.info("retention purge removed %d carts", removed)

    async def purge_periodically() -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)
            await purge()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await purge()
        if capture_process is not None:
            await capture_process.start()
        writer.start()
        await run_in_threadpool(integrations.start)
        purger = asyncio.create_task(purge_periodically())
        if settings.dispatcher:
            recovery.start()
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            recovery.stop()
            await run_in_threadpool(integrations.stop)
            await writer.stop()
            if capture_process is not None:
                await capture_process.stop()
            store.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=sorted(settings.origins),
                allow_methods=["POST"],
                allow_headers=["content-type"],
                max_age=600,
            )
        ],
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    # No 307 to the slash-less path: an unknown path is a plain 404 (or JSON under /api).
    app.router.redirect_slashes = False
    app.state.cartback = cartback
    app.state.settings = settings
    app.state.recovery = recovery
    app.state.integrations = integrations
    app.state.capture_process = capture_process
    return app
