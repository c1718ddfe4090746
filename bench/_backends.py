"""What the store benches share: the backends to run, a PostgreSQL server, raw access.

``--backend sqlite|postgres|both``; PostgreSQL is Debian's package started in a
temporary folder (``tests/postgres.py``, durable: fsync and synchronous commits on), or
the server ``--postgres-dsn`` names (each size then loads into a schema of its own).
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg

from cartback import PostgresStore, SQLiteStore, Store

ROOT = Path(__file__).resolve().parent.parent
Backend = Literal["sqlite", "postgres"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend``, ``--postgres-dsn``, ``--synchronous``, ``--cache``."""
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres-dsn",
        help="use this server (a schema per size) instead of starting Debian's postgresql",
    )
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL",
                        help="the SQLite store's durability (FULL, its default)")  # fmt: skip
    parser.add_argument("--cache", type=Path, help="folder for the loaded SQLite files")


def backends(choice: str) -> list[Backend]:
    """The backends ``--backend`` names."""
    return ["sqlite", "postgres"] if choice == "both" else [choice]  # type: ignore[list-item]


class Server(Protocol):
    def dsn(self, *, schema: str | None = None) -> str: ...


@contextlib.contextmanager
def postgres(dsn: str | None) -> Iterator[Server | str | None]:
    """A PostgreSQL server for the run: the one ``dsn`` names, else one started from
    Debian's package; a string saying why there is none when it cannot start."""
    if dsn is not None:
        yield _Given(dsn)
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres import PostgresServer, available

    reason = available()
    if reason is not None:
        yield reason
        return
    server = PostgresServer(durable=True)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


class _Given:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def dsn(self, *, schema: str | None = None) -> str:
        if schema is None:
            return self._dsn
        separator = "&" if "?" in self._dsn else "?"
        return f"{self._dsn}{separator}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def fresh_schema(server: Server) -> Iterator[str]:
    """A new schema on ``server`` (dropped afterwards); its DSN."""
    name = "bench_" + secrets.token_hex(4)
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield server.dsn(schema=name)
    finally:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def open_store(backend: Backend, database: str, synchronous: str = "FULL") -> Store:
    """The store on a loaded database, as a shop opens it."""
    if backend == "sqlite":
        return SQLiteStore(database, synchronous="NORMAL" if synchronous == "NORMAL" else "FULL")
    return PostgresStore(database)


class Raw:
    """The database under a store, through its driver alone (for floors and resets)."""

    def __init__(self, backend: Backend, database: str) -> None:
        self.backend = backend
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[Any] | None = None
        if backend == "sqlite":
            self._sqlite = sqlite3.connect(database, isolation_level=None)
            self._sqlite.execute("PRAGMA busy_timeout = 5000")
        else:
            self._pg = psycopg.connect(database, autocommit=True)

    def sql(self, text: str) -> str:
        """``?`` placeholders as the driver wants them."""
        return text if self.backend == "sqlite" else text.replace("?", "%s")

    def rows(self, text: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            return self._sqlite.execute(text, params).fetchall()
        assert self._pg is not None
        cursor = self._pg.execute(self.sql(text), params)
        return cursor.fetchall() if cursor.description is not None else []

    def transaction(self, statements: Sequence[tuple[str, Sequence[Sequence[object]]]]) -> None:
        """Each statement for each of its parameter rows, in one transaction."""
        if self._sqlite is not None:
            self._sqlite.execute("BEGIN IMMEDIATE")
            for text, many in statements:
                self._sqlite.executemany(text, many)
            self._sqlite.execute("COMMIT")
            return
        assert self._pg is not None
        with self._pg.transaction(), self._pg.cursor() as cursor:
            for text, many in statements:
                cursor.executemany(self.sql(text), many)

    def plan(self, text: str, params: Sequence[object]) -> list[str]:
        """The query plan's lines (``EXPLAIN QUERY PLAN`` / ``EXPLAIN``)."""
        if self.backend == "sqlite":
            return [str(row[-1]) for row in self.rows("EXPLAIN QUERY PLAN " + text, params)]
        return [str(row[0]) for row in self.rows("EXPLAIN " + text, params)]

    def ts(self, value: object) -> object:
        """A time as the store keeps it (SQLite: ISO text; PostgreSQL: timestamptz)."""
        if self.backend == "sqlite" and isinstance(value, datetime):
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        return value

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()
