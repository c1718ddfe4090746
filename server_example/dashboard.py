"""The staff dashboard: abandoned carts behind the admin password, and their CSV export.

Routes, all under ``/admin``:

- ``GET /admin``: the carts table, newest first, 50 a page, filtered by start date, end
  date (whole UTC days, inclusive), part of an email address and status; with the
  abandonment counts per product and per order form for the same filter.
- ``GET /admin/export.csv``: every cart matching the filter, streamed as CSV
  (``format=rfc4180`` or ``format=excel``).
- ``GET /admin/login``, ``POST /admin/login``, ``POST /admin/logout``.

Authentication: the login form sets an HttpOnly, SameSite=Strict session cookie
(``Path=/admin``) holding a token signed with a key derived from ``secret_key`` and the
admin password (changing the password ends every session); it expires after 12 hours,
and logging out revokes it (a flag in the store until then, so every receiver on the
database honours it).
Scripts send ``Authorization: Bearer <admin password>`` instead. Failed attempts, by
form or by header, are throttled per client IP; while a client is throttled no password
is checked at all; the failures are counted in the store, shared by every receiver.
Nothing personal is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from cartback import (
    Cart,
    Cartback,
    CartQuery,
    CartStatus,
    CsvFormat,
    iter_csv,
)
from server_example.admin_sessions import SessionSigner
from server_example.login_throttle import FailureThrottle
from server_example.plumbing import ApiError, client_key, media_type, read_body
from server_example.settings import Settings

__all__ = ["Dashboard", "DashboardFilters", "parse_filters", "safe_next"]

log = logging.getLogger("cartback.receiver.dashboard")

SESSION_COOKIE: Final = "cartback_admin"
"""The name of the admin session cookie."""
SESSION_LIFETIME: Final = timedelta(hours=12)
"""How long a login lasts."""
PAGE_SIZE: Final = 50
"""Carts per dashboard page."""
EXPORT_PAGE_SIZE: Final = 500
"""Carts read from the store per query while streaming an export."""
LOGIN_FAILURES_PER_MINUTE: Final = 5
"""Failed logins a client IP may make at once, and per minute after that."""
MAX_LOGIN_BODY: Final = 4096
"""Largest accepted login form body, in bytes."""
MAX_EMAIL_FILTER: Final = 254
"""Longest accepted email filter (the longest possible email address)."""
MAX_PAGE: Final = 100_000
"""Highest page number accepted."""
EARLIEST_DAY: Final = date(2000, 1, 1)
LATEST_DAY: Final = date(2999, 12, 31)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Sent with every dashboard response (the pages hold personal data: never cached)."""

ICON: Final = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<path d="M1 2h2l2 8h8l2-6H4" fill="none" stroke="#2563eb" stroke-width="1.5"/>'
    '<circle cx="6" cy="13" r="1.5" fill="#2563eb"/>'
    '<circle cx="12" cy="13" r="1.5" fill="#2563eb"/>'
    "</svg>"
)
"""The dashboard's tab icon (so browsers do not ask for a missing ``/favicon.ico``)."""

StatusFilter = Literal["all", "open", "ordered"]
"""The status choice of the filter form."""

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN: Final = re.compile(r"v1\.(\d{1,12})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")
_FORMATS: Final[tuple[CsvFormat, ...]] = ("rfc4180", "excel")
_STATUSES: Final[tuple[StatusFilter, ...]] = ("all", "open", "ordered")


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


# -- filters ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DashboardFilters:
    """The filter form's values, checked."""

    start: date | None = None
    """First day (UTC), inclusive."""
    end: date | None = None
    """Last day (UTC), inclusive."""
    email: str = ""
    """Part of an email address, case-insensitive."""
    status: StatusFilter = "all"
    """``open``, ``ordered`` or ``all``."""
    page: int = 1
    """1-based page number."""

    def query(self) -> CartQuery:
        """The store query these filters stand for."""
        status: CartStatus | None = None if self.status == "all" else self.status
        return CartQuery(
            start=self.start, end=self.end, email_contains=self.email or None, status=status
        )

    def params(self, **changes: str | int) -> dict[str, str]:
        """The filters as query parameters (empty ones left out), with ``changes``."""
        values: dict[str, str | int] = {
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
            "email": self.email,
            "status": "" if self.status == "all" else self.status,
            "page": "" if self.page == 1 else self.page,
        }
        values.update(changes)
        return {name: str(value) for name, value in values.items() if value not in ("", 1)}


