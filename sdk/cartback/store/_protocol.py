"""The storage contract. Nothing here knows about SQLite or PostgreSQL.

The SDK decides, the store persists. Which open cart a capture merges into, the merged
result, which consent events change the ledger and which domain events follow are pure
functions of the SDK; a store runs them inside one write transaction
(``Store.write``), applies the ``Changes`` they return atomically, and answers queries.

Write transactions are serialized (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: one
advisory lock taken first), so what a transaction reads stays true until it commits,
whichever process or thread writes. Keep them short: batch work, never wait on the
network inside one.

The outbox: every transaction appends its domain events; the order of ``seq`` is the
order of commits. Each consumer (a webhook endpoint, the flow engine, ticket rules,
metrics) reads the same events independently: ``claim`` copies the events past its
cursor into per-consumer deliveries and leases the due ones (SQLite: in a write
transaction; PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so two workers never hold the same
delivery and a crashed worker's lease expires; ``settle`` records what became of them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol, TypeVar, runtime_checkable

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
from cartback.events import DomainEvent, EventType
from cartback.flows._enrolment import Enrolment
from cartback.reports._engagement import Engagement
from cartback.tickets._ticket import Ticket, TicketStatus

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
    "HeadlineCounts",
    "OrderClosure",
    "ProspectData",
    "ReadTransaction",
    "Receipt",
    "ReportBatch",
    "SaveOutcome",
    "SaveStatus",
    "Scheduled",
    "Settlement",
    "Store",
    "TicketQuery",
]

T = TypeVar("T")

SaveStatus = Literal["stored", "updated", "unchanged"]
"""``stored``: a new cart; ``updated``: fields merged into the open cart, or a consent
box changed what is in force; ``unchanged``: the capture repeated what the open cart
and the ledger already hold (or was a retry of a capture already saved, or arrived late
from the browser session that already bought)."""

CartKey = tuple[str, str]
"""``(prospect, form_id)``: a prospect has at most one open cart per order form."""


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What saving a capture did."""

    status: SaveStatus
    """New cart, merged, or nothing to change."""
    cart: Cart
    """The cart as stored after the save."""
    consents_recorded: int = 0
    """Consent events appended (boxes that change nothing in force are not repeated)."""
    duplicate: bool = False
    """The capture's ``event_id`` was already saved: a retried request, nothing written."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """A saved capture's ``event_id``, so a retried request is recognised (24 hours)."""

    event_id: str
    """The capture's ``event_id`` (from the snippet)."""
    cart_id: str
    """The cart it was saved into."""
    status: SaveStatus
    """What saving it did the first time."""
    at: datetime
    """When it was saved (UTC)."""


@dataclass(frozen=True, slots=True)
class Click:
    """One click on a recovery link."""

    cart_id: str
    """The cart the link reopens."""
    at: datetime
    """When (UTC)."""
    utm: Mapping[str, str] = field(default_factory=dict)
    """Its UTM parameters."""


@dataclass(frozen=True, slots=True)
class Scheduled:
    """An enrolment as the store keeps it: its state and when it is next due."""

    enrolment: Enrolment
    """The enrolment's state."""
    due_at: datetime | None
    """When the dispatcher should look at it again (UTC); ``None``: never by itself
    (finished, or paused until staff resume it)."""


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """A webhook endpoint as the store keeps it: its settings and its delivery health,
    shared by every receiver and worker on the database."""

    id: str
    """The endpoint's id (its outbox consumer is ``webhook:<id>``)."""
    config: str
    """Its settings as JSON (``WebhookEndpoint``), secrets included: never shown."""
    enabled: bool
    """Whether deliveries may be made (the settings' ``disabled`` is unset)."""
    created_at: datetime
    """When it was added (UTC)."""
    updated_at: datetime
    """When its settings or health last changed (UTC)."""
    failing_since: datetime | None = None
    """The first failed attempt since the last success; ``None`` while healthy."""
    consecutive_failures: int = 0
    """Failed attempts since the last success."""
    last_success_at: datetime | None = None
    """The last attempt answered 2xx."""
    last_failure_at: datetime | None = None
    """The last failed attempt."""


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """Filters for listing tickets; they combine with AND."""

    status: TicketStatus | None = None
    """``open``, ``assigned`` or ``closed``."""
    assignee: str | None = None
    """One salesperson's tickets."""
    cart_id: str | None = None
    """The tickets of one cart."""
    prospect: str | None = None
    """The tickets of one prospect (their key)."""


