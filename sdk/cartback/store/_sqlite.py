"""The embedded default store: one SQLite file, WAL, migrations in code."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from cartback._errors import ConfigurationError, StoreError, StoreUnavailableError
from cartback.store._sql import Connection, Row, SqlStore
from cartback.store._sqlite_schema import MIGRATIONS

__all__ = ["SQLiteStore"]

T = TypeVar("T")


class _Connection:
    """``Connection`` over one ``sqlite3`` connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._db.execute(sql, params).fetchall()

    def count(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self._db.execute(sql, params)

    def batch(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[list[Row]]:
        return [self._db.execute(sql, params).fetchall() for sql, params in statements]

    def insert(self, into: str, rows: Sequence[Sequence[object]], tail: str = "") -> None:
        # One statement for the whole batch: each statement is a release and re-take of
        # the GIL, which the event loop's thread makes expensive.
        width = len(rows[0])
        marks = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(rows))
        self._db.execute(
            f"INSERT INTO {into} VALUES {marks}{tail}", [v for row in rows for v in row]
        )


class SQLiteStore(SqlStore):
    """A ``Store`` in one SQLite file (or ``":memory:"``).

    WAL journal; ``synchronous="FULL"`` by default so that a write acknowledged to a
    client survives a crash or power loss (``"NORMAL"`` survives a process crash only,
    and is faster). Writes go through one connection (SQLite serialises writers anyway,
    and ``BEGIN IMMEDIATE`` serialises them across processes too); reads through a second
    one, so the dashboard never waits for a batch of captures to commit.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 5000,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigurationError("synchronous must be FULL or NORMAL", setting="synchronous")
        self._path = os.fspath(path)
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._synchronous = synchronous
        self._write_lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._db = self._connect()
        self._migrate()
        # ":memory:" is one database per connection: read through the writer there.
        self._reader = self._db if self._path == ":memory:" else self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_ms / 1000,
        )
        db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        if self._path != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {self._synchronous}")
        # Erased rows are overwritten, not left in free pages of the file.
        db.execute("PRAGMA secure_delete = ON")
        return db

    # -- lifecycle ---------------------------------------------------------------

    def _migrate(self) -> None:
        with self._write_lock:
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version > len(MIGRATIONS):
                self._db.close()
                raise StoreError(
                    f"database schema version {version} is newer than this cartback "
                    f"({len(MIGRATIONS)}); upgrade cartback"
                )
            # Tables are rebuilt by copy: with foreign keys on, dropping a schema-1
            # table would cascade into the others. Off outside any transaction.
            self._db.execute("PRAGMA foreign_keys = OFF")
            for number in range(version + 1, len(MIGRATIONS) + 1):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    # One statement at a time: executescript() would commit mid-migration.
                    for statement in MIGRATIONS[number - 1].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self._write_lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def check_integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` verdict (``"ok"`` when healthy)."""
        with self._write_lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Close the connections."""
        with self._write_lock, self._read_lock:
            if self._reader is not self._db:
                self._reader.close()
            self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------

    def _writing(self, work: Callable[[Connection], T]) -> T:
        with self._write_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk gone
                raise StoreUnavailableError(f"database unavailable: {exc}") from None
            try:
                result = work(_Connection(self._db))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreUnavailableError(f"commit failed: {exc}") from None
            return result

    def _reading(self, work: Callable[[Connection], T]) -> T:
        lock = self._write_lock if self._reader is self._db else self._read_lock
        with lock:
            self._reader.execute("BEGIN")
            try:
                return work(_Connection(self._reader))
            finally:
                self._reader.execute("COMMIT")

    def _after_erasure(self) -> None:
        """Move the WAL into the database file and truncate it, so erased values do not
        linger in the log. Best effort: a concurrent reader may postpone it."""
        if self._path != ":memory:":
            with self._write_lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
