"""The parts of the end-to-end recovery tests: a real SMTP server, the real receiver on
loopback HTTP, the shop's configuration, and the dispatcher processes the test drives.

- ``Mailbox``: an aiosmtpd server on 127.0.0.1 keeping every accepted email.
- ``serve``: the receiver app served by uvicorn in a thread (its own dispatcher off).
- ``Deployment``: writes the ``CARTBACK_CONFIG`` file the receiver and the dispatcher
  processes share (shop, flow, guards, senders with the test's keys) and the receiver's
  ``Settings``.
- ``Dispatchers``: dispatcher OS processes (``tests.e2e._child``, spawn context), told
  to tick at one fake ``now`` per round, concurrently, each round bounded in time.
- ``ProviderCalls``: the JSON lines the children's respx stubs wrote.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from cartback import webhook_headers
from server_example.settings import Settings
from tests.e2e._child import FCM_PROJECT, TWILIO_ACCOUNT, ChildSpec, main
from tests.senders.keys import apns_p8, service_account
from tests.waiting import wait_until

HOST: Final = "127.0.0.1"
ADMIN_PASSWORD: Final = "e2e-admin-password"
SECRET_KEY: Final = b"e2e-secret-key-of-at-least-32-bytes!"
API_SECRET: Final = "whsec_" + base64.b64encode(b"e2e-api-secret-of-at-least-32-b!").decode()
ORIGIN: Final = "https://shop.example"
APP_ID: Final = "com.sourdough.app"
PAGE_ID: Final = "104857600"
ROUND_TIMEOUT: Final = 20.0
"""Seconds one round of ticks may take in every process before the test fails."""
START_TIMEOUT: Final = 30.0
"""Seconds a dispatcher process may take to start (a fresh interpreter importing)."""


def _wait(step_id: str, duration: str, next_: str) -> dict[str, Any]:
    return {"type": "wait", "id": step_id, "duration": duration, "next": next_}


def _send(step_id: str, channel: str, template: str, next_: str) -> dict[str, Any]:
    return {"type": "send", "id": step_id, "channel": channel, "template": template,
            "next": next_}  # fmt: skip


E2E_FLOW: Final[dict[str, Any]] = {
    "id": "e2e",
    "version": 1,
    "name": "Email, SMS, Messenger, push, email",
    "description": "Five steps over four channels in thirty hours.",
    "steps": [
        _wait("wait_1h", "1h", "email_1"),
        _send("email_1", "email", "reminder", "wait_sms"),
        _wait("wait_sms", "3h", "sms"),
        _send("sms", "sms", "sms_reminder", "wait_messenger"),
        _wait("wait_messenger", "3h", "messenger"),
        _send("messenger", "messenger", "messenger_reminder", "wait_push"),
        _wait("wait_push", "19h", "push"),
        _send("push", "push", "push_reminder", "wait_email_2"),
        _wait("wait_email_2", "4h", "email_2"),
        _send("email_2", "email", "social_proof", "end"),
        {"type": "exit", "id": "end"},
    ],
}
"""The flow every cart enters. The waits keep the default guards satisfied (at most three
messages a day, an hour around a push, daytime in New York), so every step an eligible
cart reaches is sent, on time."""
STEPS: Final = ("email_1", "sms", "messenger", "push", "email_2")
"""The flow's send steps, in order."""
CHANNELS: Final = {"email_1": "email", "sms": "sms", "messenger": "messenger",
                   "push": "push", "email_2": "email"}  # fmt: skip


# -- the SMTP server ---------------------------------------------------------------