@dataclass(frozen=True, slots=True)
class ProspectData:
    """Everything the flow planner reads about one prospect, read in one go."""

    carts: tuple[Cart, ...] = ()
    """The prospect's carts, oldest first."""
    consent: tuple[ConsentEvent, ...] = ()
    """The consent ledger, oldest first."""
    messages: tuple[MessageRecord, ...] = ()
    """Recovery message records, oldest first."""
    activities: tuple[Activity, ...] = ()
    """Tracked activity, oldest first."""
    devices: tuple[PushDevice, ...] = ()
    """Push devices."""
    recipients: tuple[SocialRecipient, ...] = ()
    """Messenger and Instagram recipients."""
    last_reply_at: datetime | None = None
    """When the prospect last replied, if ever."""


@dataclass(frozen=True, slots=True)
class ReportBatch:
    """One page of carts with what reports read about them (``Store.report_batches``)."""

    carts: tuple[Cart, ...]
    """The carts, newest first."""
    messages: Mapping[str, Sequence[MessageRecord]]
    """Cart id -> its recovery message records, oldest first."""
    engagements: Mapping[str, Sequence[Engagement]]
    """Cart id -> the engagements with those messages, oldest first."""
    enrolments: Mapping[str, Enrolment]
    """Cart id -> its flow enrolment, for carts that entered a flow."""
    consent: Mapping[str, Sequence[ConsentEvent]] = field(default_factory=dict)
    """Prospect -> the consent ledger, oldest first (when asked for)."""
    prospect_carts: Mapping[str, Sequence[tuple[str, datetime, CartStatus]]] = field(
        default_factory=dict
    )
    """Prospect -> every cart of theirs as ``(id, created_at, status)``, oldest first
    (when asked for)."""


@dataclass(frozen=True, slots=True)
class HeadlineCounts:
    """What the headline figures count in the database itself."""

    abandoned: int
    """Carts captured in the period (whatever became of them)."""
    contacted: int
    """Of those, carts with at least one sent recovery message."""
    flow_groups: Mapping[tuple[str, bool], int]
    """``(flow id, held out)`` -> carts of the period that entered the flow, in its
    control group (``True``) or not."""


@dataclass(frozen=True, slots=True)
class Changes:
    """Everything one write transaction stores, decided by the SDK beforehand."""

    new_carts: tuple[Cart, ...] = ()
    """Carts to insert."""
    updated_carts: tuple[Cart, ...] = ()
    """Carts to replace, by id (each in its new state)."""
    sessions: tuple[tuple[str, str], ...] = ()
    """``(session_id, cart_id)`` links to add: which browser sessions touched a cart."""
    consent: tuple[ConsentEvent, ...] = ()
    """Ledger entries to append."""
    receipts: tuple[Receipt, ...] = ()
    """Capture receipts to keep (retry detection)."""
    clicks: tuple[Click, ...] = ()
    """Recovery-link clicks to record."""
    devices: tuple[PushDevice, ...] = ()
    """Push devices to register or replace, by platform and token."""
    social: tuple[SocialRecipient, ...] = ()
    """Messenger and Instagram recipients to register or replace."""
    enrolments: tuple[Scheduled, ...] = ()
    """Flow enrolments to store or replace, by cart (a replaced one is released)."""
    messages: tuple[MessageRecord, ...] = ()
    """Recovery message records to store or replace, by id."""
    activities: tuple[Activity, ...] = ()
    """Tracked activity to record."""
    replies: tuple[Reply, ...] = ()
    """Replies to record."""
    sms_numbers: tuple[tuple[str, str, datetime], ...] = ()
    """``(E.164 phone, prospect, at)``: numbers texted, so an SMS reply finds its
    prospect."""
    events: tuple[DomainEvent, ...] = ()
    """Domain events to append to the outbox, in order."""
    endpoints: tuple[EndpointRecord, ...] = ()
    """Webhook endpoints to store or replace, by id."""
    tickets: tuple[Ticket, ...] = ()
    """Tickets to store or replace, by id (a new one whose ``dedupe_key`` is taken is an
    error: read ``tickets_by_key`` first)."""
    engagements: tuple[Engagement, ...] = ()
    """Engagements with recovery messages to record (deliveries, opens, clicks, replies,
    unsubscribes)."""
    segments: tuple[tuple[str, str | None, datetime], ...] = ()
    """``(name, segment JSON, at)``: saved segments to store or replace at ``at``; a
    ``None`` JSON removes the segment."""

    def __bool__(self) -> bool:
        return any(
            (
                self.new_carts,
                self.updated_carts,
                self.sessions,
                self.consent,
                self.receipts,
                self.clicks,
                self.devices,
                self.social,
                self.enrolments,
                self.messages,
                self.activities,
                self.replies,
                self.sms_numbers,
                self.events,
                self.endpoints,
                self.tickets,
                self.engagements,
                self.segments,
            )
        )


