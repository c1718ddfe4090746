"""The dashboard's login: who may see the admin pages, and the guard every page sits behind.

Routes: ``GET /admin/login``, ``POST /admin/login``, ``POST /admin/logout``.

The login form sets an HttpOnly, SameSite=Strict session cookie (``Path=/admin``) holding
a token signed with a key derived from ``secret_key`` and the admin password (changing
the password ends every session); it expires after 12 hours, and logging out revokes it
(a flag in the store until then, so every receiver on the database honours it). Scripts
send ``Authorization: Bearer <admin password>`` instead. Failed attempts, by form or by
header, are throttled per client IP; while a client is throttled no password is checked
at all; the failures are counted in the store, shared by every receiver. Every form post
must come from the dashboard's own pages. Nothing personal is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from cartback import Cartback
from server_example.admin_sessions import SessionSigner
from server_example.login_throttle import FailureThrottle
from server_example.plumbing import ApiError, client_key, media_type, read_body
from server_example.settings import Settings

__all__ = [
    "LOGIN_FAILURES_PER_MINUTE",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "AdminAuth",
    "Endpoint",
    "safe_next",
    "with_security_headers",
]

log = logging.getLogger("cartback.receiver.dashboard")

SESSION_COOKIE: Final = "cartback_admin"
"""The name of the admin session cookie."""
SESSION_LIFETIME: Final = timedelta(hours=12)
"""How long a login lasts."""
LOGIN_FAILURES_PER_MINUTE: Final = 5
"""Failed logins a client IP may make at once, and per minute after that."""
MAX_LOGIN_BODY: Final = 4096
"""Largest accepted login form body, in bytes."""

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Sent with every dashboard response (the pages hold personal data: never cached).
No script runs on any admin page: the policy allows none inline, and the pages ship none."""

