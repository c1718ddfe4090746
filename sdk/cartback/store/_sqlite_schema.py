"""The SQLite schema, as migrations versioned in code (``PRAGMA user_version``).

Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

from typing import Final

_V1: Final = (
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
    """
)

# 2: the store foundation for several consumers. Carts may be "submitted"; the one open
# cart per prospect and form covers submitted carts too; no updated_at index (the purge
# scans). Ledger entries get ids (consent.changed events name them). The outbox
# becomes typed, versioned events without personal data, read by registered consumers
# through per-consumer deliveries (attempts, due time, lease, last error, dead letters);
# schema 1's outbox rows held personal data and no consumer read them: they are dropped.
# Capture receipts (retried requests are saved once), token buckets and flags (state
# shared by several receivers). Foreign keys are replaced by explicit deletes, the same
# on every backend. Runs with foreign keys off (set by the migrator).
_V2: Final = """
    CREATE TABLE carts_v2 (
        id          TEXT PRIMARY KEY,
        prospect    TEXT NOT NULL,
        form_id     TEXT NOT NULL,
        product_id  TEXT,
        status      TEXT NOT NULL CHECK (status IN ('open', 'submitted', 'ordered')),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    INSERT INTO carts_v2 SELECT id, prospect, form_id, product_id, status, created_at,
        updated_at, body FROM carts;
    DROP TABLE carts;
    ALTER TABLE carts_v2 RENAME TO carts;
    CREATE UNIQUE INDEX carts_one_open ON carts (prospect, form_id)
        WHERE status IN ('open', 'submitted');
    CREATE INDEX carts_by_created ON carts (created_at);
    CREATE INDEX carts_by_prospect ON carts (prospect);
    CREATE INDEX carts_submitted ON carts (updated_at) WHERE status = 'submitted';

    CREATE TABLE cart_sessions_v2 (
        session_id  TEXT NOT NULL,
        cart_id     TEXT NOT NULL,
        PRIMARY KEY (session_id, cart_id)
    ) WITHOUT ROWID;
    INSERT INTO cart_sessions_v2 SELECT session_id, cart_id FROM cart_sessions;
    DROP TABLE cart_sessions;
    ALTER TABLE cart_sessions_v2 RENAME TO cart_sessions;
    CREATE INDEX cart_sessions_by_cart ON cart_sessions (cart_id);

    CREATE TABLE link_clicks_v2 (
        seq         INTEGER PRIMARY KEY,
        cart_id     TEXT NOT NULL,
        at          TEXT NOT NULL,
        utm         TEXT NOT NULL
    );
    INSERT INTO link_clicks_v2 SELECT seq, cart_id, at, utm FROM link_clicks;
    DROP TABLE link_clicks;
    ALTER TABLE link_clicks_v2 RENAME TO link_clicks;
    CREATE INDEX link_clicks_by_cart ON link_clicks (cart_id);

    CREATE TABLE consent_events_v2 (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL,
        prospect    TEXT NOT NULL,
        channel     TEXT NOT NULL,
        action      TEXT NOT NULL CHECK (action IN ('granted', 'withdrawn')),
        at          TEXT NOT NULL,
        session_id  TEXT,
        body        TEXT NOT NULL
    );
    INSERT INTO consent_events_v2 SELECT seq, 'cns_v1_' || seq, prospect, channel, action,
        at, session_id, json_set(body, '$.id', 'cns_v1_' || seq) FROM consent_events;
    DROP TABLE consent_events;
    ALTER TABLE consent_events_v2 RENAME TO consent_events;
    CREATE UNIQUE INDEX consent_by_id ON consent_events (id);
    CREATE INDEX consent_by_prospect ON consent_events (prospect, channel, at);
    CREATE INDEX consent_by_session ON consent_events (session_id) WHERE session_id IS NOT NULL;

    DROP TABLE outbox;
    CREATE TABLE outbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT NOT NULL,
        type         TEXT NOT NULL,
        occurred_at  TEXT NOT NULL,
        cart_id      TEXT,
        data         TEXT NOT NULL
    );

    CREATE TABLE consumers (
        name              TEXT PRIMARY KEY,
        types             TEXT,
        ordered_per_cart  INTEGER NOT NULL,
        cursor            INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE deliveries (
        consumer         TEXT NOT NULL,
        seq              INTEGER NOT NULL,
        cart_id          TEXT,
        state            TEXT NOT NULL CHECK (state IN ('pending', 'dead')),
        attempts         INTEGER NOT NULL,
        next_attempt_at  TEXT NOT NULL,
        lease_owner      TEXT,
        lease_until      TEXT,
        last_error       TEXT,
        dead_at          TEXT,
        PRIMARY KEY (consumer, seq)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_due ON deliveries (consumer, next_attempt_at)
        WHERE state = 'pending';
    CREATE INDEX deliveries_by_cart ON deliveries (consumer, cart_id, seq)
        WHERE cart_id IS NOT NULL;
    CREATE INDEX deliveries_of_cart ON deliveries (cart_id) WHERE cart_id IS NOT NULL;

    CREATE TABLE capture_receipts (
        event_id  TEXT PRIMARY KEY,
        cart_id   TEXT NOT NULL,
        status    TEXT NOT NULL,
        at        TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE token_buckets (
        bucket      TEXT NOT NULL,
        key         TEXT NOT NULL,
        tokens      REAL NOT NULL,
        updated_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;

    CREATE TABLE devices (
        platform       TEXT NOT NULL,
        token          TEXT NOT NULL,
        prospect       TEXT NOT NULL,
        registered_at  TEXT NOT NULL,
        body           TEXT NOT NULL,
        PRIMARY KEY (platform, token)
    );
    CREATE INDEX devices_by_prospect ON devices (prospect);

    CREATE TABLE social_recipients (
        platform      TEXT NOT NULL,
        page_id       TEXT NOT NULL,
        recipient_id  TEXT NOT NULL,
        prospect      TEXT NOT NULL,
        opted_in_at   TEXT NOT NULL,
        body          TEXT NOT NULL,
        PRIMARY KEY (platform, page_id, recipient_id)
    );
    CREATE INDEX social_by_prospect ON social_recipients (prospect);

    CREATE TABLE enrolments (
        cart_id       TEXT PRIMARY KEY,
        prospect      TEXT NOT NULL,
        flow_id       TEXT NOT NULL,
        flow_version  INTEGER NOT NULL,
        due_at        TEXT,
        lease_owner   TEXT,
        lease_until   TEXT,
        exit_reason   TEXT,
        body          TEXT NOT NULL
    );
    CREATE INDEX enrolments_due ON enrolments (due_at) WHERE due_at IS NOT NULL;
    CREATE INDEX enrolments_by_prospect ON enrolments (prospect);

    CREATE TABLE messages (
        id        TEXT PRIMARY KEY,
        prospect  TEXT NOT NULL,
        cart_id   TEXT NOT NULL,
        channel   TEXT NOT NULL,
        status    TEXT NOT NULL,
        at        TEXT NOT NULL,
        body      TEXT NOT NULL
    );
    CREATE INDEX messages_by_prospect ON messages (prospect, at);
    CREATE INDEX messages_by_cart ON messages (cart_id);

    CREATE TABLE activities (
        seq INTEGER PRIMARY KEY,
        prospect  TEXT NOT NULL,
        kind      TEXT NOT NULL,
        at        TEXT NOT NULL,
        body      TEXT NOT NULL
    );
    CREATE INDEX activities_by_prospect ON activities (prospect, at);

    CREATE TABLE replies (
        id        TEXT PRIMARY KEY,
        prospect  TEXT NOT NULL,
        cart_id   TEXT,
        at        TEXT NOT NULL,
        body      TEXT NOT NULL
    );
    CREATE INDEX replies_by_prospect ON replies (prospect);
    CREATE INDEX replies_by_at ON replies (at);
    CREATE INDEX replies_by_cart ON replies (cart_id) WHERE cart_id IS NOT NULL;

    CREATE TABLE sms_numbers (
        phone     TEXT PRIMARY KEY,
        prospect  TEXT NOT NULL,
        at        TEXT NOT NULL
    );
    CREATE INDEX sms_numbers_by_prospect ON sms_numbers (prospect);

    CREATE TABLE flags (
        kind      TEXT NOT NULL,
        key       TEXT NOT NULL,
        until_at  TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;

    CREATE TABLE webhook_endpoints (
        id                    TEXT PRIMARY KEY,
        config                TEXT NOT NULL,
        enabled               INTEGER NOT NULL,
        created_at            TEXT NOT NULL,
        updated_at            TEXT NOT NULL,
        failing_since         TEXT,
        consecutive_failures  INTEGER NOT NULL,
        last_success_at       TEXT,
        last_failure_at       TEXT
    );

    CREATE TABLE tickets (
        id          TEXT PRIMARY KEY,
        dedupe_key  TEXT NOT NULL,
        prospect    TEXT,
        cart_id     TEXT,
        status      TEXT NOT NULL,
        assignee    TEXT,
        created_at  TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE UNIQUE INDEX tickets_by_key ON tickets (dedupe_key);
    CREATE INDEX tickets_by_created ON tickets (created_at);
    CREATE INDEX tickets_by_prospect ON tickets (prospect) WHERE prospect IS NOT NULL;
    CREATE INDEX tickets_by_cart ON tickets (cart_id) WHERE cart_id IS NOT NULL;
    CREATE INDEX carts_open_by_id ON carts (id) WHERE status = 'open';

    CREATE TABLE engagements (
        seq         INTEGER PRIMARY KEY,
        message_id  TEXT NOT NULL,
        cart_id     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        at          TEXT NOT NULL,
        utm         TEXT
    );
    CREATE INDEX engagements_by_cart ON engagements (cart_id);
    CREATE INDEX engagements_by_message ON engagements (message_id);

    CREATE TABLE segments (
        name        TEXT PRIMARY KEY,
        body        TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    ) WITHOUT ROWID;
    """

MIGRATIONS: Final[tuple[str, ...]] = (_V1, _V2)
"""Each schema version's migration from the one before, in order."""