@dataclass(frozen=True, slots=True)
class CartQuery:
    """Filters for listing carts; every filter is optional and they combine with AND.

    ``start``/``end`` bound the capture time (``created_at``) and are inclusive; a
    ``date`` means the whole day in UTC.
    """

    start: date | datetime | None = None
    """Earliest capture time (inclusive)."""
    end: date | datetime | None = None
    """Latest capture time (inclusive)."""
    email: str | None = None
    """Exact email address (case-insensitive)."""
    email_contains: str | None = None
    """Part of an email address (case-insensitive)."""
    form_id: str | None = None
    """One order form."""
    product_id: str | None = None
    """One product."""
    status: CartStatus | None = None
    """``open``, ``submitted`` or ``ordered``."""


@dataclass(frozen=True, slots=True)
class CartPage:
    """One page of carts, newest first."""

    items: tuple[Cart, ...]
    """The carts on this page."""
    total: int
    """How many carts match the query in all."""
    limit: int
    """Page size asked for."""
    offset: int
    """Position of the first item."""

    @property
    def has_more(self) -> bool:
        """Whether a further page exists."""
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """How many rows an erasure removed, per kind."""

    carts: int = 0
    """Carts removed."""
    consent_events: int = 0
    """Consent ledger entries removed."""
    other: int = 0
    """Other rows that named the prospect or their carts (sessions, clicks, receipts,
    deliveries not yet made, devices, messages...)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox event as one consumer sees it."""

    consumer: str
    """The consumer's name."""
    seq: int
    """The event's position in the outbox."""
    event: DomainEvent
    """The event."""
    attempts: int
    """How many times it was claimed, this claim included."""
    cart_id: str | None = None
    """The cart the event is about, if any."""
    last_error: str | None = None
    """What went wrong on the last attempt (a short code, never personal data)."""
    next_attempt_at: datetime | None = None
    """When it is due (UTC)."""
    lease_until: datetime | None = None
    """Until when the claiming worker holds it (UTC)."""


@dataclass(frozen=True, slots=True)
class Settlement:
    """What became of one claimed delivery: ``done``, ``retry`` at a time, or ``dead``."""

    seq: int
    """The delivery's event ``seq``."""
    outcome: Literal["done", "retry", "dead", "release"]
    """Delivered (or nothing to do), try again at ``retry_at``, give up, or hand back
    unattempted for ``retry_at`` (``release``: the claim's attempt is not counted)."""
    retry_at: datetime | None = None
    """For ``retry``: when the next attempt is due."""
    error: str | None = None
    """A short code for what went wrong (never personal data)."""

    @classmethod
    def done(cls, seq: int) -> Settlement:
        """The delivery succeeded (or needs nothing)."""
        return cls(seq, "done")

    @classmethod
    def retry(cls, seq: int, at: datetime, error: str) -> Settlement:
        """Try again at ``at``."""
        return cls(seq, "retry", retry_at=at, error=error)

    @classmethod
    def dead(cls, seq: int, error: str) -> Settlement:
        """Give up: the delivery goes to the consumer's dead letters."""
        return cls(seq, "dead", error=error)

    @classmethod
    def release(cls, seq: int, at: datetime, error: str | None = None) -> Settlement:
        """Nothing was attempted: due again at ``at``, and the claim's attempt does not
        count."""
        return cls(seq, "release", retry_at=at, error=error)


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    """Where a consumer stands."""

    consumer: str
    """The consumer's name."""
    cursor: int
    """The last outbox ``seq`` copied into its deliveries."""
    head: int
    """The outbox's last ``seq``."""
    pending: int
    """Deliveries not yet done (leased ones included)."""
    leased: int
    """Deliveries a worker holds now."""
    dead: int
    """Dead letters."""


