"""Helpers for tests that drive a real browser.

- ``PageLog``: what a page did that a test may assert on or must not ignore (console
  errors, uncaught exceptions, requests); the ``page`` fixture fails a test on problems.
- ``FixtureSite``: a real HTTP server on 127.0.0.1 that serves the fixture pages and
  the snippet, and records every POST exactly as it arrived.
- ``wait_until``: poll a condition with a time bound instead of sleeping.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from playwright.sync_api import ConsoleMessage, Error, Page, Request

from tests import waiting
from tests.waiting import DEFAULT_TIMEOUT

__all__ = [
    "FixtureSite",
    "PageLog",
    "Post",
    "SeenRequest",
    "wait_until",
]

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    page: Page | None = None,
) -> T:
    """``tests.waiting.wait_until``; with ``page``, the wait between polls runs
    Playwright's event loop, so page events (requests, console messages) keep arriving
    while the test waits."""

    if page is None:
        return waiting.wait_until(condition, what=what, timeout=timeout)

    def pause(seconds: float) -> None:
        if page.is_closed():
            waiting.pause_between_polls(seconds)  # no page events left to pump
        else:
            page.wait_for_timeout(seconds * 1000)

    return waiting.wait_until(condition, what=what, timeout=timeout, pause=pause)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request the page made, as the browser reported it."""

    url: str
    method: str
    resource_type: str
    post_data: str | None


@dataclass(slots=True)
class PageLog:
    """Console errors, uncaught exceptions and requests of one page.

    A console error matching an allowed pattern (``allow_console_error``) is expected
    by the test, e.g. the browser's own "Failed to load resource" line for a request
    the test makes fail on purpose. Uncaught exceptions can never be allowed.
    """

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[SeenRequest] = field(default_factory=list)
    failed_requests: list[SeenRequest] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        """Start recording ``page``'s events."""
        page.on("console", lambda message: self._on_console(message))
        page.on("pageerror", lambda error: self._on_page_error(error))
        page.on("request", lambda request: self.requests.append(_seen(request)))
        page.on("requestfailed", lambda request: self.failed_requests.append(_seen(request)))

    def allow_console_error(self, pattern: str) -> None:
        """Expect console errors matching the regular expression ``pattern``."""
        self.allowed.append(re.compile(pattern))

    def problems(self) -> list[str]:
        """Uncaught exceptions and unexpected console errors, in a readable form."""
        unexpected = [
            f"console error: {text}"
            for text in self.console_errors
            if not any(pattern.search(text) for pattern in self.allowed)
        ]
        return [f"uncaught exception: {text}" for text in self.page_errors] + unexpected

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}\n{error.stack or ''}".strip())


def _seen(request: Request) -> SeenRequest:
    return SeenRequest(
        url=request.url,
        method=request.method,
        resource_type=request.resource_type,
        post_data=request.post_data,
    )


@dataclass(frozen=True, slots=True)
class Post:
    """One POST the fixture site received, byte for byte."""

    path: str
    content_type: str
    body: bytes
    status: int
    """The status the site answered with."""

    def json(self) -> dict[str, Any]:
        """The body decoded as a JSON object."""
        value = json.loads(self.body.decode("utf-8"))
        assert isinstance(value, dict), f"body is not a JSON object: {self.body!r}"
        return value


# Values a fixture page's {{placeholders}} take when the URL does not set them.
PAGE_DEFAULTS = {
    "snippet": "/cartback.min.js",
    "endpoint": "/api/capture",
    "debounce": "50",
}

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


