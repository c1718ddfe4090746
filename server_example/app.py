"""The reference receiver: ``create_app(settings)`` returns a Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

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

from cartback import Cartback, Clock, LinkSigner, open_store, system_clock
from cartback.webhooks import WebhookDeliverer
from cartback.webhooks._worker import WorkerSettings
from server_example.admin_tickets import TicketPages
from server_example.admin_webhooks import WebhookPages
from server_example.capture_api import CaptureApi
from server_example.dashboard import Dashboard
from server_example.integrations import Integrations
from server_example.links_api import LinksApi
from server_example.openapi import openapi_document
from server_example.orders_api import OrdersApi
from server_example.plumbing import ApiError, accepts_gzip, error_response, gzipped
from server_example.ratelimit import RateLimiter
from server_example.settings import Settings
from server_example.writer import CaptureWriter

__all__ = ["SNIPPET_DIR", "create_app"]

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


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    monotonic: Callable[[], float] = time.monotonic,
    webhook_deliverer: WebhookDeliverer | None = None,
    webhook_worker: WorkerSettings | None = None,
) -> Starlette:
    """The receiver wired to the store ``settings.database`` names (a SQLite file or a
    ``postgresql://`` DSN).

    ``clock`` (UTC wall time: links, sessions, login throttling) and ``monotonic`` (the
    per-process capture rate limit) are injectable for tests, and so are the webhook
    worker's deliverer and settings (``app.state.integrations`` runs them).
    """
    store = open_store(settings.database, synchronous=settings.synchronous)
    cartback = Cartback(
        store,
        policy=settings.policy,
        forms=settings.forms,
        clock=clock,
        retention_days=settings.retention_days,
        links=LinkSigner(settings.secret_key),
    )
    writer = CaptureWriter(cartback.save)
    limiter = RateLimiter(
        per_minute=settings.rate_per_minute, burst=settings.rate_burst, clock=monotonic
    )
    capture = CaptureApi(cartback, settings, writer, limiter)
    orders = OrdersApi(cartback, settings)
    links = LinksApi(cartback, settings, TEMPLATES)
    dashboard = Dashboard(cartback, settings, TEMPLATES)
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
        return TEMPLATES.TemplateResponse(request, "demo_shop.html", {})

    async def demo_thanks(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "demo_thanks.html", {})

    routes = [
        Route("/api/capture", capture.capture, methods=["POST"]),
        Route("/api/capture/complete", capture.complete, methods=["POST"]),
        Route("/api/capture/optout", capture.optout, methods=["POST"]),
        Route("/api/orders", orders.order_placed, methods=["POST"]),
        Route("/r/{token}", links.recover, methods=["GET"]),
        Route("/u/{token}", links.unsubscribe, methods=["GET", "POST"]),
        Route("/cartback.js", snippet, methods=["GET"]),
        Route("/cartback.src.js", snippet, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/favicon.ico", dashboard.icon, methods=["GET"]),
        *dashboard.routes(),
        *WebhookPages(dashboard).routes(),
        *TicketPages(dashboard).routes(),
    ]
    if settings.demo:
        routes += [
            Route("/", demo_shop, methods=["GET"]),
            Route("/thanks", demo_thanks, methods=["GET", "POST"]),
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
        writer.start()
        await run_in_threadpool(integrations.start)
        purger = asyncio.create_task(purge_periodically())
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await run_in_threadpool(integrations.stop)
            writer.stop()
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
    app.state.integrations = integrations
    return app
