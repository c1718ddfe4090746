"""The SQLite schema, as migrations versioned in code (``PRAGMA user_version``).

Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

from typing import Final

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: carts, the sessions that touched them, recovery-link clicks, the consent
    # ledger, the outbox.
    """
    CREATE TABLE carts (
        id          TEXT PRIMARY KEY,
        prospect    TEXT NOT NULL,
        form_id     TEXT NOT NULL,
        product_id  TEXT,
        status      TEXT NOT NULL CHECK (status IN ('open', 'ordered')),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE UNIQUE INDEX carts_one_open ON carts (prospect, form_id) WHERE status = 'open';
    CREATE INDEX carts_by_created ON carts (created_at);
    CREATE INDEX carts_by_updated ON carts (updated_at);
    CREATE INDEX carts_by_prospect ON carts (prospect);

    CREATE TABLE cart_sessions (
        session_id  TEXT NOT NULL,
        cart_id     TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
        PRIMARY KEY (session_id, cart_id)
    ) WITHOUT ROWID;
    CREATE INDEX cart_sessions_by_cart ON cart_sessions (cart_id);

    CREATE TABLE link_clicks (
        seq         INTEGER PRIMARY KEY,
        cart_id     TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
        at          TEXT NOT NULL,
        utm         TEXT NOT NULL
    );
    CREATE INDEX link_clicks_by_cart ON link_clicks (cart_id);

    CREATE TABLE consent_events (
        seq         INTEGER PRIMARY KEY,
        prospect    TEXT NOT NULL,
        channel     TEXT NOT NULL,
        action      TEXT NOT NULL CHECK (action IN ('granted', 'withdrawn')),
        at          TEXT NOT NULL,
        session_id  TEXT,
        body        TEXT NOT NULL
    );
    CREATE INDEX consent_by_prospect ON consent_events (prospect, channel, at);
    CREATE INDEX consent_by_session ON consent_events (session_id) WHERE session_id IS NOT NULL;

    CREATE TABLE outbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT NOT NULL UNIQUE,
        type         TEXT NOT NULL,
        occurred_at  TEXT NOT NULL,
        cart_id      TEXT,
        prospect     TEXT,
        session_id   TEXT,
        payload      TEXT NOT NULL,
        delivered_at TEXT
    );
    CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_at IS NULL;
    CREATE INDEX outbox_by_prospect ON outbox (prospect);
    CREATE INDEX outbox_by_cart ON outbox (cart_id);
    CREATE INDEX outbox_by_session ON outbox (session_id) WHERE session_id IS NOT NULL;
    """,
)