class ReadTransaction(Protocol):
    """What the SDK's decisions read inside a write transaction, and how it applies them."""

    def open_carts(self, keys: Collection[CartKey]) -> dict[CartKey, Cart]:
        """The open (or submitted) cart of each ``(prospect, form_id)`` that has one."""
        ...

    def carts(self, ids: Collection[str]) -> dict[str, Cart]:
        """The carts with these ids that exist."""
        ...

    def carts_to_close(
        self, *, prospect: str | None, session_id: str | None, form_id: str | None
    ) -> list[Cart]:
        """The open or submitted carts of a prospect or a browser session (one form, when
        given), oldest first."""
        ...

    def capture_state(
        self, keys: Collection[CartKey], event_ids: Collection[str], prospects: Collection[str]
    ) -> tuple[dict[CartKey, Cart], dict[str, Receipt], dict[str, list[ConsentEvent]]]:
        """``open_carts(keys)``, ``receipts(event_ids)`` and ``consent_events(prospects)``
        at once (a backend may read them in one round trip)."""
        ...

    def receipts(self, event_ids: Collection[str]) -> dict[str, Receipt]:
        """The receipts of these capture ``event_id``\\ s that were saved."""
        ...

    def consent_events(self, prospects: Collection[str]) -> dict[str, list[ConsentEvent]]:
        """Each prospect's ledger entries, oldest first."""
        ...

    def devices(self, tokens: Collection[tuple[str, str]]) -> dict[tuple[str, str], PushDevice]:
        """The registered devices with these ``(platform, token)`` pairs."""
        ...

    def submitted_before(self, moment: datetime, *, limit: int) -> list[Cart]:
        """Submitted carts last updated before ``moment``, oldest first."""
        ...

    def enrolments(self, cart_ids: Collection[str]) -> dict[str, Enrolment]:
        """The enrolments of these carts that exist."""
        ...

    def apply(self, changes: Changes) -> None:
        """Write ``changes`` (committed with the transaction)."""
        ...

    def messages_of(self, cart_ids: Collection[str]) -> dict[str, list[MessageRecord]]:
        """The recovery message records of these carts, oldest first."""
        ...

    def message_records(self, ids: Collection[str]) -> dict[str, MessageRecord]:
        """The message records with these ids that exist."""
        ...

    def engagements_of(self, cart_ids: Collection[str]) -> dict[str, list[Engagement]]:
        """The engagements with messages about each of these carts, oldest first."""
        ...

    def clicks_of(self, cart_ids: Collection[str]) -> dict[str, list[Click]]:
        """The recovery-link clicks of these carts, oldest first."""
        ...

    def endpoints(self, ids: Collection[str]) -> dict[str, EndpointRecord]:
        """The webhook endpoints with these ids that exist."""
        ...

    def tickets_by_key(self, dedupe_keys: Collection[str]) -> dict[str, Ticket]:
        """The tickets holding these dedupe keys."""
        ...

    def tickets(self, ids: Collection[str]) -> dict[str, Ticket]:
        """The tickets with these ids that exist."""
        ...

    def carts_of(self, prospects: Collection[str]) -> dict[str, list[Cart]]:
        """Every cart of these prospects (any status), oldest first."""
        ...

    def ordered_in_sessions(self, session_ids: Collection[str]) -> dict[str, list[Cart]]:
        """The ordered carts each of these browser sessions touched."""
        ...