@dataclass
class Received:
    """One email the SMTP server accepted."""

    to: list[str]
    """The envelope recipients."""
    message: EmailMessage
    """The parsed message."""

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts (250 to everything)."""

    def __init__(self) -> None:
        self._received: list[Received] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self._received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 Ok: queued"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.to]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 (a free port); yields its mailbox and port."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname=HOST, port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


# -- the shop's configuration ------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """One shop: its database, its public URL and its ``CARTBACK_CONFIG`` file."""

    database: str
    """A SQLite file path or a PostgreSQL DSN."""
    public_url: str
    """Where the receiver serves (``http://127.0.0.1:PORT``)."""
    config_path: Path
    """The ``CARTBACK_CONFIG`` file, shared by the receiver and the dispatchers."""
    config: dict[str, Any] = field(hash=False)
    """Its content."""

    @classmethod
    def write(
        cls, folder: Path, database: str, public_url: str, smtp_port: int, *, send_batch: int = 10
    ) -> Deployment:
        key_file = folder / "apns-key.p8"
        key_file.write_text(apns_p8(), encoding="utf-8")
        account_file = folder / "service-account.json"
        account_file.write_text(json.dumps(service_account()), encoding="utf-8")
        config: dict[str, Any] = {
            "shop": {
                "shop_name": "Sourdough School",
                "sender_name": "Claire",
                "sender_email": "claire@sourdough.example",
                "reply_to": "claire@sourdough.example",
                "timezone": "America/New_York",
                "social_proof": "Over two thousand home bakers took this course this year.",
            },
            "form_urls": {"checkout": f"{ORIGIN}/checkout"},
            "flows": {"definitions": [E2E_FLOW], "default": "e2e"},
            "guards": {},
            "dispatcher": {"send_batch": send_batch},
            "senders": {
                "email": {"smtp": {"host": HOST, "port": smtp_port, "security": "none"}},
                "sms": {
                    "twilio": {
                        "account_sid": TWILIO_ACCOUNT,
                        "auth_token": "e2e-token",
                        "from": "+15005550006",
                    }
                },
                "push": {
                    "apns": {
                        "key_file": str(key_file),
                        "key_id": "E2EKEY1234",
                        "team_id": "E2ETEAM123",
                        "environment": "production",
                    },
                    "fcm": {"project_id": FCM_PROJECT, "service_account_file": str(account_file)},
                },
                "messenger": {"meta": {"page_access_token": "EAAe2e-page-token"}},
            },
        }
        path = folder / "cartback.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        return cls(database, public_url, path, config)

    def settings(self) -> Settings:
        """The receiver's settings: the same shop and flows, its own dispatcher off."""
        return Settings(
            database=self.database,
            admin_password=ADMIN_PASSWORD,
            secret_key=SECRET_KEY,
            public_url=self.public_url,
            allowed_origins=(ORIGIN,),
            api_secret=API_SECRET,
            rate_per_minute=10**6,
            rate_burst=10**6,
            form_urls=self.config["form_urls"],
            shop=self.config["shop"],
            flows=self.config["flows"],
            guards=self.config["guards"],
            synchronous="NORMAL",
            dispatcher=False,
            run_workers=False,
            capture_worker="thread",  # the tests' clock
        )

    def child(self, name: str, calls: Path, **options: Any) -> ChildSpec:
        return ChildSpec(name=name, database=self.database, config=str(self.config_path),
                         public_url=self.public_url, secret_key=SECRET_KEY, calls=str(calls),
                         **options)  # fmt: skip


# -- the receiver ------------------------------------------------------------------


@contextmanager
def serve(app: Starlette, sock: socket.socket) -> Iterator[str]:
    """``app`` served by uvicorn on ``sock`` in a thread; yields the base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, lifespan="on", log_config=None, log_level="warning", access_log=False, ws="none"
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-receiver")
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise AssertionError("the receiver's thread ended before it started")
        return server.started

    try:
        wait_until(started, what="the receiver to start", timeout=START_TIMEOUT)
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        assert not thread.is_alive(), "the receiver did not stop"


class Shop:
    """What the shop's pages, backend and prospects send the receiver over HTTP."""

    def __init__(self, client: httpx.Client, clock: Any) -> None:
        self.client = client
        self.clock = clock
        self._ids = iter(range(1, 10**6))

    def capture(self, email: str, session: str, *, phone: str, consent: dict[str, bool],
                value: str = "89.00") -> None:  # fmt: skip
        """The snippet's beacon from the order form."""
        body = {"v": 1, "form_id": "checkout", "seller": "us", "session_id": session,
                "event_id": f"evt-{next(self._ids)}", "product_id": "course-1",
                "product_name": "Sourdough course", "cart_value": value, "currency": "USD",
                "consent": consent,
                "fields": {"email": email, "first_name": "Sam", "phone": phone,
                           "country": "US", "city": "New York"}}  # fmt: skip
        answer = self.client.post(
            "/api/capture",
            content=json.dumps(body),
            headers={"content-type": "text/plain;charset=UTF-8", "origin": ORIGIN},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] in ("stored", "updated", "unchanged"), answer.text

    def signed(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A call of the signed server-to-server API (Standard Webhooks)."""
        raw = json.dumps(body).encode()
        stamp = int(self.clock.now.timestamp())
        headers = webhook_headers(API_SECRET, f"msg_e2e_{next(self._ids)}", stamp, raw)
        answer = self.client.post(
            path, content=raw, headers={"content-type": "application/json", **headers}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def unsubscribe(self, email: Received) -> None:
        """The one-click unsubscribe (RFC 8058) of a received email."""
        link = str(email.message["List-Unsubscribe"]).strip("<>")
        form = {"content-type": "application/x-www-form-urlencoded"}
        answer = self.client.post(link, content=b"List-Unsubscribe=One-Click", headers=form)
        assert answer.status_code == 200, answer.text

    def admin_cart_page(self, cart_id: str) -> str:
        answer = self.client.get(
            f"/admin/carts/{cart_id}", headers={"authorization": f"Bearer {ADMIN_PASSWORD}"}
        )
        assert answer.status_code == 200, answer.text
        return answer.text


# -- the dispatcher processes ------------------------------------------------------


class Dispatchers:
    """Dispatcher processes on one database, ticking together at the parent's ``now``."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self.processes: dict[str, tuple[BaseProcess, Connection]] = {}
        self.owners: dict[str, str] = {}
        self.holding: dict[str, str] = {}
        """Processes waiting to be killed, with the key of the email they just sent."""

    def start(self, specs: list[ChildSpec]) -> None:
        for spec in specs:
            parent, child = self._context.Pipe()
            process = self._context.Process(target=main, args=(spec, child), name=spec.name)
            process.start()
            child.close()
            self.processes[spec.name] = (process, parent)
        for name, (_, conn) in self.processes.items():
            kind, owner = self._answer(name, conn, START_TIMEOUT)
            assert kind == "ready", (name, kind)
            self.owners[name] = owner

    def _answer(self, name: str, conn: Connection, timeout: float) -> tuple[str, Any]:
        process = self.processes[name][0]

        def answered() -> bool:
            if conn.poll():
                return True
            if not process.is_alive():
                raise AssertionError(f"dispatcher {name} died (exit code {process.exitcode})")
            return False

        wait_until(answered, what=f"dispatcher {name} to answer", timeout=timeout)
        kind, value = conn.recv()
        return str(kind), value

    def round(self, now: datetime) -> dict[str, Any]:
        """Every running process ticks until idle at ``now``, at the same time; their
        answers (a process that starts holding answers ``holding``)."""
        running = {n: p for n, p in self.processes.items() if n not in self.holding}
        for _, conn in running.values():
            conn.send(("tick", now.isoformat()))
        answers = {}
        for name, (_, conn) in running.items():
            kind, value = self._answer(name, conn, ROUND_TIMEOUT)
            if kind == "holding":
                self.holding[name] = value
            answers[name] = (kind, value)
        return answers

    def kill(self, name: str) -> None:
        """SIGKILL, then wait (bounded) for the process to be gone."""
        process, conn = self.processes.pop(name)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(START_TIMEOUT)
        assert process.exitcode == -signal.SIGKILL
        conn.close()
        self.holding.pop(name, None)

    def stop(self) -> None:
        for name in list(self.processes):
            process, conn = self.processes.pop(name)
            if name not in self.holding and process.is_alive():
                conn.send(("stop",))
                process.join(START_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join(START_TIMEOUT)
            conn.close()


@contextmanager
def dispatchers(specs: list[ChildSpec]) -> Iterator[Dispatchers]:
    running = Dispatchers()
    try:
        running.start(specs)
        yield running
    finally:
        running.stop()


def provider_calls(paths: list[Path]) -> list[dict[str, Any]]:
    """Every request the children's respx stubs answered (token requests aside)."""
    calls = []
    for path in paths:
        if path.exists():
            calls += [json.loads(line) for line in path.read_text().splitlines() if line]
    return calls
