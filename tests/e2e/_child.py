"""One dispatcher OS process of the end-to-end tests (started with multiprocessing's
``spawn`` context: a fresh interpreter, nothing shared with the test but the database,
the SMTP server's port and the files named in its ``ChildSpec``).

It is configured as a deployment is: the ``CARTBACK_CONFIG`` JSON file (shop, flows,
guards, senders) read by ``cartback._recovery_config``, the store opened from the
database setting, the dispatcher built by ``build_dispatcher`` (its owner names this
host and process). Email goes to the real SMTP server; the third-party HTTP APIs (Twilio,
APNs, Google's token endpoint and FCM, Meta's Graph API) are stubbed with respx *in this
process* (respx patches only its own process), and every request respx answers is
written as one JSON line to ``spec.calls`` for the parent to read.

The parent drives it over a pipe: ``("tick", iso_now)`` ticks until idle at that fake
``now`` and answers ``("done", counts)``; ``("stop",)`` ends it. With
``hold_after_email=n``, right after the SMTP server accepted this process's n-th email
(before the dispatcher records it as sent) it answers ``("holding", key)`` and waits to
be killed: the crash test's SIGKILL between send and record.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import IO, Any, Final
from urllib.parse import parse_qs

import httpx
import respx

from cartback import Cartback, LinkSigner, open_store
from cartback._dispatcher import dispatch_all
from cartback._recovery_config import (
    build_dispatcher,
    config_section,
    dispatcher_settings,
    make_senders,
    read_config,
)
from cartback._types import MessageChannel
from cartback.senders import OutgoingMessage, Sender, Senders, SendResult

__all__ = ["FCM_PROJECT", "HOLD_TIMEOUT", "TWILIO_ACCOUNT", "ChildSpec", "main"]

TWILIO_ACCOUNT: Final = "AC" + "e2e0" * 8
"""The Twilio account SID the children's config names."""
FCM_PROJECT: Final = "acme-bakery"
"""The Firebase project of the children's service account."""
HOLD_TIMEOUT: Final = 60.0
"""Seconds a holding child waits to be killed before it exits by itself."""

_HANDED_OVER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "handed_over", default=None
)
"""The idempotency key of the message being handed to a sender right now."""


@dataclass(frozen=True)
class ChildSpec:
    """What one dispatcher process runs with (picklable: spawn sends it over)."""

    name: str
    """A label for its log file and answers."""
    database: str
    """The database setting (a SQLite file path or a PostgreSQL DSN)."""
    config: str
    """The ``CARTBACK_CONFIG`` file."""
    public_url: str
    """The receiver's public URL (recovery and unsubscribe links point there)."""
    secret_key: bytes
    """The receiver's key: links are signed with it."""
    calls: str
    """The JSON-lines file every request respx answered is appended to."""
    batch: int = 4
    """Enrolments leased per tick (small, so the two processes interleave)."""
    hold_after_email: int | None = None
    """Wait to be killed right after this many emails were accepted."""


class _CallLog:
    """Appends one JSON object per line, flushed at once (a SIGKILL loses nothing
    written before it)."""

    def __init__(self, path: str, process: str) -> None:
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the process
        self._process = process
        self._lock = threading.Lock()

    def write(self, **entry: Any) -> None:
        line = json.dumps({"process": self._process, "key": _HANDED_OVER.get(), **entry})
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


class _Tagged:
    """A configured sender, unchanged, that makes the idempotency key it is handed
    visible to the respx log, and can stop the process after a hand-over."""

    def __init__(self, sender: Sender, after_accepted: Any) -> None:
        self._sender = sender
        self._after_accepted = after_accepted

    @property
    def channel(self) -> MessageChannel:
        return self._sender.channel

    def send(self, message: OutgoingMessage, *, idempotency_key: str) -> SendResult:
        token = _HANDED_OVER.set(idempotency_key)
        try:
            result = self._sender.send(message, idempotency_key=idempotency_key)
        finally:
            _HANDED_OVER.reset(token)
        if result.outcome == "accepted":
            self._after_accepted(self.channel, idempotency_key)
        return result


