"""Fixtures shared by every test: a fake clock, stores on real SQLite files, and a real
PostgreSQL server (started once per session, when a test first needs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings

from cartback import Cartback, SQLiteStore
from tests.postgres import PostgresServer
from tests.postgres import available as postgres_available

# CI explores the same examples every run so that main stays green; a developer's run
# draws new ones and may find what CI has not.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The receiver's fixtures (receiver_settings, receiver_app, receiver_client,
# live_receiver, ...) serve tests/server and tests/browser alike.
pytest_plugins = ["tests.server.fixtures"]


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cartback.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(db_path) as opened:
        yield opened


@pytest.fixture
def client(store: SQLiteStore, clock: FakeClock) -> Cartback:
    return Cartback(store, clock=clock)


# -- PostgreSQL: one real server for the session, a fresh schema per test ------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server started from Debian's package in a temporary folder."""
    reason = postgres_available()
    if reason is not None:
        pytest.fail(f"PostgreSQL tests need a server: {reason}", pytrace=False)
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A DSN on the session's server whose tables live in a schema of this test's own."""
    with postgres_server.fresh_schema() as schema:
        yield postgres_server.dsn(schema=schema)
