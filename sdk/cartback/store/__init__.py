"""Storage: the ``Store`` protocol and the embedded SQLite implementation."""

from cartback.store._protocol import (
    CartPage,
    CartQuery,
    ErasureReport,
    OrderClosure,
    SaveOutcome,
    SaveStatus,
    Store,
)
from cartback.store.sqlite import SQLiteStore

__all__ = [
    "CartPage",
    "CartQuery",
    "ErasureReport",
    "OrderClosure",
    "SQLiteStore",
    "SaveOutcome",
    "SaveStatus",
    "Store",
]