def _stub_providers(router: respx.MockRouter, calls: _CallLog) -> None:
    """Twilio, APNs, Google OAuth + FCM and the Graph API, each accepting."""
    sids = iter(range(1, 10**6))

    def twilio(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        calls.write(channel="sms", provider="twilio", to=form["To"][0], body=form["Body"][0])
        return httpx.Response(201, json={"sid": f"SM{os.getpid()}x{next(sids)}"})

    def apns(request: httpx.Request) -> httpx.Response:
        apns_id = request.headers["apns-id"]
        token = request.url.path.rsplit("/", 1)[-1]
        calls.write(channel="push", provider="apns", apns_id=apns_id, device=token)
        return httpx.Response(200, headers={"apns-id": apns_id})

    def fcm(request: httpx.Request) -> httpx.Response:
        message = json.loads(request.content)["message"]
        calls.write(channel="push", provider="fcm", device=message["token"],
                    message_id=message.get("data", {}).get("message_id"))  # fmt: skip
        return httpx.Response(200, json={"name": f"projects/{FCM_PROJECT}/messages/{next(sids)}"})

    def graph(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        recipient = body["recipient"]
        calls.write(channel="messenger", provider="graph", recipient=recipient.get("id"))
        return httpx.Response(200, json={"recipient_id": recipient.get("id"),
                                         "message_id": f"m_{next(sids)}"})  # fmt: skip

    twilio_path = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
    router.post(host="api.twilio.com", path=twilio_path).mock(side_effect=twilio)
    router.post(host="api.push.apple.com", path__startswith="/3/device/").mock(side_effect=apns)
    router.post(host="oauth2.googleapis.com", path="/token").respond(
        200, json={"access_token": "ya29.e2e", "expires_in": 3599, "token_type": "Bearer"}
    )
    fcm_path = f"/v1/projects/{FCM_PROJECT}/messages:send"
    router.post(host="fcm.googleapis.com", path=fcm_path).mock(side_effect=fcm)
    router.post(host="graph.facebook.com", path__regex=r"^/v[0-9.]+/[0-9]+/messages$").mock(
        side_effect=graph
    )


class _RoundClock:
    """The fake clock of this process: the ``now`` the parent sent with the round."""

    def __init__(self) -> None:
        self.now = datetime(2000, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def main(spec: ChildSpec, conn: Connection) -> None:
    """The process's entry: set up, then tick at the parent's ``now`` until told to stop."""
    clock = _RoundClock()
    signer = LinkSigner(spec.secret_key)
    config = read_config(spec.config)
    settings = replace(dispatcher_settings(config, public_url=spec.public_url), batch=spec.batch)
    calls = _CallLog(spec.calls, spec.name)
    emails = 0

    def after_accepted(channel: MessageChannel, key: str) -> None:
        nonlocal emails
        if channel != "email" or spec.hold_after_email is None:
            return
        emails += 1
        if emails == spec.hold_after_email:
            conn.send(("holding", key))
            threading.Event().wait(HOLD_TIMEOUT)  # killed long before this
            os._exit(70)

    store = open_store(spec.database, synchronous="NORMAL")
    try:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
            _stub_providers(router, calls)
            configured = make_senders(config_section(config, "senders"))
            senders = Senders(*(_Tagged(s, after_accepted) for s in configured.values()))
            cartback = Cartback(store, clock=clock, links=signer)
            dispatcher = build_dispatcher(cartback, settings, senders, signer=signer)
            conn.send(("ready", dispatcher.owner))
            while True:
                command = conn.recv()
                if command[0] == "stop":
                    break
                clock.now = datetime.fromisoformat(command[1])
                reports = dispatch_all(dispatcher, rounds=200)
                conn.send(("done", {
                    "ticks": len(reports),
                    "planned": sum(r.planned for r in reports),
                    "sent": sum(r.sent for r in reports),
                    "enrolled": sum(r.enrolled for r in reports),
                }))  # fmt: skip
    finally:
        store.close()
