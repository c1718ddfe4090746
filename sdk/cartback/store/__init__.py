"""Storage: the ``Store`` protocol, SQLite (embedded, the default) and PostgreSQL."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from cartback._errors import ConfigurationError
from cartback.store._protocol import (
    RECEIPT_LIFETIME,
    CartKey,
    CartPage,
    CartQuery,
    Changes,
    Click,
    ConsumerStats,
    Delivery,
    EndpointRecord,
    ErasureReport,
    OrderClosure,
    ProspectData,
    ReadTransaction,
    Receipt,
    ReportBatch,
    SaveOutcome,
    SaveStatus,
    Scheduled,
    Settlement,
    Store,
    TicketQuery,
)
from cartback.store._sqlite import SQLiteStore

if TYPE_CHECKING:  # imported lazily: psycopg is needed only with PostgreSQL
    from cartback.store._postgres import PostgresStore

__all__ = [
    "RECEIPT_LIFETIME",
    "CartKey",
    "CartPage",
    "CartQuery",
    "Changes",
    "Click",
    "ConsumerStats",
    "Delivery",
    "EndpointRecord",
    "ErasureReport",
    "OrderClosure",
    "PostgresStore",
    "ProspectData",
    "ReadTransaction",
    "Receipt",
    "ReportBatch",
    "SQLiteStore",
    "SaveOutcome",
    "SaveStatus",
    "Scheduled",
    "Settlement",
    "Store",
    "TicketQuery",
    "open_store",
]


def __getattr__(name: str) -> object:
    # psycopg is imported only by shops that use PostgreSQL.
    if name == "PostgresStore":
        from cartback.store._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(name)


def open_store(
    database: str | os.PathLike[str], *, synchronous: Literal["FULL", "NORMAL"] = "FULL"
) -> Store:
    """The store a database setting names: a ``postgresql://`` (or ``postgres://``) DSN
    opens a ``PostgresStore``; ``sqlite:///path``, a plain path or ``":memory:"`` a
    ``SQLiteStore`` (``synchronous`` applies to SQLite only)."""
    text = os.fspath(database)
    if text.startswith(("postgresql://", "postgres://")):
        from cartback.store._postgres import PostgresStore

        return PostgresStore(text)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        if not text.startswith("/"):
            raise ConfigurationError(
                "a sqlite URL is sqlite:///absolute/path (or give a plain path)",
                setting="database",
            )
    elif "://" in text:
        raise ConfigurationError(
            "database is a path, sqlite:///path or postgresql://...", setting="database"
        )
    return SQLiteStore(text, synchronous=synchronous)
