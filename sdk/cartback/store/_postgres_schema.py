"""The PostgreSQL schema, as migrations versioned in code (table ``cartback_schema``).

The same tables, columns and indexes as SQLite's schema 2, in PostgreSQL's types.
Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

from typing import Final

_V1: Final = """
CREATE TABLE carts (
    id          text PRIMARY KEY,
    prospect    text NOT NULL,
    form_id     text NOT NULL,
    product_id  text,
    status      text NOT NULL CHECK (status IN ('open', 'submitted', 'ordered')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    body        text NOT NULL
);
CREATE UNIQUE INDEX carts_one_open ON carts (prospect, form_id)
    WHERE status IN ('open', 'submitted');
CREATE INDEX carts_by_created ON carts (created_at);
CREATE INDEX carts_by_prospect ON carts (prospect);
CREATE INDEX carts_submitted ON carts (updated_at) WHERE status = 'submitted';

CREATE TABLE cart_sessions (
    session_id  text NOT NULL,
    cart_id     text NOT NULL,
    PRIMARY KEY (session_id, cart_id)
);
CREATE INDEX cart_sessions_by_cart ON cart_sessions (cart_id);

CREATE TABLE link_clicks (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cart_id  text NOT NULL,
    at       timestamptz NOT NULL,
    utm      text NOT NULL
);
CREATE INDEX link_clicks_by_cart ON link_clicks (cart_id);

CREATE TABLE consent_events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text NOT NULL,
    prospect    text NOT NULL,
    channel     text NOT NULL,
    action      text NOT NULL CHECK (action IN ('granted', 'withdrawn')),
    at          timestamptz NOT NULL,
    session_id  text,
    body        text NOT NULL
);
CREATE UNIQUE INDEX consent_by_id ON consent_events (id);
CREATE INDEX consent_by_prospect ON consent_events (prospect, channel, at);
CREATE INDEX consent_by_session ON consent_events (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE outbox (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text NOT NULL,
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    cart_id      text,
    data         text NOT NULL
);

CREATE TABLE consumers (
    name              text PRIMARY KEY,
    types             text,
    ordered_per_cart  boolean NOT NULL,
    cursor            bigint NOT NULL
);

CREATE TABLE deliveries (
    consumer         text NOT NULL,
    seq              bigint NOT NULL,
    cart_id          text,
    state            text NOT NULL CHECK (state IN ('pending', 'dead')),
    attempts         integer NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    lease_owner      text,
    lease_until      timestamptz,
    last_error       text,
    dead_at          timestamptz,
    PRIMARY KEY (consumer, seq)
);
CREATE INDEX deliveries_due ON deliveries (consumer, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_cart ON deliveries (consumer, cart_id, seq)
    WHERE cart_id IS NOT NULL;
CREATE INDEX deliveries_of_cart ON deliveries (cart_id) WHERE cart_id IS NOT NULL;

CREATE TABLE capture_receipts (
    event_id  text PRIMARY KEY,
    cart_id   text NOT NULL,
    status    text NOT NULL,
    at        timestamptz NOT NULL
);

CREATE TABLE token_buckets (
    bucket      text NOT NULL,
    key         text NOT NULL,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE devices (
    platform       text NOT NULL,
    token          text NOT NULL,
    prospect       text NOT NULL,
    registered_at  timestamptz NOT NULL,
    body           text NOT NULL,
    PRIMARY KEY (platform, token)
);
CREATE INDEX devices_by_prospect ON devices (prospect);

CREATE TABLE social_recipients (
    platform      text NOT NULL,
    page_id       text NOT NULL,
    recipient_id  text NOT NULL,
    prospect      text NOT NULL,
    opted_in_at   timestamptz NOT NULL,
    body          text NOT NULL,
    PRIMARY KEY (platform, page_id, recipient_id)
);
CREATE INDEX social_by_prospect ON social_recipients (prospect);

CREATE TABLE enrolments (
    cart_id       text PRIMARY KEY,
    prospect      text NOT NULL,
    flow_id       text NOT NULL,
    flow_version  integer NOT NULL,
    due_at        timestamptz,
    lease_owner   text,
    lease_until   timestamptz,
    exit_reason   text,
    body          text NOT NULL
);
CREATE INDEX enrolments_due ON enrolments (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX enrolments_by_prospect ON enrolments (prospect);

CREATE TABLE messages (
    id        text PRIMARY KEY,
    prospect  text NOT NULL,
    cart_id   text NOT NULL,
    channel   text NOT NULL,
    status    text NOT NULL,
    at        timestamptz NOT NULL,
    body      text NOT NULL
);
CREATE INDEX messages_by_prospect ON messages (prospect, at);
CREATE INDEX messages_by_cart ON messages (cart_id);

CREATE TABLE activities (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prospect  text NOT NULL,
    kind      text NOT NULL,
    at        timestamptz NOT NULL,
    body      text NOT NULL
);
CREATE INDEX activities_by_prospect ON activities (prospect, at);

CREATE TABLE replies (
    id        text PRIMARY KEY,
    prospect  text NOT NULL,
    cart_id   text,
    at        timestamptz NOT NULL,
    body      text NOT NULL
);
CREATE INDEX replies_by_prospect ON replies (prospect);
CREATE INDEX replies_by_at ON replies (at);
CREATE INDEX replies_by_cart ON replies (cart_id) WHERE cart_id IS NOT NULL;

CREATE TABLE sms_numbers (
    phone     text PRIMARY KEY,
    prospect  text NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX sms_numbers_by_prospect ON sms_numbers (prospect);

CREATE TABLE flags (
    kind      text NOT NULL,
    key       text NOT NULL,
    until_at  timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE webhook_endpoints (
    id                    text PRIMARY KEY,
    config                text NOT NULL,
    enabled               boolean NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    failing_since         timestamptz,
    consecutive_failures  integer NOT NULL,
    last_success_at       timestamptz,
    last_failure_at       timestamptz
);

CREATE TABLE tickets (
    id          text PRIMARY KEY,
    dedupe_key  text NOT NULL,
    prospect    text,
    cart_id     text,
    status      text NOT NULL,
    assignee    text,
    created_at  timestamptz NOT NULL,
    body        text NOT NULL
);
CREATE UNIQUE INDEX tickets_by_key ON tickets (dedupe_key);
CREATE INDEX tickets_by_created ON tickets (created_at);
CREATE INDEX tickets_by_prospect ON tickets (prospect) WHERE prospect IS NOT NULL;
CREATE INDEX tickets_by_cart ON tickets (cart_id) WHERE cart_id IS NOT NULL;
CREATE INDEX carts_open_by_id ON carts (id) WHERE status = 'open';

CREATE TABLE engagements (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  text NOT NULL,
    cart_id     text NOT NULL,
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    utm         text
);
CREATE INDEX engagements_by_cart ON engagements (cart_id);
CREATE INDEX engagements_by_message ON engagements (message_id);

CREATE TABLE segments (
    name        text PRIMARY KEY,
    body        text NOT NULL,
    updated_at  timestamptz NOT NULL
);
"""

MIGRATIONS: Final[tuple[str, ...]] = (_V1,)
"""Each schema version's migration from the one before, in order."""