@runtime_checkable
class Store(Protocol):
    """Where carts, the consent ledger, the outbox and shared state live.

    Safe to use from several threads; several processes may share one database.
    """

    # -- writing -----------------------------------------------------------------

    def write(self, work: Callable[[ReadTransaction], T]) -> T:
        """Run ``work`` in one serialized write transaction and commit what it applied.

        ``work`` reads through the transaction, decides, and calls ``apply``; when it
        raises, nothing is written. Raises ``StoreUnavailableError`` when the database
        cannot be reached (nothing is written then either).
        """
        ...

    def erase_prospect(self, prospect: str) -> ErasureReport:
        """Remove a prospect from every table: carts, ledger, sessions, clicks, receipts,
        pending deliveries, registries."""
        ...

    def forget_session(self, session_id: str) -> ErasureReport:
        """Remove every cart a browser session touched, with what refers to them, and
        the ledger entries recorded in that session."""
        ...

    def purge(self, older_than: datetime, *, now: datetime | None = None) -> int:
        """Remove carts not updated since ``older_than`` (and what refers to them),
        capture receipts older than ``RECEIPT_LIFETIME`` before ``now``, expired shared
        state, and outbox events older than ``older_than`` that no consumer still
        needs; returns the carts removed."""
        ...

    # -- queries -----------------------------------------------------------------

    def get_cart(self, cart_id: str) -> Cart:
        """One cart; raises ``CartNotFoundError``."""
        ...

    def list_carts(self, query: CartQuery, *, limit: int = 50, offset: int = 0) -> CartPage:
        """Carts matching ``query``, newest first."""
        ...

    def iter_carts(self, query: CartQuery, *, batch: int = 1000) -> Iterator[Cart]:
        """Every cart matching ``query``, newest first, read ``batch`` at a time (keyset
        paging: memory stays flat whatever the number of carts)."""
        ...

    def count_carts_by(
        self, key: Literal["product_id", "form_id"], query: CartQuery
    ) -> list[tuple[str | None, int]]:
        """Matching carts counted per product or per form, most first."""
        ...

    def consent_events(self, prospect: str) -> list[ConsentEvent]:
        """A prospect's consent events, oldest first."""
        ...

    def consent_ledgers(self, prospects: Collection[str]) -> dict[str, list[ConsentEvent]]:
        """Many prospects' consent events, each oldest first, in one read.

        A page of carts shows each prospect's consent: one read, not one per prospect.
        A prospect without events is absent."""
        ...

    def consent_event(self, consent_id: str) -> ConsentEvent | None:
        """One ledger entry by id (``None`` once erased)."""
        ...

    def clicks(self, cart_id: str) -> list[Click]:
        """A cart's recovery-link clicks, oldest first."""
        ...

    def devices(self, prospect: str) -> list[PushDevice]:
        """A prospect's push devices, oldest first (invalidated ones included)."""
        ...

    def social_recipients(self, prospect: str) -> list[SocialRecipient]:
        """A prospect's Messenger and Instagram recipients, oldest first."""
        ...

    def messages(
        self, *, prospect: str | None = None, cart_id: str | None = None
    ) -> list[MessageRecord]:
        """Recovery message records of a prospect (every cart) or of one cart, oldest
        first."""
        ...

    def iter_messages(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch: int = 1000,
    ) -> Iterator[MessageRecord]:
        """Every recovery message record whose ``at`` is in ``[since, until]``, read
        ``batch`` at a time in id order (keyset paging on the primary key: memory flat
        and each row read once, whatever the number of messages; not in time order)."""
        ...

    def activities(self, prospect: str) -> list[Activity]:
        """A prospect's tracked activity, oldest first."""
        ...

    def prospect_by_phone(self, phone: str) -> str | None:
        """The prospect last texted at this E.164 number, if any."""
        ...

    def replies(self, *, prospect: str | None = None, limit: int = 100) -> list[Reply]:
        """Replies of a prospect, or the latest of everyone's, newest first."""
        ...

    def enrolment(self, cart_id: str) -> Scheduled | None:
        """A cart's enrolment and when it is next due, if it has one."""
        ...

    def engagements(self, cart_id: str) -> list[Engagement]:
        """The engagements with the messages about a cart, oldest first."""
        ...

    def prospect_enrolments(self, prospects: Collection[str]) -> dict[str, list[Enrolment]]:
        """Every enrolment of each of these prospects (any cart, any flow, finished too)."""
        ...

    def report_batches(
        self, query: CartQuery, *, batch: int = 1000, prospects: bool = False
    ) -> Iterator[ReportBatch]:
        """The matching carts, newest first, ``batch`` at a time, each page with its
        messages, engagements and enrolments (and, with ``prospects``, each prospect's
        consent ledger and carts): what one pass of a report reads, in a few queries per
        page and memory flat in the number of carts."""
        ...

    def headline_counts(self, query: CartQuery) -> HeadlineCounts:
        """Carts matching ``query``, those contacted, and flow entries by control group,
        counted by the database."""
        ...

    def save_segment(self, name: str, segment_json: str | None, *, at: datetime) -> None:
        """Store (or, with ``None``, remove) a named segment's JSON."""
        ...

    def segments(self) -> dict[str, str]:
        """Saved segments: name -> JSON, by name."""
        ...

    def get_carts(self, ids: Collection[str]) -> dict[str, Cart]:
        """The carts with these ids that exist (one read for many)."""
        ...

    def prospect_data(self, prospects: Collection[str]) -> dict[str, ProspectData]:
        """What the planner reads about each prospect, for many at once (a few queries
        whatever their number: a dispatcher's tick costs what is due, not one read per
        enrolment)."""
        ...

    def claim_enrolments(
        self,
        *,
        owner: str,
        now: datetime,
        limit: int = 100,
        lease: timedelta = timedelta(minutes=2),
    ) -> list[Enrolment]:
        """Lease up to ``limit`` enrolments due at ``now`` to ``owner`` (earliest due
        first); one leased to another dispatcher is skipped until its lease expires.
        Writing an enrolment back (``Changes.enrolments``) releases it."""
        ...

    # -- the outbox --------------------------------------------------------------

    def register_consumer(
        self,
        name: str,
        *,
        types: Collection[EventType] | None = None,
        ordered_per_cart: bool = False,
        start: Literal["beginning", "now"] = "now",
    ) -> None:
        """Declare a consumer (idempotent: a second call updates ``types`` and
        ``ordered_per_cart``, never the cursor). ``types`` limits it to some event types;
        ``ordered_per_cart`` hands out a cart's deliveries one at a time, in order;
        ``start`` says whether it sees the events already in the outbox."""
        ...

    def claim(
        self,
        consumer: str,
        *,
        owner: str,
        now: datetime,
        limit: int = 100,
        lease: timedelta = timedelta(minutes=1),
    ) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries of ``consumer`` to ``owner`` until
        ``now + lease``, oldest first. A delivery leased to another worker is skipped
        until its lease expires."""
        ...

    def settle(self, consumer: str, settlements: Sequence[Settlement], *, now: datetime) -> None:
        """Record what became of claimed deliveries: done ones are removed, retried ones
        wait until their time, dead ones become dead letters."""
        ...

    def dead_letters(
        self,
        consumer: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """A consumer's dead letters, oldest first (optionally by event time)."""
        ...

    def replay(
        self,
        consumer: str,
        *,
        now: datetime,
        seqs: Collection[int] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Make dead letters due again (all of them, these ``seqs``, or those whose event
        happened in ``[since, until]``); returns how many."""
        ...

    def consumer_stats(self, consumer: str) -> ConsumerStats:
        """Where a consumer stands."""
        ...

    # -- shared state for several processes ----------------------------------------

    def take_token(
        self, bucket: str, key: str, *, capacity: float, per_second: float, now: datetime
    ) -> float | None:
        """Take one token from ``key``'s bucket (``capacity`` tokens, refilled at
        ``per_second``): ``None`` when taken, else the seconds until one is due."""
        ...

    def flag(self, kind: str, key: str, *, until: datetime) -> None:
        """Set a flag (e.g. a revoked session) that lasts until ``until``."""
        ...

    def flagged_until(self, kind: str, key: str, *, now: datetime) -> datetime | None:
        """When the flag set on ``key`` ends, if it is still set at ``now``."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...

    # -- webhook endpoints, tickets (issue 13) -------------------------------------------

    def endpoints(self) -> list[EndpointRecord]:
        """Every webhook endpoint, by id."""
        ...

    def endpoint(self, endpoint_id: str) -> EndpointRecord | None:
        """One webhook endpoint, if it exists."""
        ...

    def remove_endpoint(self, endpoint_id: str) -> bool:
        """Remove a webhook endpoint and its outbox consumer ``webhook:<id>`` with its
        deliveries and dead letters; whether it existed."""
        ...

    def remove_consumer(self, name: str) -> bool:
        """Forget a consumer, its deliveries and its dead letters; whether it existed."""
        ...

    def ticket(self, ticket_id: str) -> Ticket | None:
        """One ticket, if it exists (``None`` once erased)."""
        ...

    def list_tickets(self, query: TicketQuery, *, limit: int = 50, offset: int = 0) -> list[Ticket]:
        """Tickets matching ``query``, newest first."""
        ...

    def count_tickets(self, query: TicketQuery) -> int:
        """How many tickets match ``query``."""
        ...

    def open_cart_page(self, *, after: str | None, limit: int = 500) -> list[Cart]:
        """Open carts ordered by id, those after ``after`` (keyset paging for periodic
        passes over every open cart)."""
        ...


@dataclass(frozen=True, slots=True)
class OrderClosure:
    """An order that closes open carts."""

    at: datetime
    """When the order was placed (UTC)."""
    order_id: str | None = None
    """The shop's order id."""
    revenue: Decimal | None = None
    """The order's revenue."""


RECEIPT_LIFETIME = timedelta(days=1)
"""How long a capture's ``event_id`` is remembered for retry detection."""