class FixtureSite:
    """A real HTTP server on 127.0.0.1 (a free port) for browser tests.

    GET ``/pages/NAME`` serves ``pages_dir/NAME``; in HTML, ``{{key}}`` placeholders take
    the value of the query parameter ``key`` (defaults: ``use``, then ``PAGE_DEFAULTS``),
    so a test chooses e.g. which build of the snippet a page loads. GET ``/NAME.js``
    (or ``/DIR/NAME.js``) serves a file of ``scripts_dir``. Every POST, to any path, is
    recorded; a POST to ``/pages/NAME`` (a form posted back, as a checkout's step is)
    is answered with that page, any other with 204, or the status set by ``respond``.
    """

    def __init__(self, pages_dir: Path, scripts_dir: Path) -> None:
        self.pages_dir = pages_dir
        self.scripts_dir = scripts_dir
        self._lock = threading.Lock()
        self._posts: list[Post] = []
        self._statuses: dict[str, int] = {}
        self._defaults: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=DEFAULT_TIMEOUT)

    def url(self, page: str, **params: str) -> str:
        """The URL of fixture page ``page``, with placeholder values ``params``."""
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.origin}/pages/{page}{query}"

    def reset(self) -> None:
        """Forget recorded POSTs, status overrides and placeholder values (between tests)."""
        with self._lock:
            self._posts.clear()
            self._statuses.clear()
            self._defaults.clear()

    def use(self, **values: str) -> None:
        """Fill placeholders with ``values`` on every page from now on, also on pages a
        page opens itself (a form's action, a script's navigation), whose URLs carry no
        query of the test's."""
        with self._lock:
            self._defaults.update(values)

    def respond(self, path: str, status: int) -> None:
        """Answer POSTs to ``path`` with ``status`` from now on."""
        with self._lock:
            self._statuses[path] = status

    def posts(self, path: str | None = None) -> list[Post]:
        """POSTs received so far, oldest first, optionally only those to ``path``."""
        with self._lock:
            return [post for post in self._posts if path is None or post.path == path]

    def wait_for_posts(
        self, path: str, count: int, *, page: Page | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> list[Post]:
        """Wait until at least ``count`` POSTs to ``path`` arrived; return them all."""

        def arrived() -> list[Post] | None:
            posts = self.posts(path)
            return posts if len(posts) >= count else None

        return wait_until(
            arrived,
            what=f"{count} POST(s) to {path}",
            timeout=timeout,
            page=page,
        )

    def _record(self, path: str, content_type: str, body: bytes) -> int:
        with self._lock:
            default = HTTPStatus.OK if path.startswith("/pages/") else HTTPStatus.NO_CONTENT
            status = self._statuses.get(path, default)
            self._posts.append(Post(path, content_type, body, status))
            return status

    def _render(self, raw_path: str) -> tuple[int, str, bytes]:
        split = urlsplit(raw_path)
        path = split.path
        if path.startswith("/pages/"):
            file = _inside(self.pages_dir, path.removeprefix("/pages/"))
        elif path.endswith(".js"):
            file = _inside(self.scripts_dir, path[1:])
        else:
            file = None
        if file is None or not file.is_file():
            return HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found"
        body = file.read_bytes()
        if file.suffix == ".html":
            with self._lock:
                defaults = PAGE_DEFAULTS | self._defaults
            values = defaults | dict(parse_qsl(split.query, keep_blank_values=True))

            def fill(match: re.Match[str]) -> str:
                return html.escape(values.get(match.group(1), match.group(0)))

            body = _PLACEHOLDER.sub(fill, body.decode("utf-8")).encode("utf-8")
        content_type = _CONTENT_TYPES.get(file.suffix, "application/octet-stream")
        return HTTPStatus.OK, content_type, body


def _inside(root: Path, name: str) -> Path | None:
    """``root/name`` if it stays inside ``root``."""
    candidate = (root / name).resolve()
    return candidate if candidate.is_relative_to(root.resolve()) else None


def _handler_for(site: FixtureSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, content_type, body = site._render(self.path)
            self._reply(status, content_type, body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status = site._record(
                urlsplit(self.path).path,
                self.headers.get("Content-Type", ""),
                self.rfile.read(length),
            )
            if status == HTTPStatus.OK:  # a form posted to a page: the page comes back
                status, content_type, body = site._render(self.path)
                self._reply(status, content_type, body)
            else:
                self._reply(status, "text/plain; charset=utf-8", b"")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            if status != HTTPStatus.NO_CONTENT:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != HTTPStatus.NO_CONTENT:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests assert on what arrived, not on an access log."""

    return Handler
