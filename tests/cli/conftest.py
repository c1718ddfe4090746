"""The command on every backend: ``database`` is a SQLite file (created) or a DSN on
the session's PostgreSQL server (a schema of this test's own); ``store`` and ``client``
(with the ``FakeClock``) seed it, and are closed before the command reads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cartback import Cartback, Store, open_store
from tests.conftest import FakeClock


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return str(tmp_path / "cartback.sqlite3")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    opened = open_store(database, synchronous="NORMAL")
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store, clock: FakeClock) -> Cartback:
    return Cartback(store, clock=clock)