def _parse_day(text: str, label: str, errors: list[str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label} is not a date: use the form YYYY-MM-DD.")
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        errors.append(f"{label} must be between {EARLIEST_DAY} and {LATEST_DAY}.")
        return None
    return day


def parse_filters(params: Mapping[str, str]) -> tuple[DashboardFilters, list[str]]:
    """The filters in ``params`` and the problems found (readable sentences).

    When there are problems, the returned filters hold only the values that were valid.
    """
    errors: list[str] = []
    start = _parse_day(params.get("start", ""), "The start date", errors)
    end = _parse_day(params.get("end", ""), "The end date", errors)
    if start and end and start > end:
        errors.append("The start date is after the end date.")
    email = params.get("email", "").strip()
    if len(email) > MAX_EMAIL_FILTER or _CONTROL.search(email):
        errors.append(f"The email filter must be at most {MAX_EMAIL_FILTER} printable characters.")
        email = ""
    status_text = params.get("status", "") or "all"
    status: StatusFilter = "all"
    for known in _STATUSES:
        if status_text == known:
            status = known
            break
    else:
        errors.append("The status must be open, ordered or all.")
    page_text = params.get("page", "").strip() or "1"
    page = 1
    if page_text.isascii() and page_text.isdigit() and 1 <= int(page_text) <= MAX_PAGE:
        page = int(page_text)
    else:
        errors.append(f"The page must be a whole number from 1 to {MAX_PAGE}.")
    return DashboardFilters(start=start, end=end, email=email, status=status, page=page), errors


# -- view data -------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


@dataclass(frozen=True, slots=True)
class _Row:
    cart: Cart
    created: str
    updated: str
    ordered: str
    consent: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Listing:
    rows: tuple[_Row, ...]
    total: int
    by_product: list[tuple[str | None, int]]
    by_form: list[tuple[str | None, int]]


# -- the dashboard ---------------------------------------------------------------------


Endpoint = Callable[[Request], Awaitable[Response]]


def _secured(endpoint: Endpoint) -> Endpoint:
    async def wrapper(request: Request) -> Response:
        response = await endpoint(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    wrapper.__name__ = endpoint.__name__
    wrapper.__doc__ = endpoint.__doc__
    return wrapper


class Dashboard:
    """The staff pages. Construct once per app; ``routes()`` gives its routes."""

    def __init__(
        self,
        cartback: Cartback,
        settings: Settings,
        templates: Jinja2Templates,
    ) -> None:
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
        """The dashboard's routes."""
        return [
            Route("/admin", _secured(self.index), methods=["GET"]),
            Route("/admin/export.csv", _secured(self.export), methods=["GET"]),
            Route("/admin/login", _secured(self.login_form), methods=["GET"]),
            Route("/admin/login", _secured(self.login), methods=["POST"]),
            Route("/admin/logout", _secured(self.logout), methods=["POST"]),
            Route("/admin/icon.svg", self.icon, methods=["GET"]),
        ]

    async def icon(self, request: Request) -> Response:
        """GET /admin/icon.svg: the tab icon (public, cacheable)."""
        return Response(
            ICON,
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    # -- authentication ----------------------------------------------------------------

    def _password_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(_digest(candidate), self._password)

    def _client(self, request: Request) -> str:
        return client_key(request, self.settings.trusted_client_ip_header)

    def _same_origin(self, request: Request) -> bool:
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

    async def _denied(self, request: Request) -> Response | None:
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
        if not self._same_origin(request):
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
        if not self._same_origin(request):
            return PlainTextResponse("Forbidden", status_code=403)
        await run_in_threadpool(
            self.sessions.revoke, request.cookies.get(SESSION_COOKIE, ""), self.cartback.now()
        )
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/admin", secure=self._secure, httponly=True, samesite="strict"
        )
        return response

    # -- the table ---------------------------------------------------------------------

    def _listing(self, filters: DashboardFilters) -> _Listing:
        """The page's carts, the counts and each prospect's consent (blocking I/O)."""
        query = filters.query()
        page = self.cartback.list_carts(
            query, limit=PAGE_SIZE, offset=(filters.page - 1) * PAGE_SIZE
        )
        now = self.cartback.now()
        consent: dict[str, tuple[tuple[str, str], ...]] = {}
        for cart in page.items:
            prospect = cart.contact.prospect_key
            if prospect is None or prospect in consent:
                continue
            decisions = []
            for channel, decision in self.cartback.consents(prospect, at=now).items():
                answer = "yes" if decision.allowed else "no"
                if decision.basis == "default":
                    answer += " (default)"
                elif decision.basis == "withdrawn":
                    answer = "withdrawn"
                decisions.append((channel, answer))
            consent[prospect] = tuple(decisions)
        rows = tuple(
            _Row(
                cart=cart,
                created=_when(cart.created_at),
                updated=_when(cart.updated_at),
                ordered=_when(cart.ordered_at),
                consent=consent.get(cart.contact.prospect_key or "", ()),
            )
            for cart in page.items
        )
        return _Listing(
            rows=rows,
            total=page.total,
            by_product=self.cartback.count_carts_by("product_id", query),
            by_form=self.cartback.count_carts_by("form_id", query),
        )

    def _page(
        self,
        request: Request,
        filters: DashboardFilters,
        *,
        errors: list[str],
        listing: _Listing | None = None,
        fmt: str = "rfc4180",
    ) -> Response:
        context: dict[str, Any] = {
            "filters": filters,
            "errors": errors,
            "listing": listing,
            "format": fmt,
            "formats": _FORMATS,
            "statuses": _STATUSES,
            "page_size": PAGE_SIZE,
            "export_params": {k: v for k, v in filters.params().items() if k != "page"},
        }
        if listing is not None:
            pages = max(1, -(-listing.total // PAGE_SIZE))
            context.update(
                pages=pages,
                first_index=(filters.page - 1) * PAGE_SIZE + 1,
                prev_query=urlencode(filters.params(page=filters.page - 1))
                if filters.page > 1
                else None,
                next_query=urlencode(filters.params(page=filters.page + 1))
                if filters.page < pages
                else None,
                last_query=urlencode(filters.params(page=pages)),
            )
        return self.templates.TemplateResponse(
            request, "dashboard.html", context, status_code=400 if errors else 200
        )

    async def index(self, request: Request) -> Response:
        """GET /admin: the filtered, paged table of abandoned carts."""
        denied = await self._denied(request)
        if denied is not None:
            return denied
        filters, errors = parse_filters(request.query_params)
        if errors:
            return self._page(request, filters, errors=errors)
        listing = await run_in_threadpool(self._listing, filters)
        return self._page(request, filters, errors=[], listing=listing)

    # -- the export --------------------------------------------------------------------

    def _snapshot(self, filters: DashboardFilters) -> CartQuery:
        """The filter's query, ending now: carts captured while the export streams
        would otherwise shift the pages (newest first) and repeat a row."""
        now = self.cartback.now()
        query = filters.query()
        end = now
        if filters.end is not None:
            end = min(now, datetime.combine(filters.end, time.max, tzinfo=UTC))
        return CartQuery(
            start=query.start, end=end, email_contains=query.email_contains, status=query.status
        )

    def _carts(self, query: CartQuery) -> Iterator[Cart]:
        offset = 0
        while True:
            page = self.cartback.list_carts(query, limit=EXPORT_PAGE_SIZE, offset=offset)
            yield from page.items
            if not page.items or not page.has_more:
                return
            offset += len(page.items)

    async def export(self, request: Request) -> Response:
        """GET /admin/export.csv: every cart matching the filters, as streamed CSV."""
        denied = await self._denied(request)
        if denied is not None:
            return denied
        params = {k: v for k, v in request.query_params.items() if k != "page"}
        filters, errors = parse_filters(params)
        fmt_text = request.query_params.get("format", "") or "rfc4180"
        fmt: CsvFormat = "rfc4180"
        if fmt_text == "excel":
            fmt = "excel"
        elif fmt_text != "rfc4180":
            errors.append("The export format must be rfc4180 or excel.")
        if errors:
            return self._page(request, filters, errors=errors, fmt=fmt_text)
        day = self.cartback.now().date().isoformat()
        headers = {
            "Content-Disposition": f'attachment; filename="abandoned-carts-{day}.csv"',
        }
        if request.method == "HEAD":
            return Response(media_type="text/csv", headers=headers)
        query = self._snapshot(filters)

        def chunks() -> Iterator[bytes]:
            for text in iter_csv(self._carts(query), fmt):
                yield text.encode("utf-8")

        return StreamingResponse(
            iterate_in_threadpool(chunks()), media_type="text/csv", headers=headers
        )
