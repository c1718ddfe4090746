"""What SQLite and PostgreSQL stores share: the statements, written once.

Statements use ``?`` placeholders; a backend whose driver wants another style converts
them (``_Connection.execute``). Each write statement covers a whole batch (one
multi-row ``VALUES`` list per table), so a batch of captures costs the same few
statements whatever its size: each statement is a round trip to the database, and for
SQLite a release and re-take of the GIL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Final, Literal, Protocol, TypeVar

from pydantic import BaseModel

from cartback._contact_values import normalize_email
from cartback._errors import CartNotFoundError, InvalidInputError
from cartback._models import (
    Activity,
    Cart,
    ConsentEvent,
    MessageRecord,
    PushDevice,
    Reply,
    SocialRecipient,
)
from cartback._types import CartStatus
from cartback.events import EventType, parse_event
from cartback.flows._enrolment import Enrolment
from cartback.reports._engagement import Engagement
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
    HeadlineCounts,
    ProspectData,
    Receipt,
    ReportBatch,
    SaveStatus,
    Scheduled,
    Settlement,
    TicketQuery,
)
from cartback.tickets._ticket import Ticket

T = TypeVar("T")
Row = tuple[Any, ...]

MAX_PAGE_SIZE = 1000
_CHUNK = 500  # rows per statement when a list may be long (erasure, purge)
_FANOUT = 1000  # outbox events copied into a consumer's deliveries per claim
_OPEN = "status IN ('open', 'submitted')"
_CART_TABLES = (
    "cart_sessions",
    "engagements",
    "link_clicks",
    "capture_receipts",
    "deliveries",
    "enrolments",
    "messages",
    "replies",
    "tickets",
)
"""Tables whose rows belong to one cart: removed with it."""
_PROSPECT_TABLES = (
    "devices",
    "social_recipients",
    "enrolments",
    "messages",
    "activities",
    "replies",
    "tickets",
)
"""Tables of a prospect's own (besides carts and the ledger): erased with them."""