Endpoint = Callable[[Request], Awaitable[Response]]
"""A Starlette endpoint."""

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _seconds(value: float) -> int:
    return max(1, int(value + 0.999))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path inside ``/admin`` on this site, else ``/admin``.

    Refuses absolute and scheme-relative URLs, backslashes and control characters, so
    the login form cannot be used as an open redirect.
    """
    default = "/admin"
    if (
        not value
        or not value.startswith("/")
        or len(value) > 2048
        or "\\" in value
        or _CONTROL.search(value)
    ):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return default
    if parts.path != "/admin" and not parts.path.startswith("/admin/"):
        return default
    if parts.path in ("/admin/login", "/admin/logout") or "/../" in parts.path + "/":
        return default
    return value


def with_security_headers(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` answering with ``SECURITY_HEADERS`` (for the public login pages)."""

    async def wrapper(request: Request) -> Response:
        response = await endpoint(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    wrapper.__name__ = endpoint.__name__
    wrapper.__doc__ = endpoint.__doc__
    return wrapper


class AdminAuth:
    """The admin login and the guard of every admin page. Construct once per app."""

    def __init__(self, cartback: Cartback, settings: Settings, templates: Jinja2Templates) -> None:
        self.cartback = cartback
        self.settings = settings
        self.templates = templates
        self.sessions = SessionSigner(
            settings.secret_key,
            settings.admin_password,
            lifetime=SESSION_LIFETIME,
            store=cartback.store,
        )
        self._throttle = FailureThrottle(
            cartback.store, per_minute=LOGIN_FAILURES_PER_MINUTE, burst=LOGIN_FAILURES_PER_MINUTE
        )
        self._password = _digest(settings.admin_password)
        self._secure = settings.public_url.lower().startswith("https://")

    def routes(self) -> list[BaseRoute]:
        """The login and logout routes."""
        return [
            Route("/admin/login", with_security_headers(self.login_form), methods=["GET"]),
            Route("/admin/login", with_security_headers(self.login), methods=["POST"]),
            Route("/admin/logout", with_security_headers(self.logout), methods=["POST"]),
        ]

    def guard(self, page: Endpoint, *, post: bool = False) -> Endpoint:
        """``page`` behind the admin login (and, for a form post, the same-origin check),
        answering with ``SECURITY_HEADERS``."""

        async def wrapper(request: Request) -> Response:
            denied = await self.denied(request)
            if denied is None and post and not self.same_origin(request):
                denied = PlainTextResponse("Forbidden", status_code=403)
            response = denied if denied is not None else await page(request)
            response.headers.update(SECURITY_HEADERS)
            return response

        wrapper.__name__ = page.__name__
        wrapper.__doc__ = page.__doc__
        return wrapper

    # -- checks ------------------------------------------------------------------------

    def _password_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(_digest(candidate), self._password)

    def _client(self, request: Request) -> str:
        return client_key(request, self.settings.trusted_client_ip_header)

    def same_origin(self, request: Request) -> bool:
        """Whether a POST comes from our own pages, when the browser says where from.

        ``Sec-Fetch-Site`` first: with ``Referrer-Policy: no-referrer`` a browser sends
        ``Origin: null`` even from our own form. Browsers send neither header to plain
        HTTP hosts other than localhost; the SameSite=Strict cookie still holds there.
        """
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return True
        public = urlsplit(self.settings.public_url)
        if origin.rstrip("/") == f"{public.scheme}://{public.netloc}":
            return True
        return urlsplit(origin).netloc == request.headers.get("host")

    async def denied(self, request: Request) -> Response | None:
        """``None`` for an authenticated request, else what to answer instead."""
        header = request.headers.get("authorization")
        now = self.cartback.now()
        if header is not None:
            key = self._client(request)
            locked = await run_in_threadpool(self._throttle.locked, key, now)
            if locked is not None:
                return self._too_many(locked)
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and self._password_ok(token.strip()):
                return None
            log.warning("admin request with a wrong Authorization header")
            retry = await run_in_threadpool(self._throttle.failed, key, now)
            if retry is not None:
                return self._too_many(retry)
            return PlainTextResponse(
                "Unauthorized",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="cartback admin"'},
            )
        cookie = request.cookies.get(SESSION_COOKIE, "")
        signed_in = bool(cookie) and await run_in_threadpool(self.sessions.verify, cookie, now)
        if signed_in:
            return None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/admin/login?" + urlencode({"next": target}), status_code=303)

    @staticmethod
    def _too_many(retry: float) -> Response:
        seconds = _seconds(retry)
        return PlainTextResponse(
            f"Too many attempts. Try again in {seconds} seconds.",
            status_code=429,
            headers={"Retry-After": str(seconds)},
        )

    # -- the pages ---------------------------------------------------------------------

    def _login_page(
        self, request: Request, *, next_path: str, error: str | None = None, status: int = 200
    ) -> Response:
        return self.templates.TemplateResponse(
            request,
            "login.html",
            {"next_path": next_path, "error": error},
            status_code=status,
        )

    async def login_form(self, request: Request) -> Response:
        """GET /admin/login: the password form."""
        return self._login_page(request, next_path=safe_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        """POST /admin/login: check the password, set the session cookie, go on."""
        next_path = safe_next(request.query_params.get("next"))
        if not self.same_origin(request):
            return self._login_page(
                request, next_path=next_path, error="Please log in from this page.", status=403
            )
        key = self._client(request)
        locked = await run_in_threadpool(self._throttle.locked, key, self.cartback.now())
        if locked is not None:
            return self._locked_page(request, next_path, locked)
        if media_type(request) != "application/x-www-form-urlencoded":
            return self._login_page(
                request, next_path=next_path, error="Please use the login form.", status=415
            )
        try:
            body = await read_body(request, MAX_LOGIN_BODY)
            form = parse_qs(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=8, strict_parsing=False
            )
        except ApiError as exc:
            return self._login_page(
                request, next_path=next_path, error="Please use the login form.", status=exc.status
            )
        except ValueError:  # not UTF-8, or too many fields
            return self._login_page(
                request, next_path=next_path, error="Please use the login form.", status=400
            )
        next_path = safe_next((form.get("next") or [next_path])[-1])
        password = (form.get("password") or [""])[-1]
        if not password or not self._password_ok(password):
            log.warning("admin login failed")
            retry = await run_in_threadpool(self._throttle.failed, key, self.cartback.now())
            if retry is not None:
                return self._locked_page(request, next_path, retry)
            return self._login_page(
                request, next_path=next_path, error="That password is not right.", status=401
            )
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.issue(self.cartback.now()),
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path="/admin",
            secure=self._secure,
            httponly=True,
            samesite="strict",
        )
        return response

    def _locked_page(self, request: Request, next_path: str, retry: float) -> Response:
        seconds = _seconds(retry)
        response = self._login_page(
            request,
            next_path=next_path,
            error=f"Too many attempts. Try again in {seconds} seconds.",
            status=429,
        )
        response.headers["Retry-After"] = str(seconds)
        return response

    async def logout(self, request: Request) -> Response:
        """POST /admin/logout: revoke the session and clear its cookie."""
        if not self.same_origin(request):
            return PlainTextResponse("Forbidden", status_code=403)
        await run_in_threadpool(
            self.sessions.revoke, request.cookies.get(SESSION_COOKIE, ""), self.cartback.now()
        )
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/admin", secure=self._secure, httponly=True, samesite="strict"
        )
        return response
