"""PostgreSQL, for shops that run several receivers and workers on one database.

psycopg 3 with a connection pool (psycopg_pool). Write transactions take one
transaction-level advisory lock first, so they are serialized across every process,
exactly as SQLite's ``BEGIN IMMEDIATE`` serializes them: what a transaction read stays
true until it commits, and the outbox's ``seq`` order is the order of commits (a
consumer's cursor can never skip an event that commits late). Batching keeps that lock
cheap: a batch of captures holds it for a handful of statements and one commit.
Consumers claim without that lock, with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import contextlib
import hashlib
import select
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import Pipeline
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from cartback._errors import ConfigurationError, StoreError, StoreUnavailableError
from cartback.store._postgres_schema import MIGRATIONS
from cartback.store._sql import Connection, Dialect, Row, SqlStore

__all__ = ["PostgresStore"]

T = TypeVar("T")


@lru_cache(maxsize=1024)
def _pg(sql: str) -> str:
    """The shared statements' ``?`` placeholders as PostgreSQL's own ``$1, $2, ...``.

    Connections use ``psycopg.RawCursor``, which hands such a statement to the server as
    it is: psycopg parses a ``%s`` statement in Python on every call once it has more
    than 50 parameters, and a batch of 64 carts has 512.
    """
    parts = sql.split("?")
    return parts[0] + "".join(f"${index}{part}" for index, part in enumerate(parts[1:], 1))


class _Connection:
    """``Connection`` over one psycopg connection, in a pipeline or not.

    In a pipeline a statement is sent at once but its result only read when the
    pipeline syncs: ``run`` never waits (writes go out with the commit), ``execute``
    and ``count`` sync to read what they return.
    """

    def __init__(self, conn: psycopg.Connection[Any], pipeline: Pipeline | None = None) -> None:
        self._conn = conn
        self._pipeline = pipeline

    def _sync(self) -> None:
        if self._pipeline is not None:
            self._pipeline.sync()

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        cursor = self._conn.execute(_pg(sql), params)
        self._sync()
        return cursor.fetchall() if cursor.description is not None else []

    def count(self, sql: str, params: Sequence[object] = ()) -> int:
        cursor = self._conn.execute(_pg(sql), params)
        self._sync()
        return cursor.rowcount

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self._conn.execute(_pg(sql), params)  # pipelined: its result is not awaited here

    def batch(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[list[Row]]:
        cursors = [self._conn.execute(_pg(sql), params) for sql, params in statements]
        self._sync()
        return [cursor.fetchall() if cursor.description is not None else [] for cursor in cursors]

    def insert(self, into: str, rows: Sequence[Sequence[object]], tail: str = "") -> None:
        # One multi-row statement per table, pipelined with the commit (one array per
        # column, through unnest, measured twice as slow to adapt; one statement per row
        # slower still).
        width = len(rows[0])
        marks = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(rows))
        self.run(f"INSERT INTO {into} VALUES {marks}{tail}", [v for row in rows for v in row])


def _check_idle(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection it hands out, without a round trip when it can.

    An idle connection has nothing to read: when its socket is readable the server has
    closed it or said why (a restart's "terminating connection"), and the full check (an
    empty query) raises. Costs a ``poll`` instead of a round trip per transaction.
    """
    if not conn.closed and not _readable(conn.fileno()):
        return
    ConnectionPool.check_connection(conn)


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):  # any descriptor number (select() stops at 1024)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End a transaction that failed before its ``COMMIT`` (its error propagates; a
    connection that broke is dropped by the pool)."""
    if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    with contextlib.suppress(psycopg.Error):
        conn.execute("ROLLBACK")


class _PgDialect(Dialect):
    def ts(self, value: datetime) -> object:
        super().ts(value)  # refuses naive datetimes
        return value.astimezone(UTC)


class PostgresStore(SqlStore):
    """A ``Store`` in a PostgreSQL database, selected by a ``postgresql://`` DSN.

    Tables live in the DSN's current schema (``options=-csearch_path=...`` picks
    another). ``pool_size`` connections at most; a connection that broke (the server
    restarted) is replaced on its next use, and an operation that finds no server
    raises ``StoreUnavailableError`` (a receiver answers 503 and recovers by itself).
    """

    _dialect = _PgDialect()
    _skip_locked = " FOR UPDATE SKIP LOCKED"
    _lock_consumer = " FOR UPDATE"

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 8,
        connect_timeout: float = 5.0,
        lock_timeout_ms: int = 10_000,
    ) -> None:
        if pool_size < 1:
            raise ConfigurationError("pool_size must be at least 1", setting="pool_size")
        self._timeout = connect_timeout
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise ConfigurationError("not a valid PostgreSQL DSN", setting="database") from None
        # The DSN's own options (a search_path, say) are kept; ours are added.
        # Custom plans for every execution: psycopg prepares a statement run five times,
        # and PostgreSQL then keeps a generic plan made while a young table was small
        # (sequential scans, measured 8 ms a batch at 10,000 carts) however it grows.
        options = (
            f"{params.get('options') or ''} -c lock_timeout={int(lock_timeout_ms)}"
            " -c plan_cache_mode=force_custom_plan"
        )
        params.update(options=options.strip(), connect_timeout=str(max(1, int(connect_timeout))))
        self._pool = ConnectionPool(
            make_conninfo("", **params),
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "cursor_factory": psycopg.RawCursor},
            check=_check_idle,
            # The pool retries a lost server with a doubling delay, one attempt at a time:
            # after a long outage the next try could come as late as the outage was long.
            # Giving up soon lets the next request start again from a one-second delay.
            reconnect_timeout=max(2.0, connect_timeout),
            open=False,
            name="cartback",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self._pool.close()
            raise StoreUnavailableError("PostgreSQL cannot be reached") from None
        self._schema = self._run(
            lambda conn: str(conn.execute("SELECT current_schema()").fetchall()[0][0])
        )
        digest = hashlib.sha256(b"cartback-writes:" + self._schema.encode()).digest()
        self._lock_key = int.from_bytes(digest[:8], "big", signed=True)
        self._migrate()

    # -- plumbing ----------------------------------------------------------------

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                return work(conn)
        except PoolTimeout:
            raise StoreUnavailableError("no PostgreSQL connection available") from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL unavailable: {type(exc).__name__}") from None

    def _writing(self, work: Callable[[Connection], T]) -> T:
        def run(conn: psycopg.Connection[Any]) -> T:
            # Pipelined, with the transaction's own BEGIN and COMMIT (psycopg's
            # ``transaction()`` syncs after each): the lock goes out with the first read,
            # the writes with the commit; a batch of captures takes three round trips.
            try:
                with conn.pipeline() as pipeline:
                    conn.execute("BEGIN")
                    conn.execute("SELECT pg_advisory_xact_lock($1)", (self._lock_key,))
                    result = work(_Connection(conn, pipeline))
                    conn.execute("COMMIT")
            except BaseException:
                _roll_back(conn)
                raise
            return result

        return self._run(run)

    def _claiming(self, work: Callable[[Connection], T]) -> T:
        def run(conn: psycopg.Connection[Any]) -> T:
            with conn.transaction():
                return work(_Connection(conn))

        return self._run(run)

    def _reading(self, work: Callable[[Connection], T]) -> T:
        def run(conn: psycopg.Connection[Any]) -> T:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return work(_Connection(conn))
            finally:
                conn.execute("COMMIT")

        return self._run(run)

    def _migrate(self) -> None:
        def migrate(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock($1)", (self._lock_key,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS cartback_schema (version integer NOT NULL)"
                )
                rows = conn.execute("SELECT version FROM cartback_schema").fetchall()
                version = int(rows[0][0]) if rows else 0
                if not rows:
                    conn.execute("INSERT INTO cartback_schema (version) VALUES (0)")
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"database schema version {version} is newer than this cartback "
                        f"({len(MIGRATIONS)}); upgrade cartback"
                    )
                for number in range(version + 1, len(MIGRATIONS) + 1):
                    conn.execute(MIGRATIONS[number - 1])  # no parameters: many statements
                    conn.execute("UPDATE cartback_schema SET version = $1", (number,))

        self._run(migrate)

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        return self._run(
            lambda conn: int(conn.execute("SELECT version FROM cartback_schema").fetchall()[0][0])
        )

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