class Connection(Protocol):
    """One database connection, as the shared statements use it."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run one statement; the rows it returns (empty for most writes)."""
        ...

    def count(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        """Run one write whose result nobody reads (PostgreSQL pipelines it with the
        statements after it: one round trip for a transaction's writes and commit)."""
        ...

    def batch(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[list[Row]]:
        """Run several reads; their rows, in order (PostgreSQL: one round trip)."""
        ...

    def insert(self, into: str, rows: Sequence[Sequence[object]], tail: str = "") -> None:
        """``INSERT INTO {into} VALUES ...{tail}`` for every row, the backend's fastest
        way (SQLite: one multi-row statement; PostgreSQL: one pipelined statement per
        row, whose parsed form is cached)."""
        ...


def _marks(count: int, width: int = 1) -> str:
    one = "(" + ", ".join("?" * width) + ")" if width > 1 else "?"
    return ", ".join([one] * count)


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@lru_cache(maxsize=4096)
def _iso(value: datetime) -> str:
    # A batch of captures stamps each row with the same few times: format each once.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class Dialect:
    """How values cross into and out of one database (SQLite by default)."""

    def ts(self, value: datetime) -> object:
        """A timezone-aware datetime as the database stores it."""
        if value.tzinfo is None:
            raise InvalidInputError(
                "datetimes must be timezone-aware", field="at", reason="naive_datetime"
            )
        return _iso(value)

    def dt(self, value: object) -> datetime:
        """A stored time back as a UTC datetime."""
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.fromisoformat(str(value))


def _bound(dialect: Dialect, value: date | datetime, *, end: bool) -> object:
    if isinstance(value, datetime):
        return dialect.ts(value)
    return dialect.ts(datetime.combine(value, time.max if end else time.min, tzinfo=UTC))


def where(dialect: Dialect, query: CartQuery) -> tuple[str, list[object]]:
    """The ``WHERE`` clause of a cart query and its parameters."""
    clauses: list[str] = []
    params: list[object] = []
    if query.start is not None:
        clauses.append("created_at >= ?")
        params.append(_bound(dialect, query.start, end=False))
    if query.end is not None:
        clauses.append("created_at <= ?")
        params.append(_bound(dialect, query.end, end=True))
    if query.email:
        email = query.email.strip()
        clauses.append("prospect = ?")
        params.append((normalize_email(email) or email).lower())
    if query.email_contains:
        clauses.append("prospect LIKE ? ESCAPE '\\'")
        params.append("%" + _escape_like(query.email_contains.strip().lower()) + "%")
    if query.form_id is not None:
        clauses.append("form_id = ?")
        params.append(query.form_id)
    if query.product_id is not None:
        clauses.append("product_id = ?")
        params.append(query.product_id)
    if query.status is not None:
        clauses.append("status = ?")
        params.append(query.status)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _statement(sql: str, params: Sequence[object]) -> Callable[[Connection], list[Row]]:
    """A function running one statement (bound now, not when called)."""
    return lambda db: db.execute(sql, params)


_ENDPOINT_COLUMNS: Final = (
    "id, config, enabled, created_at, updated_at, failing_since, consecutive_failures,"
    " last_success_at, last_failure_at"
)


def endpoint_record(dialect: Dialect, row: Row) -> EndpointRecord:
    """An endpoint row (``_ENDPOINT_COLUMNS``) as a record."""

    def at(value: object) -> datetime | None:
        return None if value is None else dialect.dt(value)

    created = dialect.dt(row[3])
    return EndpointRecord(
        id=str(row[0]),
        config=str(row[1]),
        enabled=bool(row[2]),
        created_at=created,
        updated_at=dialect.dt(row[4]),
        failing_since=at(row[5]),
        consecutive_failures=int(row[6]),
        last_success_at=at(row[7]),
        last_failure_at=at(row[8]),
    )


def _ticket_where(query: TicketQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (
        ("status", query.status),
        ("assignee", query.assignee),
        ("cart_id", query.cart_id),
        ("prospect", query.prospect),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def engagement_of(dialect: Dialect, row: Row) -> Engagement:
    """An ``engagements`` row (message_id, cart_id, kind, at, utm) as its value."""
    message_id, cart_id, kind, at, utm = row
    return Engagement.model_construct(
        message_id=message_id,
        cart_id=cart_id,
        kind=kind,
        at=dialect.dt(at),
        utm=json.loads(utm) if utm else {},
    )


class _Keyed(Protocol):
    @property
    def cart_id(self) -> str: ...


_K = TypeVar("_K", bound=_Keyed)


def _grouped(items: Iterable[_K]) -> dict[str, list[_K]]:
    """Items by their ``cart_id``, each list in the order read."""
    found: dict[str, list[_K]] = {}
    for item in items:
        found.setdefault(item.cart_id, []).append(item)
    return found


def _open_carts(rows: Iterable[Row], wanted: set[CartKey]) -> dict[CartKey, Cart]:
    return {
        (prospect, form_id): Cart.model_validate_json(body)
        for prospect, form_id, body in rows
        if (prospect, form_id) in wanted
    }


def _receipts(rows: Iterable[Row], dialect: Dialect) -> dict[str, Receipt]:
    found: dict[str, Receipt] = {}
    for event_id, cart_id, status, at in rows:
        saved: SaveStatus = status
        found[event_id] = Receipt(event_id, cart_id, saved, dialect.dt(at))
    return found


def _ledgers(rows: Iterable[Row]) -> dict[str, list[ConsentEvent]]:
    found: dict[str, list[ConsentEvent]] = {}
    for prospect, body in rows:
        found.setdefault(prospect, []).append(ConsentEvent.model_validate_json(body))
    return found


class Transaction:
    """``ReadTransaction`` over one connection inside a serialized write transaction."""

    def __init__(self, db: Connection, dialect: Dialect) -> None:
        self._db = db
        self._dialect = dialect

    def _rows_in(self, select: str, keys: Collection[str], order: str = "") -> Iterator[Row]:
        """The rows of ``select`` (ending with the column compared) ``IN`` the keys, a
        chunk of keys at a time, then ``order``: rows of one key come in one chunk, so
        each key's rows keep the order."""
        for chunk in _chunks(sorted(set(keys))):
            yield from self._db.execute(f"{select} IN ({_marks(len(chunk))}){order}", chunk)

    def open_carts(self, keys: Collection[CartKey]) -> dict[CartKey, Cart]:
        """The open or submitted cart of each ``(prospect, form_id)`` that has one."""
        wanted = set(keys)
        rows = self._rows_in(
            f"SELECT prospect, form_id, body FROM carts WHERE {_OPEN} AND prospect",
            {prospect for prospect, _ in wanted},
        )
        return _open_carts(rows, wanted)

    def carts(self, ids: Collection[str]) -> dict[str, Cart]:
        """The carts with these ids that exist."""
        carts = self._rows_in("SELECT body FROM carts WHERE id", ids)
        return {cart.id: cart for cart in (Cart.model_validate_json(b) for (b,) in carts)}

    def carts_to_close(
        self, *, prospect: str | None, session_id: str | None, form_id: str | None
    ) -> list[Cart]:
        """The open or submitted carts of a prospect or a session (one form, if given)."""
        if prospect is None and session_id is None:
            raise InvalidInputError(
                "name a prospect or a session", field="prospect", reason="missing"
            )
        sql = f"SELECT body FROM carts WHERE {_OPEN}"
        params: list[object] = []
        if prospect is not None:
            sql += " AND prospect = ?"
            params.append(prospect)
        if session_id is not None:
            sql += " AND id IN (SELECT cart_id FROM cart_sessions WHERE session_id = ?)"
            params.append(session_id)
        if form_id is not None:
            sql += " AND form_id = ?"
            params.append(form_id)
        rows = self._db.execute(sql + " ORDER BY created_at, id", params)
        return [Cart.model_validate_json(body) for (body,) in rows]

    def capture_state(
        self, keys: Collection[CartKey], event_ids: Collection[str], prospects: Collection[str]
    ) -> tuple[dict[CartKey, Cart], dict[str, Receipt], dict[str, list[ConsentEvent]]]:
        """What deciding a batch of captures reads, in one go: the open carts of
        ``keys``, the receipts of ``event_ids``, the ledgers of ``prospects``."""
        wanted = set(keys)
        owners = sorted({prospect for prospect, _ in wanted})
        ids, ledgers = sorted(set(event_ids)), sorted(set(prospects))
        if max(len(owners), len(ids), len(ledgers)) > _CHUNK:  # a huge batch: one by one
            return self.open_carts(keys), self.receipts(event_ids), self.consent_events(prospects)
        statements: list[tuple[str, Sequence[object]]] = [
            (
                f"SELECT prospect, form_id, body FROM carts WHERE {_OPEN}"
                f" AND prospect IN ({_marks(len(owners))})",
                owners,
            )
        ]
        if ids:
            statements.append(
                (
                    "SELECT event_id, cart_id, status, at FROM capture_receipts"
                    f" WHERE event_id IN ({_marks(len(ids))})",
                    ids,
                )
            )
        if ledgers:
            statements.append(
                (
                    "SELECT prospect, body FROM consent_events"
                    f" WHERE prospect IN ({_marks(len(ledgers))}) ORDER BY at, seq",
                    ledgers,
                )
            )
        results = iter(self._db.batch(statements))
        carts = _open_carts(next(results), wanted)
        receipts = _receipts(next(results) if ids else (), self._dialect)
        return carts, receipts, _ledgers(next(results) if ledgers else ())

    def receipts(self, event_ids: Collection[str]) -> dict[str, Receipt]:
        """The receipts of these capture ``event_id``\\ s."""
        rows = self._rows_in(
            "SELECT event_id, cart_id, status, at FROM capture_receipts WHERE event_id", event_ids
        )
        return _receipts(rows, self._dialect)

    def consent_events(self, prospects: Collection[str]) -> dict[str, list[ConsentEvent]]:
        """Each prospect's ledger entries, oldest first."""
        rows = self._rows_in(
            "SELECT prospect, body FROM consent_events WHERE prospect",
            prospects,
            " ORDER BY at, seq",
        )
        return _ledgers(rows)

    def devices(self, tokens: Collection[tuple[str, str]]) -> dict[tuple[str, str], PushDevice]:
        """The registered devices with these ``(platform, token)`` pairs."""
        found: dict[tuple[str, str], PushDevice] = {}
        for chunk in _chunks(sorted(set(tokens))):
            rows = self._db.execute(
                f"SELECT body FROM devices WHERE (platform, token) IN ({_marks(len(chunk), 2)})",
                [value for pair in chunk for value in pair],
            )
            for (body,) in rows:
                device = PushDevice.model_validate_json(body)
                found[(device.platform, device.token)] = device
        return found

    def submitted_before(self, moment: datetime, *, limit: int) -> list[Cart]:
        """Submitted carts last updated before ``moment``, oldest first."""
        rows = self._db.execute(
            "SELECT body FROM carts WHERE status = 'submitted' AND updated_at < ?"
            " ORDER BY updated_at LIMIT ?",
            [self._dialect.ts(moment), limit],
        )
        return [Cart.model_validate_json(body) for (body,) in rows]

    def enrolments(self, cart_ids: Collection[str]) -> dict[str, Enrolment]:
        """The enrolments of these carts that exist."""
        rows = self._rows_in("SELECT body FROM enrolments WHERE cart_id", cart_ids)
        return {e.cart_id: e for e in (Enrolment.model_validate_json(b) for (b,) in rows)}

    def apply(self, changes: Changes) -> None:
        """Write ``changes``: one statement per table (each backend sends a batch of rows
        its fastest way: ``Connection.insert``)."""
        ts = self._dialect.ts
        insert = self._db.insert
        carts = (*changes.new_carts, *changes.updated_carts)
        if carts:
            insert(
                "carts (id, prospect, form_id, product_id, status, created_at, updated_at, body)",
                [
                    (
                        cart.id,
                        cart.contact.prospect_key,
                        cart.context.form_id,
                        cart.context.product_id,
                        cart.status,
                        ts(cart.created_at),
                        ts(cart.updated_at),
                        cart.model_dump_json(),
                    )
                    for cart in carts
                ],
                " ON CONFLICT (id) DO UPDATE SET product_id = excluded.product_id,"
                " status = excluded.status, updated_at = excluded.updated_at,"
                " body = excluded.body",
            )
        if changes.sessions:
            insert(
                "cart_sessions (session_id, cart_id)", changes.sessions, " ON CONFLICT DO NOTHING"
            )
        if changes.consent:
            insert(
                "consent_events (id, prospect, channel, action, at, session_id, body)",
                [
                    (e.id, e.prospect, e.channel, e.action, ts(e.at), e.session_id,
                     e.model_dump_json())
                    for e in changes.consent
                ],
            )  # fmt: skip
        if changes.receipts:
            insert(
                "capture_receipts (event_id, cart_id, status, at)",
                [(r.event_id, r.cart_id, r.status, ts(r.at)) for r in changes.receipts],
                " ON CONFLICT DO NOTHING",
            )
        if changes.clicks:
            insert(
                "link_clicks (cart_id, at, utm)",
                [
                    (click.cart_id, ts(click.at), json.dumps(dict(click.utm), sort_keys=True))
                    for click in changes.clicks
                ],
            )
        if changes.devices:
            insert(
                "devices (platform, token, prospect, registered_at, body)",
                [
                    (d.platform, d.token, d.prospect, ts(d.registered_at), d.model_dump_json())
                    for d in changes.devices
                ],
                " ON CONFLICT (platform, token) DO UPDATE SET prospect = excluded.prospect,"
                " registered_at = excluded.registered_at, body = excluded.body",
            )
        if changes.social:
            insert(
                "social_recipients (platform, page_id, recipient_id, prospect, opted_in_at, body)",
                [
                    (r.platform, r.page_id, r.recipient_id, r.prospect, ts(r.opted_in_at),
                     r.model_dump_json())
                    for r in changes.social
                ],
                " ON CONFLICT (platform, page_id, recipient_id) DO UPDATE SET"
                " prospect = excluded.prospect, opted_in_at = excluded.opted_in_at,"
                " body = excluded.body",
            )  # fmt: skip
        if changes.enrolments:
            insert(
                "enrolments (cart_id, prospect, flow_id, flow_version, due_at, exit_reason, body)",
                [
                    (
                        s.enrolment.cart_id,
                        s.enrolment.prospect,
                        s.enrolment.flow_id,
                        s.enrolment.flow_version,
                        None if s.due_at is None else ts(s.due_at),
                        s.enrolment.exit_reason,
                        s.enrolment.model_dump_json(),
                    )
                    for s in changes.enrolments
                ],
                " ON CONFLICT (cart_id) DO UPDATE SET due_at = excluded.due_at,"
                " exit_reason = excluded.exit_reason, body = excluded.body,"
                " lease_owner = NULL, lease_until = NULL",
            )
        if changes.messages:
            insert(
                "messages (id, prospect, cart_id, channel, status, at, body)",
                [
                    (m.id, m.prospect, m.cart_id, m.channel, m.status, ts(m.at),
                     m.model_dump_json())
                    for m in changes.messages
                ],
                " ON CONFLICT (id) DO UPDATE SET status = excluded.status, at = excluded.at,"
                " body = excluded.body",
            )  # fmt: skip
        if changes.activities:
            insert(
                "activities (prospect, kind, at, body)",
                [(a.prospect, a.kind, ts(a.at), a.model_dump_json()) for a in changes.activities],
            )
        if changes.replies:
            insert(
                "replies (id, prospect, cart_id, at, body)",
                [
                    (r.id, r.prospect, r.cart_id, ts(r.at), r.model_dump_json())
                    for r in changes.replies
                ],
                " ON CONFLICT (id) DO NOTHING",
            )
        if changes.sms_numbers:
            insert(
                "sms_numbers (phone, prospect, at)",
                [(phone, prospect, ts(at)) for phone, prospect, at in changes.sms_numbers],
                " ON CONFLICT (phone) DO UPDATE SET prospect = excluded.prospect, at = excluded.at",
            )
        if changes.events:
            insert(
                "outbox (event_id, type, occurred_at, cart_id, data)",
                [
                    (e.event_id, e.type, ts(e.occurred_at), getattr(e, "cart_id", None),
                     e.model_dump_json())
                    for e in changes.events
                ],
            )  # fmt: skip
        if changes.endpoints:

            def optional(value: datetime | None) -> object:
                return None if value is None else ts(value)

            insert(
                "webhook_endpoints (id, config, enabled, created_at, updated_at,"
                " failing_since, consecutive_failures, last_success_at, last_failure_at)",
                [
                    (
                        stored.id,
                        stored.config,
                        bool(stored.enabled),
                        ts(stored.created_at),
                        ts(stored.updated_at),
                        optional(stored.failing_since),
                        stored.consecutive_failures,
                        optional(stored.last_success_at),
                        optional(stored.last_failure_at),
                    )
                    for stored in changes.endpoints
                ],
                " ON CONFLICT (id) DO UPDATE SET"
                " config = excluded.config, enabled = excluded.enabled,"
                " updated_at = excluded.updated_at, failing_since = excluded.failing_since,"
                " consecutive_failures = excluded.consecutive_failures,"
                " last_success_at = excluded.last_success_at,"
                " last_failure_at = excluded.last_failure_at",
            )
        if changes.tickets:
            insert(
                "tickets (id, dedupe_key, prospect, cart_id, status, assignee, created_at, body)",
                [
                    (
                        ticket.id,
                        ticket.dedupe_key,
                        ticket.draft.prospect,
                        ticket.draft.cart.cart_id,
                        ticket.status,
                        ticket.assignee,
                        ts(ticket.created_at),
                        ticket.model_dump_json(),
                    )
                    for ticket in changes.tickets
                ],
                " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
                " assignee = excluded.assignee, body = excluded.body",
            )
        if changes.engagements:
            insert(
                "engagements (message_id, cart_id, kind, at, utm)",
                [
                    (e.message_id, e.cart_id, e.kind, ts(e.at),
                     json.dumps(e.utm, sort_keys=True) if e.utm else None)
                    for e in changes.engagements
                ],
            )  # fmt: skip
        for name, body, _ in changes.segments:
            if body is None:
                self._db.execute("DELETE FROM segments WHERE name = ?", [name])
        saved = [(name, body, ts(at)) for name, body, at in changes.segments if body is not None]
        if saved:
            insert(
                "segments (name, body, updated_at)",
                saved,
                " ON CONFLICT (name) DO UPDATE SET body = excluded.body,"
                " updated_at = excluded.updated_at",
            )

    def message_records(self, ids: Collection[str]) -> dict[str, MessageRecord]:
        """The message records with these ids that exist."""
        rows = self._rows_in("SELECT body FROM messages WHERE id", ids)
        return {r.id: r for r in (MessageRecord.model_validate_json(b) for (b,) in rows)}

    def engagements_of(self, cart_ids: Collection[str]) -> dict[str, list[Engagement]]:
        """The engagements with messages about these carts, oldest first."""
        rows = self._rows_in(
            "SELECT message_id, cart_id, kind, at, utm FROM engagements WHERE cart_id",
            cart_ids,
            " ORDER BY at, seq",
        )
        return _grouped(engagement_of(self._dialect, row) for row in rows)

    def messages_of(self, cart_ids: Collection[str]) -> dict[str, list[MessageRecord]]:
        """The recovery message records of these carts, oldest first."""
        rows = self._rows_in(
            "SELECT body FROM messages WHERE cart_id", cart_ids, " ORDER BY at, id"
        )
        return _grouped(MessageRecord.model_validate_json(body) for (body,) in rows)

    def clicks_of(self, cart_ids: Collection[str]) -> dict[str, list[Click]]:
        """The recovery-link clicks of these carts, oldest first."""
        rows = self._rows_in("SELECT cart_id, at, utm FROM link_clicks WHERE cart_id", cart_ids,
                             " ORDER BY seq")  # fmt: skip
        dt = self._dialect.dt
        return _grouped(Click(cart_id, dt(at), json.loads(utm)) for cart_id, at, utm in rows)

    def endpoints(self, ids: Collection[str]) -> dict[str, EndpointRecord]:
        """The webhook endpoints with these ids that exist."""
        rows = self._rows_in(f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id", ids)
        return {r.id: r for r in (endpoint_record(self._dialect, row) for row in rows)}

    def tickets_by_key(self, dedupe_keys: Collection[str]) -> dict[str, Ticket]:
        """The tickets holding these dedupe keys."""
        rows = self._rows_in("SELECT body FROM tickets WHERE dedupe_key", dedupe_keys)
        return {t.dedupe_key: t for t in (Ticket.model_validate_json(b) for (b,) in rows)}

    def tickets(self, ids: Collection[str]) -> dict[str, Ticket]:
        """The tickets with these ids that exist."""
        rows = self._rows_in("SELECT body FROM tickets WHERE id", ids)
        return {t.id: t for t in (Ticket.model_validate_json(b) for (b,) in rows)}

    def ordered_in_sessions(self, session_ids: Collection[str]) -> dict[str, list[Cart]]:
        """The ordered carts each of these browser sessions touched."""
        # Two primary-key look-ups rather than a join: on a young table without
        # statistics PostgreSQL planned the join as a scan of every cart.
        links = list(
            self._rows_in(
                "SELECT session_id, cart_id FROM cart_sessions WHERE session_id", session_ids
            )
        )
        if not links:
            return {}
        ordered: dict[str, str] = dict(
            self._rows_in(
                "SELECT id, body FROM carts WHERE status = 'ordered' AND id",
                {cart_id for _, cart_id in links},
            )
        )
        found: dict[str, list[Cart]] = {}
        for session_id, cart_id in links:
            if cart_id in ordered:
                found.setdefault(session_id, []).append(Cart.model_validate_json(ordered[cart_id]))
        return found

    def carts_of(self, prospects: Collection[str]) -> dict[str, list[Cart]]:
        """Every cart of these prospects (any status), oldest first."""
        rows = self._rows_in("SELECT prospect, body FROM carts WHERE prospect", prospects,
                             " ORDER BY created_at, id")  # fmt: skip
        found: dict[str, list[Cart]] = {}
        for prospect, body in rows:
            found.setdefault(prospect, []).append(Cart.model_validate_json(body))
        return found


_PLANNER_READS: tuple[tuple[str, str, str, type[BaseModel]], ...] = (
    ("carts", "carts", "created_at, id", Cart),
    ("consent", "consent_events", "at, seq", ConsentEvent),
    ("messages", "messages", "at, id", MessageRecord),
    ("activities", "activities", "at, seq", Activity),
    ("devices", "devices", "registered_at, token", PushDevice),
    ("recipients", "social_recipients", "opted_in_at, recipient_id", SocialRecipient),
)
"""What ``prospect_data`` reads per prospect: its name there, the table, the order."""
_LAST_REPLY = "SELECT prospect, max(at) FROM replies WHERE prospect IN ({}) GROUP BY prospect"


class SqlStore:
    """The ``Store`` methods both backends share; a backend supplies the connections.

    ``_writing`` runs a function in a serialized write transaction; ``_reading`` in a
    read-only one (a consistent snapshot); ``_claiming`` in the transaction a consumer
    claims in (PostgreSQL: not serialized with the writers).
    """

    _dialect: Dialect = Dialect()
    _skip_locked: str = ""  # PostgreSQL adds FOR UPDATE SKIP LOCKED to the claim

    def _writing(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def _reading(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def _claiming(self, work: Callable[[Connection], T]) -> T:
        return self._writing(work)

    def _after_erasure(self) -> None:
        """Hook: make erased values unrecoverable from the files (SQLite's WAL)."""

    # -- writing -----------------------------------------------------------------

    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in one serialized write transaction and commit what it applied."""
        return self._writing(lambda db: work(Transaction(db, self._dialect)))

    def _delete_carts(self, db: Connection, cart_ids: Sequence[str]) -> int:
        """Remove carts and every row that refers to them; returns the other rows."""
        other = 0
        for chunk in _chunks(cart_ids):
            marks = _marks(len(chunk))
            for table in _CART_TABLES:
                other += db.count(f"DELETE FROM {table} WHERE cart_id IN ({marks})", chunk)
            db.count(f"DELETE FROM carts WHERE id IN ({marks})", chunk)
        return other

    def _delete_events(self, db: Connection, cart_ids: Sequence[str]) -> int:
        """Remove the outbox events of erased carts. They hold no personal data, but an
        erased cart leaves no trace; the outbox has no cart index (it would cost every
        capture a write), so this scans it: erasure is rare."""
        removed = 0
        for chunk in _chunks(cart_ids):
            removed += db.count(
                f"DELETE FROM outbox WHERE cart_id IN ({_marks(len(chunk))})",
                chunk,
            )
        return removed

    def erase_prospect(self, prospect: str) -> ErasureReport:
        """Remove a prospect from every table."""

        def erase(db: Connection) -> ErasureReport:
            ids = [
                row[0] for row in db.execute("SELECT id FROM carts WHERE prospect = ?", [prospect])
            ]
            other = self._delete_carts(db, ids) + self._delete_events(db, ids)
            for table in _PROSPECT_TABLES:
                other += db.count(f"DELETE FROM {table} WHERE prospect = ?", [prospect])
            consents = db.count("DELETE FROM consent_events WHERE prospect = ?", [prospect])
            return ErasureReport(carts=len(ids), consent_events=consents, other=other)

        report = self._writing(erase)
        if report != ErasureReport():  # nothing was there: nothing to scrub from the files
            self._after_erasure()
        return report

    def forget_session(self, session_id: str) -> ErasureReport:
        """Remove the carts a browser session touched and its ledger entries."""

        def forget(db: Connection) -> ErasureReport:
            ids = [
                row[0]
                for row in db.execute(
                    "SELECT cart_id FROM cart_sessions WHERE session_id = ?", [session_id]
                )
            ]
            other = self._delete_carts(db, ids) + self._delete_events(db, ids)
            consents = db.count("DELETE FROM consent_events WHERE session_id = ?", [session_id])
            return ErasureReport(carts=len(ids), consent_events=consents, other=other)

        report = self._writing(forget)
        if report != ErasureReport():
            self._after_erasure()
        return report

    def purge(self, older_than: datetime, *, now: datetime | None = None) -> int:
        """Remove carts idle since ``older_than`` (in short transactions), receipts past
        their lifetime, expired shared state, and outbox events no consumer needs."""
        cutoff = self._dialect.ts(older_than)
        removed = 0
        while True:

            def batch(db: Connection) -> int:
                ids = [
                    row[0]
                    for row in db.execute(
                        "SELECT id FROM carts WHERE updated_at < ? LIMIT ?", [cutoff, _CHUNK]
                    )
                ]
                self._delete_carts(db, ids)
                return len(ids)

            count = self._writing(batch)
            removed += count
            if count < _CHUNK:
                break
        moment = self._dialect.ts(now or datetime.now(UTC))
        receipts_cutoff = self._dialect.ts((now or datetime.now(UTC)) - RECEIPT_LIFETIME)

        def tidy(db: Connection) -> None:
            db.count("DELETE FROM capture_receipts WHERE at < ?", [receipts_cutoff])
            db.count("DELETE FROM flags WHERE until_at <= ?", [moment])
            db.count("DELETE FROM token_buckets WHERE expires_at <= ?", [moment])
            db.count(
                "DELETE FROM outbox WHERE occurred_at < ?"
                " AND seq <= (SELECT coalesce(min(cursor), (SELECT max(seq) FROM outbox))"
                " FROM consumers)"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = outbox.seq)",
                [cutoff],
            )

        self._writing(tidy)
        return removed

    # -- queries -----------------------------------------------------------------

    def get_cart(self, cart_id: str) -> Cart:
        """One cart by id."""
        rows = self._reading(
            lambda db: db.execute("SELECT body FROM carts WHERE id = ?", [cart_id])
        )
        if not rows:
            raise CartNotFoundError("no such cart", cart_id=cart_id)
        return Cart.model_validate_json(rows[0][0])

    def list_carts(self, query: CartQuery, *, limit: int = 50, offset: int = 0) -> CartPage:
        """Carts matching ``query``, newest first."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError(
                f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit", reason="out_of_range"
            )
        if offset < 0:
            raise InvalidInputError(
                "offset must not be negative", field="offset", reason="out_of_range"
            )
        clause, params = where(self._dialect, query)

        def read(db: Connection) -> tuple[int, list[Row]]:
            (total,) = db.execute(f"SELECT count(*) FROM carts{clause}", params)[0]
            rows = db.execute(
                f"SELECT body FROM carts{clause} ORDER BY created_at DESC, id DESC"
                " LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            return int(total), rows

        total, rows = self._reading(read)
        items = tuple(Cart.model_validate_json(body) for (body,) in rows)
        return CartPage(items=items, total=total, limit=limit, offset=offset)

    def _page_where(
        self, query: CartQuery, after: tuple[object, str] | None
    ) -> tuple[str, list[object]]:
        """The ``WHERE`` clause of one keyset page: after the first, the range ends at
        the last row's capture time, so the index search starts there (with the
        query's own end, every page walked the index down from it past every row
        already read: quadratic in the number of pages)."""
        if after is not None:
            query = replace(query, end=self._dialect.dt(after[0]))
        return where(self._dialect, query)

    def iter_carts(self, query: CartQuery, *, batch: int = 1000) -> Iterator[Cart]:
        """Every matching cart, newest first, ``batch`` at a time (keyset paging)."""
        if not 1 <= batch <= 10_000:
            raise InvalidInputError("batch must be 1-10000", field="batch", reason="out_of_range")
        after: tuple[object, str] | None = None
        while True:
            clause, params = self._page_where(query, after)
            sql = f"SELECT created_at, id, body FROM carts{clause}"
            page_params = list(params)
            if after is not None:
                sql += (" AND" if clause else " WHERE") + (
                    " (created_at < ? OR (created_at = ? AND id < ?))"
                )
                page_params += [after[0], after[0], after[1]]
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            page_params.append(batch)
            rows = self._reading(_statement(sql, page_params))
            for _, _, body in rows:
                yield Cart.model_validate_json(body)
            if len(rows) < batch:
                return
            after = (rows[-1][0], str(rows[-1][1]))

    def count_carts_by(
        self, key: Literal["product_id", "form_id"], query: CartQuery
    ) -> list[tuple[str | None, int]]:
        """Matching carts counted per product or per form, most first."""
        if key not in ("product_id", "form_id"):
            raise InvalidInputError("count by product_id or form_id", field="key", reason="invalid")
        clause, params = where(self._dialect, query)
        rows = self._reading(
            lambda db: db.execute(
                f"SELECT {key}, count(*) AS n FROM carts{clause} GROUP BY {key}"
                f" ORDER BY n DESC, {key}",
                params,
            )
        )
        # The same order on every backend: most first, then no value, then by value.
        ordered = sorted(rows, key=lambda row: (-int(row[1]), row[0] is not None, row[0] or ""))
        return [(value, int(count)) for value, count in ordered]

    def consent_events(self, prospect: str) -> list[ConsentEvent]:
        """A prospect's consent events, oldest first."""
        rows = self._reading(
            lambda db: db.execute(
                "SELECT body FROM consent_events WHERE prospect = ? ORDER BY at, seq", [prospect]
            )
        )
        return [ConsentEvent.model_validate_json(body) for (body,) in rows]

    def consent_ledgers(self, prospects: Collection[str]) -> dict[str, list[ConsentEvent]]:
        """Each prospect's consent events, oldest first, for many prospects at once."""
        if not prospects:
            return {}
        return self._reading(lambda db: Transaction(db, self._dialect).consent_events(prospects))

    def consent_event(self, consent_id: str) -> ConsentEvent | None:
        """One ledger entry by id (``None`` once erased)."""
        rows = self._reading(
            lambda db: db.execute("SELECT body FROM consent_events WHERE id = ?", [consent_id])
        )
        return ConsentEvent.model_validate_json(rows[0][0]) if rows else None

    def clicks(self, cart_id: str) -> list[Click]:
        """A cart's recovery-link clicks, oldest first."""
        rows = self._reading(
            lambda db: db.execute(
                "SELECT at, utm FROM link_clicks WHERE cart_id = ? ORDER BY seq", [cart_id]
            )
        )
        return [Click(cart_id, self._dialect.dt(at), json.loads(utm)) for at, utm in rows]

    def devices(self, prospect: str) -> list[PushDevice]:
        """A prospect's push devices, oldest first (invalidated ones included)."""
        rows = self._reading(
            lambda db: db.execute(
                "SELECT body FROM devices WHERE prospect = ? ORDER BY registered_at, token",
                [prospect],
            )
        )
        return [PushDevice.model_validate_json(body) for (body,) in rows]

    def social_recipients(self, prospect: str) -> list[SocialRecipient]:
        """A prospect's Messenger and Instagram recipients, oldest first."""
        rows = self._reading(
            lambda db: db.execute(
                "SELECT body FROM social_recipients WHERE prospect = ?"
                " ORDER BY opted_in_at, recipient_id",
                [prospect],
            )
        )
        return [SocialRecipient.model_validate_json(body) for (body,) in rows]

    def messages(
        self, *, prospect: str | None = None, cart_id: str | None = None
    ) -> list[MessageRecord]:
        """Recovery message records of a prospect or of one cart, oldest first."""
        if (prospect is None) == (cart_id is None):
            raise InvalidInputError("give prospect or cart_id", field="prospect", reason="missing")
        column, value = ("prospect", prospect) if prospect is not None else ("cart_id", cart_id)
        rows = self._reading(
            lambda db: db.execute(
                f"SELECT body FROM messages WHERE {column} = ? ORDER BY at, id", [value]
            )
        )
        return [MessageRecord.model_validate_json(body) for (body,) in rows]

    def iter_messages(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch: int = 1000,
    ) -> Iterator[MessageRecord]:
        """Message records with ``at`` in ``[since, until]``, by id, ``batch`` at a time."""
        if not 1 <= batch <= 10_000:
            raise InvalidInputError("batch must be 1-10000", field="batch", reason="out_of_range")
        bounds = ""
        params: list[object] = []
        if since is not None:
            bounds += " AND at >= ?"
            params.append(self._dialect.ts(since))
        if until is not None:
            bounds += " AND at <= ?"
            params.append(self._dialect.ts(until))
        after = ""
        while True:
            rows = self._reading(
                _statement(
                    f"SELECT id, body FROM messages WHERE id > ?{bounds} ORDER BY id LIMIT ?",
                    [after, *params, batch],
                )
            )
            for _, body in rows:
                yield MessageRecord.model_validate_json(body)
            if len(rows) < batch:
                return
            after = str(rows[-1][0])

    def activities(self, prospect: str) -> list[Activity]:
        """A prospect's tracked activity, oldest first."""
        rows = self._reading(
            lambda db: db.execute(
                "SELECT body FROM activities WHERE prospect = ? ORDER BY at, seq", [prospect]
            )
        )
        return [Activity.model_validate_json(body) for (body,) in rows]

    def prospect_by_phone(self, phone: str) -> str | None:
        """The prospect last texted at this E.164 number, if any."""
        rows = self._reading(
            lambda db: db.execute("SELECT prospect FROM sms_numbers WHERE phone = ?", [phone])
        )
        return str(rows[0][0]) if rows else None

    def replies(self, *, prospect: str | None = None, limit: int = 100) -> list[Reply]:
        """Replies of a prospect, or the latest of everyone's, newest first."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError("limit must be 1-1000", field="limit", reason="out_of_range")
        sql, params = "SELECT body FROM replies", list[object]([limit])
        if prospect is not None:
            sql, params = sql + " WHERE prospect = ?", [prospect, limit]
        rows = self._reading(_statement(sql + " ORDER BY at DESC, id DESC LIMIT ?", params))
        return [Reply.model_validate_json(body) for (body,) in rows]

    def engagements(self, cart_id: str) -> list[Engagement]:
        """The engagements with the messages about a cart, oldest first."""
        found = self._reading(lambda db: Transaction(db, self._dialect).engagements_of([cart_id]))
        return found.get(cart_id, [])

    def prospect_enrolments(self, prospects: Collection[str]) -> dict[str, list[Enrolment]]:
        """Every enrolment of each of these prospects."""

        def read(db: Connection) -> dict[str, list[Enrolment]]:
            found: dict[str, list[Enrolment]] = {}
            for chunk in _chunks(sorted(set(prospects))):
                sql = f"SELECT body FROM enrolments WHERE prospect IN ({_marks(len(chunk))})"
                for (body,) in db.execute(sql, chunk):
                    enrolment = Enrolment.model_validate_json(body)
                    found.setdefault(enrolment.prospect, []).append(enrolment)
            return found

        return self._reading(read)

    def report_batches(
        self, query: CartQuery, *, batch: int = 1000, prospects: bool = False
    ) -> Iterator[ReportBatch]:
        """The matching carts, newest first, a page at a time with what reports read."""
        if not 1 <= batch <= 10_000:
            raise InvalidInputError("batch must be 1-10000", field="batch", reason="out_of_range")
        after: tuple[object, str] | None = None
        while True:
            clause, params = self._page_where(query, after)
            sql = f"SELECT created_at, id, body FROM carts{clause}"
            page_params = list(params)
            if after is not None:
                sql += (" AND" if clause else " WHERE") + (
                    " (created_at < ? OR (created_at = ? AND id < ?))"
                )
                page_params += [after[0], after[0], after[1]]
            sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
            page_params.append(batch)

            def read(db: Connection, sql: str = sql, bound: list[object] = page_params) -> Any:
                rows = db.execute(sql, bound)
                return rows, self._batch_of(db, [body for _, _, body in rows], prospects)

            rows, page = self._reading(read)
            if page.carts:
                yield page
            if len(rows) < batch:
                return
            after = (rows[-1][0], str(rows[-1][1]))

    def _batch_of(self, db: Connection, bodies: list[str], prospects: bool) -> ReportBatch:
        carts = tuple(Cart.model_validate_json(body) for body in bodies)
        ids = [cart.id for cart in carts]
        tx = Transaction(db, self._dialect)
        enrolments = tx.enrolments(ids)
        consent: dict[str, list[ConsentEvent]] = {}
        owned: dict[str, list[tuple[str, datetime, CartStatus]]] = {}
        if prospects:
            keys = sorted({p for cart in carts if (p := cart.contact.prospect_key)})
            consent = tx.consent_events(keys)
            for chunk in _chunks(keys):
                for prospect, cart_id, created, status in db.execute(
                    "SELECT prospect, id, created_at, status FROM carts"
                    f" WHERE prospect IN ({_marks(len(chunk))}) ORDER BY created_at, id",
                    chunk,
                ):
                    owned.setdefault(prospect, []).append(
                        (cart_id, self._dialect.dt(created), status)
                    )
        return ReportBatch(
            carts=carts,
            messages=tx.messages_of(ids),
            engagements=tx.engagements_of(ids),
            enrolments=enrolments,
            consent=consent,
            prospect_carts=owned,
        )

    def headline_counts(self, query: CartQuery) -> HeadlineCounts:
        """Carts matching ``query``, those contacted, and flow entries by control group."""
        clause, params = where(self._dialect, query)
        carts = f"SELECT id FROM carts{clause}"

        def read(db: Connection) -> HeadlineCounts:
            ((abandoned,),) = db.execute(f"SELECT count(*) FROM carts{clause}", params)
            ((contacted,),) = db.execute(
                "SELECT count(DISTINCT cart_id) FROM messages"
                f" WHERE status = 'sent' AND cart_id IN ({carts})",
                params,
            )
            groups = db.execute(
                "SELECT flow_id, CASE WHEN exit_reason = 'control_group' THEN 1 ELSE 0 END,"
                f" count(*) FROM enrolments WHERE cart_id IN ({carts}) GROUP BY 1, 2",
                params,
            )
            return HeadlineCounts(
                abandoned=int(abandoned),
                contacted=int(contacted),
                flow_groups={(flow, bool(held)): int(n) for flow, held, n in groups},
            )

        return self._reading(read)

    def save_segment(self, name: str, segment_json: str | None, *, at: datetime) -> None:
        """Store (or, with ``None``, remove) a named segment's JSON."""
        changes = Changes(segments=((name, segment_json, at),))
        self.write(lambda tx: tx.apply(changes))

    def segments(self) -> dict[str, str]:
        """Saved segments: name -> JSON, by name."""
        rows = self._reading(_statement("SELECT name, body FROM segments ORDER BY name", ()))
        return {str(name): str(body) for name, body in rows}

    def get_carts(self, ids: Collection[str]) -> dict[str, Cart]:
        """The carts with these ids that exist."""
        return self._reading(lambda db: Transaction(db, self._dialect).carts(ids))

    def prospect_data(self, prospects: Collection[str]) -> dict[str, ProspectData]:
        """What the planner reads about each prospect, a few queries for all of them."""
        wanted = sorted(set(prospects))
        found: dict[str, dict[str, list[Any]]] = {p: {} for p in wanted}
        parse_at: Callable[[Any], Any] = self._dialect.dt
        sources = [
            (name, f"SELECT prospect, body FROM {table} WHERE prospect IN ({{}}) ORDER BY {order}",
             model.model_validate_json)
            for name, table, order, model in _PLANNER_READS
        ] + [("replies", _LAST_REPLY, parse_at)]  # fmt: skip

        def read(db: Connection) -> None:
            for chunk in _chunks(wanted):
                marks = _marks(len(chunk))
                results = db.batch([(sql.format(marks), chunk) for _, sql, _ in sources])
                for (name, _, parse), rows in zip(sources, results, strict=True):
                    for prospect, value in rows:
                        found[prospect].setdefault(name, []).append(parse(value))

        self._reading(read)
        return {
            prospect: ProspectData(
                carts=tuple(parts.get("carts", ())),
                consent=tuple(parts.get("consent", ())),
                messages=tuple(parts.get("messages", ())),
                activities=tuple(parts.get("activities", ())),
                devices=tuple(parts.get("devices", ())),
                recipients=tuple(parts.get("recipients", ())),
                last_reply_at=(parts.get("replies") or [None])[0],
            )
            for prospect, parts in found.items()
        }

    def enrolment(self, cart_id: str) -> Scheduled | None:
        """A cart's enrolment and when it is next due."""
        rows = self._reading(
            lambda db: db.execute(
                "SELECT body, due_at FROM enrolments WHERE cart_id = ?", [cart_id]
            )
        )
        if not rows:
            return None
        body, due = rows[0]
        return Scheduled(
            Enrolment.model_validate_json(body), None if due is None else self._dialect.dt(due)
        )

    def claim_enrolments(
        self,
        *,
        owner: str,
        now: datetime,
        limit: int = 100,
        lease: timedelta = timedelta(minutes=2),
    ) -> list[Enrolment]:
        """Lease the enrolments due at ``now`` to ``owner``, earliest due first."""
        if not 1 <= limit <= 10_000:
            raise InvalidInputError("limit must be 1-10000", field="limit", reason="out_of_range")
        moment, until = self._dialect.ts(now), self._dialect.ts(now + lease)

        def claim(db: Connection) -> list[Enrolment]:
            rows = db.execute(
                "UPDATE enrolments SET lease_owner = ?, lease_until = ? WHERE cart_id IN ("
                "SELECT cart_id FROM enrolments WHERE due_at <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?)"
                f" ORDER BY due_at LIMIT ?{self._skip_locked}) RETURNING body, due_at",
                [owner, until, moment, moment, limit],
            )
            ordered = sorted(rows, key=lambda row: (self._dialect.dt(row[1]), row[0]))
            return [Enrolment.model_validate_json(body) for body, _ in ordered]

        return self._claiming(claim)

    # -- the outbox --------------------------------------------------------------

    def register_consumer(
        self,
        name: str,
        *,
        types: Collection[EventType] | None = None,
        ordered_per_cart: bool = False,
        start: Literal["beginning", "now"] = "now",
    ) -> None:
        """Declare a consumer, or update its types and ordering."""
        if not name or len(name) > 128:
            raise InvalidInputError(
                "consumer name 1-128 characters", field="name", reason="invalid"
            )
        type_list = None if types is None else json.dumps(sorted(set(types)))

        def register(db: Connection) -> None:
            cursor = "0" if start == "beginning" else "(SELECT coalesce(max(seq), 0) FROM outbox)"
            db.count(
                "INSERT INTO consumers (name, types, ordered_per_cart, cursor)"
                f" VALUES (?, ?, ?, {cursor}) ON CONFLICT (name) DO UPDATE"
                " SET types = excluded.types, ordered_per_cart = excluded.ordered_per_cart",
                [name, type_list, bool(ordered_per_cart)],
            )

        self._writing(register)

    def _consumer(self, db: Connection, consumer: str, lock: str = "") -> tuple[Any, ...]:
        rows = db.execute(
            f"SELECT types, ordered_per_cart, cursor FROM consumers WHERE name = ?{lock}",
            [consumer],
        )
        if not rows:
            raise InvalidInputError(
                "no such consumer: register it first", field="consumer", reason="unknown"
            )
        return rows[0]

    def _fan_out(self, db: Connection, consumer: str, now: datetime) -> None:
        types_json, _, cursor = self._consumer(db, consumer, self._lock_consumer)
        rows = db.execute(
            "SELECT seq, type, cart_id FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            [cursor, _FANOUT],
        )
        if not rows:
            return
        types = None if types_json is None else set(json.loads(types_json))
        wanted = [row for row in rows if types is None or row[1] in types]
        due = self._dialect.ts(now)
        for chunk in _chunks(wanted):
            params: list[object] = []
            for seq, _, cart_id in chunk:
                params += (consumer, seq, cart_id, due)
            db.count(
                "INSERT INTO deliveries (consumer, seq, cart_id, state, attempts,"
                " next_attempt_at) VALUES "
                + ", ".join(["(?, ?, ?, 'pending', 0, ?)"] * len(chunk))
                + " ON CONFLICT DO NOTHING",
                params,
            )
        db.count("UPDATE consumers SET cursor = ? WHERE name = ?", [rows[-1][0], consumer])

    _lock_consumer: str = ""  # PostgreSQL: FOR UPDATE, so one worker fans out at a time

    def claim(
        self,
        consumer: str,
        *,
        owner: str,
        now: datetime,
        limit: int = 100,
        lease: timedelta = timedelta(minutes=1),
    ) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries to ``owner``."""
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be 1-1000", field="limit", reason="out_of_range")
        moment = self._dialect.ts(now)
        until = self._dialect.ts(now + lease)

        def claim(db: Connection) -> list[Delivery]:
            self._fan_out(db, consumer, now)
            _, ordered, _ = self._consumer(db, consumer)
            in_order = (
                " AND (d.cart_id IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e"
                " WHERE e.consumer = d.consumer AND e.cart_id = d.cart_id"
                " AND e.state = 'pending' AND e.seq < d.seq))"
                if ordered
                else ""
            )
            rows = db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, lease_owner = ?,"
                " lease_until = ? WHERE consumer = ? AND seq IN (SELECT d.seq FROM deliveries d"
                " WHERE d.consumer = ? AND d.state = 'pending' AND d.next_attempt_at <= ?"
                f" AND (d.lease_until IS NULL OR d.lease_until <= ?){in_order}"
                f" ORDER BY d.seq LIMIT ?{self._skip_locked})"
                " RETURNING seq, attempts, cart_id, last_error, next_attempt_at, lease_until",
                [owner, until, consumer, consumer, moment, moment, limit],
            )
            if not rows:
                return []
            seqs = sorted(row[0] for row in rows)
            data: dict[int, str] = dict(
                db.execute(
                    f"SELECT seq, data FROM outbox WHERE seq IN ({_marks(len(seqs))})",
                    seqs,
                )
            )
            found = [
                Delivery(
                    consumer=consumer,
                    seq=seq,
                    event=parse_event(data[seq]),
                    attempts=attempts,
                    cart_id=cart_id,
                    last_error=error,
                    next_attempt_at=self._dialect.dt(due),
                    lease_until=self._dialect.dt(leased),
                )
                for seq, attempts, cart_id, error, due, leased in rows
                if seq in data
            ]
            return sorted(found, key=lambda delivery: delivery.seq)

        return self._claiming(claim)

    def settle(self, consumer: str, settlements: Sequence[Settlement], *, now: datetime) -> None:
        """Record what became of claimed deliveries."""
        done = [s.seq for s in settlements if s.outcome == "done"]
        later = [s for s in settlements if s.outcome != "done"]
        moment = self._dialect.ts(now)

        def settle(db: Connection) -> None:
            for chunk in _chunks(done):
                db.count(
                    f"DELETE FROM deliveries WHERE consumer = ? AND seq IN ({_marks(len(chunk))})",
                    [consumer, *chunk],
                )
            for item in later:
                if item.outcome == "release":
                    db.count(
                        "UPDATE deliveries SET next_attempt_at = ?,"
                        " last_error = coalesce(?, last_error),"
                        " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
                        " lease_owner = NULL, lease_until = NULL"
                        " WHERE consumer = ? AND seq = ? AND state = 'pending'",
                        [
                            self._dialect.ts(item.retry_at or now),
                            None if item.error is None else item.error[:200],
                            consumer,
                            item.seq,
                        ],
                    )
                elif item.outcome == "retry":
                    at = self._dialect.ts(item.retry_at or now)
                    db.count(
                        "UPDATE deliveries SET next_attempt_at = ?, last_error = ?,"
                        " lease_owner = NULL, lease_until = NULL"
                        " WHERE consumer = ? AND seq = ? AND state = 'pending'",
                        [at, (item.error or "")[:200], consumer, item.seq],
                    )
                else:
                    db.count(
                        "UPDATE deliveries SET state = 'dead', last_error = ?, dead_at = ?,"
                        " lease_owner = NULL, lease_until = NULL WHERE consumer = ? AND seq = ?",
                        [(item.error or "")[:200], moment, consumer, item.seq],
                    )

        self._claiming(settle)

    def dead_letters(
        self,
        consumer: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """A consumer's dead letters, oldest first."""
        sql = (
            "SELECT d.seq, d.attempts, d.cart_id, d.last_error, o.data FROM deliveries d"
            " JOIN outbox o ON o.seq = d.seq WHERE d.consumer = ? AND d.state = 'dead'"
        )
        params: list[object] = [consumer]
        if since is not None:
            sql += " AND o.occurred_at >= ?"
            params.append(self._dialect.ts(since))
        if until is not None:
            sql += " AND o.occurred_at <= ?"
            params.append(self._dialect.ts(until))
        rows = self._reading(
            lambda db: db.execute(sql + " ORDER BY d.seq LIMIT ?", [*params, limit])
        )
        return [
            Delivery(consumer, seq, parse_event(data), attempts, cart_id, error)
            for seq, attempts, cart_id, error, data in rows
        ]

    def replay(
        self,
        consumer: str,
        *,
        now: datetime,
        seqs: Collection[int] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Make dead letters due again; returns how many."""
        sql = (
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?,"
            " last_error = NULL, dead_at = NULL WHERE consumer = ? AND state = 'dead'"
        )
        params: list[object] = [self._dialect.ts(now), consumer]
        if seqs is not None:
            chosen = sorted(set(seqs))
            if not chosen:
                return 0
            sql += f" AND seq IN ({_marks(len(chosen))})"
            params += chosen
        if since is not None or until is not None:
            sql += (
                " AND seq IN (SELECT seq FROM outbox WHERE occurred_at >= ? AND occurred_at <= ?)"
            )
            params += [
                self._dialect.ts(since or datetime(1970, 1, 1, tzinfo=UTC)),
                self._dialect.ts(until or datetime(9999, 1, 1, tzinfo=UTC)),
            ]
        return self._claiming(lambda db: db.count(sql, params))

    def consumer_stats(self, consumer: str) -> ConsumerStats:
        """Where a consumer stands."""

        def read(db: Connection) -> ConsumerStats:
            _, _, cursor = self._consumer(db, consumer)
            (head,) = db.execute("SELECT coalesce(max(seq), 0) FROM outbox")[0]
            rows = db.execute(
                "SELECT state, lease_until IS NOT NULL, count(*) FROM deliveries"
                " WHERE consumer = ? GROUP BY state, lease_until IS NOT NULL",
                [consumer],
            )
            pending = sum(int(n) for state, _, n in rows if state == "pending")
            leased = sum(int(n) for state, held, n in rows if state == "pending" and held)
            dead = sum(int(n) for state, _, n in rows if state == "dead")
            return ConsumerStats(consumer, int(cursor), int(head), pending, leased, dead)

        return self._reading(read)

    # -- shared state ------------------------------------------------------------

    def take_token(
        self, bucket: str, key: str, *, capacity: float, per_second: float, now: datetime
    ) -> float | None:
        """Take one token from ``key``'s bucket; ``None`` when taken, else seconds to wait."""
        if capacity < 1 or per_second <= 0:
            raise InvalidInputError(
                "capacity >= 1, per_second > 0", field="bucket", reason="invalid"
            )

        def take(db: Connection) -> float | None:
            rows = db.execute(
                "SELECT tokens, updated_at FROM token_buckets WHERE bucket = ? AND key = ?",
                [bucket, key],
            )
            tokens = float(capacity)
            if rows:
                elapsed = max(0.0, (now - self._dialect.dt(rows[0][1])).total_seconds())
                tokens = min(float(capacity), float(rows[0][0]) + elapsed * per_second)
            wait: float | None = None
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / per_second
            full_at = now + timedelta(seconds=(capacity - tokens) / per_second)
            db.count(
                "INSERT INTO token_buckets (bucket, key, tokens, updated_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (bucket, key) DO UPDATE SET"
                " tokens = excluded.tokens, updated_at = excluded.updated_at,"
                " expires_at = excluded.expires_at",
                [bucket, key, tokens, self._dialect.ts(now), self._dialect.ts(full_at)],
            )
            return wait

        return self._writing(take)

    def flag(self, kind: str, key: str, *, until: datetime) -> None:
        """Set a flag that lasts until ``until`` (a later ``until`` wins)."""
        moment = self._dialect.ts(until)
        self._writing(
            lambda db: db.count(
                "INSERT INTO flags (kind, key, until_at) VALUES (?, ?, ?)"
                " ON CONFLICT (kind, key) DO UPDATE SET until_at = CASE"
                " WHEN excluded.until_at > flags.until_at THEN excluded.until_at"
                " ELSE flags.until_at END",
                [kind, key, moment],
            )
        )

    def flagged_until(self, kind: str, key: str, *, now: datetime) -> datetime | None:
        """When the flag on ``key`` ends, if it is set at ``now``."""
        rows = self._reading(
            lambda db: db.execute(
                "SELECT until_at FROM flags WHERE kind = ? AND key = ? AND until_at > ?",
                [kind, key, self._dialect.ts(now)],
            )
        )
        return self._dialect.dt(rows[0][0]) if rows else None

    # -- webhook endpoints, tickets (issue 13) -------------------------------------------

    def endpoints(self) -> list[EndpointRecord]:
        """Every webhook endpoint, by id."""
        rows = self._reading(
            _statement(f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id", [])
        )
        return [endpoint_record(self._dialect, row) for row in rows]

    def endpoint(self, endpoint_id: str) -> EndpointRecord | None:
        """One webhook endpoint, if it exists."""
        rows = self._reading(
            _statement(
                f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?", [endpoint_id]
            )
        )
        return endpoint_record(self._dialect, rows[0]) if rows else None

    def remove_endpoint(self, endpoint_id: str) -> bool:
        """Remove an endpoint and its consumer ``webhook:<id>`` with its deliveries."""
        consumer = f"webhook:{endpoint_id}"

        def remove(db: Connection) -> bool:
            db.count("DELETE FROM deliveries WHERE consumer = ?", [consumer])
            db.count("DELETE FROM consumers WHERE name = ?", [consumer])
            return db.count("DELETE FROM webhook_endpoints WHERE id = ?", [endpoint_id]) > 0

        return self._writing(remove)

    def remove_consumer(self, name: str) -> bool:
        """Forget a consumer, its deliveries and its dead letters."""

        def remove(db: Connection) -> bool:
            db.count("DELETE FROM deliveries WHERE consumer = ?", [name])
            return db.count("DELETE FROM consumers WHERE name = ?", [name]) > 0

        return self._writing(remove)

    def ticket(self, ticket_id: str) -> Ticket | None:
        """One ticket, if it exists."""
        rows = self._reading(_statement("SELECT body FROM tickets WHERE id = ?", [ticket_id]))
        return Ticket.model_validate_json(rows[0][0]) if rows else None

    def list_tickets(self, query: TicketQuery, *, limit: int = 50, offset: int = 0) -> list[Ticket]:
        """Tickets matching ``query``, newest first."""
        if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
            raise InvalidInputError(
                "limit must be 1-1000 and offset not negative", field="limit", reason="out_of_range"
            )
        clause, params = _ticket_where(query)
        rows = self._reading(
            _statement(
                f"SELECT body FROM tickets{clause} ORDER BY created_at DESC, id DESC"
                " LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        )
        return [Ticket.model_validate_json(body) for (body,) in rows]

    def count_tickets(self, query: TicketQuery) -> int:
        """How many tickets match ``query``."""
        clause, params = _ticket_where(query)
        rows = self._reading(_statement(f"SELECT count(*) FROM tickets{clause}", params))
        return int(rows[0][0])

    def open_cart_page(self, *, after: str | None, limit: int = 500) -> list[Cart]:
        """Open carts by id, those after ``after``."""
        if not 1 <= limit <= 10_000:
            raise InvalidInputError("limit must be 1-10000", field="limit", reason="out_of_range")
        rows = self._reading(
            _statement(
                "SELECT body FROM carts WHERE status = 'open' AND id > ? ORDER BY id LIMIT ?",
                [after or "", limit],
            )
        )
        return [Cart.model_validate_json(body) for (body,) in rows]
