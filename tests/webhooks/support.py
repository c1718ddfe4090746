"""A real HTTP receiver on loopback that records what it gets and answers as told."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import socket
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cartback.webhooks import IPAddress, WebhookEndpoint, parse_endpoint

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
"""The current secret of the test endpoints."""
OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
"""A secret being rotated out."""
BLOCK_LIMIT = 10.0
"""Seconds a blocked answer waits at most, so a failed test never hangs."""


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    hold: threading.Event | None = None
    """Wait for this event before answering (a slow receiver)."""


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 (or ::1) in a background thread."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.answered: list[tuple[Received, int]] = []
        """Each request with the status it was answered (in arrival order)."""
        self._script: dict[str, deque[Reply]] = {}
        self._by_event: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._holds: list[threading.Event] = []
        self._in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        """The most requests to each path that were being answered at once."""
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                reply = recorder._arrive(
                    Received(
                        self.command,
                        self.path,
                        {key.lower(): value for key, value in self.headers.items()},
                        body,
                    )
                )
                if reply.hold is not None:
                    reply.hold.wait(BLOCK_LIMIT)
                recorder._leave(self.path)  # before answering: the next request may follow
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (a timeout test)

            do_POST = _handle
            do_GET = _handle

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self._server = Server((host, 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    @property
    def address(self) -> IPAddress:
        return ipaddress.ip_address(self.host)

    def url(self, path: str = "/hook", *, scheme: str = "http", host: str | None = None) -> str:
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{name}:{self.port}{path}"

    def answer(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, then 204."""
        with self._lock:
            self._script.setdefault(path, deque()).extend(replies)

    def answer_event(self, event_id: str, *replies: Reply) -> None:
        """Answer the next requests whose ``webhook-id`` is ``event_id`` with
        ``replies`` (whatever their order of arrival), then as for their path."""
        with self._lock:
            self._by_event.setdefault(event_id, deque()).extend(replies)

    def clear(self, path: str) -> None:
        """Forget the replies still scripted for ``path``: it answers 204 again."""
        with self._lock:
            self._script.pop(path, None)

    def accepted(self, path: str) -> list[Received]:
        """The requests to ``path`` that were answered 2xx, in arrival order."""
        with self._lock:
            return [
                request
                for request, status in self.answered
                if request.path == path and 200 <= status < 300
            ]

    def hold(self) -> threading.Event:
        """An event that holds answers until set (set by ``release`` at the end)."""
        event = threading.Event()
        self._holds.append(event)
        return event

    def release(self) -> None:
        for event in self._holds:
            event.set()

    def _arrive(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            now = self._in_flight[request.path] = self._in_flight.get(request.path, 0) + 1
            self.max_in_flight[request.path] = max(self.max_in_flight.get(request.path, 0), now)
            reply = Reply()
            for queue in (
                self._by_event.get(request.headers.get("webhook-id", "")),
                self._script.get(request.path),
            ):
                if queue:
                    reply = queue.popleft()
                    break
            self.answered.append((request, reply.status))
            return reply

    def _leave(self, path: str) -> None:
        with self._lock:
            self._in_flight[path] -= 1

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if request.path == path]


def endpoint(url: str, **settings: Any) -> WebhookEndpoint:
    """An endpoint for ``url`` with the test secret; loopback is allow-listed unless
    ``allowed_networks`` says otherwise."""
    base: dict[str, Any] = {
        "id": "crm",
        "url": url,
        "secrets": [SECRET],
        "event_types": ["cart.captured", "cart.updated"],
        "allowed_networks": ["127.0.0.0/8", "::1/128"],
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
    }
    base.update(settings)
    return parse_endpoint(base)


def table_resolver(
    table: Mapping[str, Sequence[str]], calls: list[str] | None = None
) -> Callable[[str, int], list[IPAddress]]:
    """A resolver answering from ``table`` (no real DNS); records the names asked."""
    from cartback.webhooks import TargetUnresolvedError

    def resolve(host: str, port: int) -> list[IPAddress]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise TargetUnresolvedError("not in the test table")
        return [ipaddress.ip_address(address) for address in table[host]]

    return resolve


class Tarpit:
    """A listening socket whose backlog is full: a connection to it never completes,
    so a client's connect timeout fires (a real one, on loopback)."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def close(self) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (openssl CLI), as (cert, key) files."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
