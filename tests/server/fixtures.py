"""Fixtures for tests of the reference receiver (``server_example``).

Every fixture is function-scoped: each test gets a fresh SQLite file and app.

- ``receiver_settings``: ``Settings`` on a temporary SQLite file, with the admin
  password ``RECEIVER_PASSWORD`` and the 32-byte key ``RECEIVER_SECRET_KEY``. Its
  ``public_url`` is the address ``live_receiver`` will serve on (a port reserved up
  front), so the receiver's own origin is allowed. Derive variants with
  ``dataclasses.replace(receiver_settings, ...)`` and ``create_app``. SQLite runs with
  ``synchronous="NORMAL"`` to keep the suite fast (durability is the SDK's to test).
- ``receiver_monotonic``: the ``FakeMonotonic`` passed as ``create_app(monotonic=...)``
  (rate limits and login throttling); it only moves when a test advances it.
- ``receiver_app``: ``create_app(receiver_settings, clock=clock, monotonic=...)`` with
  the ``clock`` ``FakeClock`` of ``tests/conftest.py``. Seed carts through the SDK
  facade ``receiver_app.state.cartback`` (e.g. ``.capture({...})``); the lifespan (the
  capture writer thread) runs only inside ``receiver_client`` or ``live_receiver``.
- ``cartback``: ``receiver_app.state.cartback``, the SDK facade the app runs on.
- ``receiver_client``: a Starlette ``TestClient`` on ``receiver_app``, entered as a
  context manager so the lifespan runs; requests go to ``http://testserver``.
- ``admin``: ``receiver_client`` logged in to the dashboard through the form.
- ``live_receiver``: the same app served by a real uvicorn on 127.0.0.1 in a thread;
  the value is the base URL (``http://127.0.0.1:PORT``, no trailing slash). Use
  either ``receiver_client`` or ``live_receiver`` in a test, not both (each runs the
  app's lifespan).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cartback import Cartback
from server_example.app import create_app
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.support import log_in
from tests.waiting import wait_until

RECEIVER_PASSWORD: Final = "correct horse battery staple"
"""The admin password of ``receiver_settings``."""
RECEIVER_SECRET_KEY: Final = bytes(range(32))
"""The secret key of ``receiver_settings`` (32 bytes)."""
STARTUP_TIMEOUT: Final = 10.0
"""Seconds ``live_receiver`` waits for uvicorn to start or stop."""


class FakeMonotonic:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def receiver_socket() -> Iterator[socket.socket]:
    """A TCP socket bound to a free port on 127.0.0.1, for ``live_receiver``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def receiver_settings(tmp_path: Path, receiver_socket: socket.socket) -> Settings:
    """Settings on a temporary SQLite file with a known password and key."""
    host, port = receiver_socket.getsockname()[:2]
    return Settings(
        database=tmp_path / "receiver.sqlite3",
        admin_password=RECEIVER_PASSWORD,
        secret_key=RECEIVER_SECRET_KEY,
        public_url=f"http://{host}:{port}",
        synchronous="NORMAL",
        capture_worker="thread",  # the fake clock: captures are stored in this process
    )


@pytest.fixture
def receiver_monotonic() -> FakeMonotonic:
    """The receiver's monotonic clock."""
    return FakeMonotonic()


@pytest.fixture
def receiver_app(
    receiver_settings: Settings, clock: FakeClock, receiver_monotonic: FakeMonotonic
) -> Starlette:
    """The receiver app on ``receiver_settings``, with fake wall and monotonic clocks."""
    return create_app(receiver_settings, clock=clock, monotonic=receiver_monotonic)


@pytest.fixture
def cartback(receiver_app: Starlette) -> Cartback:
    """The SDK facade of ``receiver_app``: seed carts and read what the receiver stored."""
    facade = receiver_app.state.cartback
    assert isinstance(facade, Cartback)
    return facade


@pytest.fixture
def receiver_client(receiver_app: Starlette) -> Iterator[TestClient]:
    """An in-process client of ``receiver_app`` with its lifespan running."""
    with TestClient(receiver_app) as client:
        yield client


@pytest.fixture
def admin(receiver_client: TestClient) -> TestClient:
    """``receiver_client``, logged in to the dashboard through the form."""
    log_in(receiver_client, RECEIVER_PASSWORD)
    return receiver_client


@pytest.fixture
def live_receiver(receiver_app: Starlette, receiver_socket: socket.socket) -> Iterator[str]:
    """``receiver_app`` served by uvicorn on 127.0.0.1; yields the base URL."""
    config = uvicorn.Config(
        receiver_app,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        ws="none",
    )
    server = uvicorn.Server(config)
    # Signal handlers are only installed from the main thread; this one has its own loop.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [receiver_socket]}, name="live-receiver"
    )
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise AssertionError("the live receiver's thread ended before it started")
        return server.started

    try:
        wait_until(started, what="the live receiver to start", timeout=STARTUP_TIMEOUT)
    except AssertionError as exc:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        pytest.fail(str(exc), pytrace=False)
    host, port = receiver_socket.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        assert not thread.is_alive(), "the live receiver did not stop"
