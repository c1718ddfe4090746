"""The store contract runs unchanged against every backend: each test here runs once on
a SQLite file and once on the session's PostgreSQL server (a schema of its own).

- ``backend``: ``"sqlite"`` or ``"postgres"``.
- ``store``: a fresh store on that backend; ``client``: ``Cartback`` on it with the
  ``FakeClock``.
- ``cells``: every non-NULL value of every table of the store, as ``(table, column,
  text)``; erasure tests read it to prove a prospect is gone everywhere.
- ``open_again``: a second store on the same database (another process would see it so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cartback import Cartback, PostgresStore, SQLiteStore, Store
from cartback._dispatcher import Dispatcher
from tests.conftest import FakeClock
from tests.postgres import PostgresServer
from tests.sdk._support import reader, table_names
from tests.store.recovery_support import FakeSender, make_dispatcher

Cells = Callable[[], list[tuple[str, str, str]]]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What ``open_store`` would be given: a SQLite path or a PostgreSQL DSN."""
    if backend == "sqlite":
        return str(tmp_path / "cartback.sqlite3")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


def _open(backend: str, database: str) -> Store:
    if backend == "sqlite":
        return SQLiteStore(database, synchronous="NORMAL")
    return PostgresStore(database, pool_size=4)


@pytest.fixture
def store(backend: str, database: str) -> Iterator[Store]:
    opened = _open(backend, database)
    yield opened
    opened.close()


@pytest.fixture
def open_again(backend: str, database: str) -> Iterator[Callable[[], Store]]:
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(_open(backend, database))
        return opened[-1]

    yield open_store
    for one in opened:
        one.close()


@pytest.fixture
def client(store: Store, clock: FakeClock) -> Cartback:
    return Cartback(store, clock=clock)


@pytest.fixture
def cells(backend: str, database: str, request: pytest.FixtureRequest) -> Cells:
    def sqlite_cells() -> list[tuple[str, str, str]]:
        found = []
        with reader(Path(database)) as db:
            for table in table_names(db):
                cursor = db.execute(f"SELECT * FROM {table}")
                columns = [str(d[0]) for d in cursor.description]
                for row in cursor.fetchall():
                    found += [
                        (table, c, str(v))
                        for c, v in zip(columns, row, strict=True)
                        if v is not None
                    ]
        return found

    def postgres_cells() -> list[tuple[str, str, str]]:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        schema = database.rpartition("search_path%3D")[2]
        found = []
        with server.admin("cartback") as conn:
            tables = [
                name
                for (name,) in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
                ).fetchall()
            ]
            for table in tables:
                cursor = conn.execute(f"SELECT * FROM {schema}.{table}")
                columns = [str(d.name) for d in cursor.description or ()]
                for row in cursor.fetchall():
                    found += [
                        (table, c, str(v))
                        for c, v in zip(columns, row, strict=True)
                        if v is not None
                    ]
        return found

    return sqlite_cells if backend == "sqlite" else postgres_cells


@pytest.fixture
def sender() -> FakeSender:
    """A sender that records every hand-over (and accepts, unless scripted)."""
    return FakeSender()


@pytest.fixture
def dispatcher(client: Cartback, sender: FakeSender) -> Dispatcher:
    """A dispatcher on the shipped flows, sending through ``sender``."""
    return make_dispatcher(client, sender)
