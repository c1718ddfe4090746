"""The storage contract. Nothing here knows about SQLite.

A ``Store`` keeps carts, the append-only consent ledger, and an outbox of domain
events written in the same transaction as the change they describe. Implementations
must be safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from cartback._models import Cart, ConsentEvent, OutboxEvent
from cartback._types import CartStatus
from cartback.capture import CapturePlan

__all__ = [
    "CartPage",
    "CartQuery",
    "ErasureReport",
    "OrderClosure",
    "SaveOutcome",
    "SaveStatus",
    "Store",
]

SaveStatus = Literal["stored", "updated", "unchanged"]
"""``stored``: a new cart; ``updated``: fields merged into the open cart;
``unchanged``: the capture repeated what the open cart already holds."""


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What saving a capture did."""

    status: SaveStatus
    """New cart, merged, or nothing to change."""
    cart: Cart
    """The cart as stored after the save."""
    consents_recorded: int = 0
    """Consent events appended (grants already in force are not repeated)."""


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
    """``open`` or ``ordered``."""


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
class OrderClosure:
    """An order that closes open carts."""

    at: datetime
    """When the order was placed (UTC)."""
    order_id: str | None = None
    """The shop's order id."""
    revenue: Decimal | None = None
    """The order's revenue."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """How many rows an erasure removed, per table."""

    carts: int = 0
    """Carts removed."""
    consent_events: int = 0
    """Consent events removed."""
    outbox_events: int = 0
    """Outbox events removed (their payloads held the prospect's data)."""


@runtime_checkable
class Store(Protocol):
    """Where carts, consent events and outbox events live."""

    def save_capture(self, plan: CapturePlan) -> SaveOutcome:
        """Store an eligible capture: merge it into the prospect's open cart on the same
        form, or open a new cart; append its consent grants; write outbox events; all in
        one transaction. A stored field is never erased by a missing one."""
        ...

    def save_captures(self, plans: Sequence[CapturePlan]) -> list[SaveOutcome]:
        """``save_capture`` for several plans in one transaction (one durable commit),
        in order; a later plan sees the carts the earlier ones opened."""
        ...

    def record_click(self, cart_id: str, at: datetime, utm: Mapping[str, str]) -> None:
        """Record a click on a recovery link (and a ``link.clicked`` outbox event)."""
        ...

    def clicks(self, cart_id: str) -> list[tuple[datetime, dict[str, str]]]:
        """A cart's recovery-link clicks, oldest first, with their UTM parameters."""
        ...

    def append_consent(self, events: Sequence[ConsentEvent]) -> int:
        """Append consent events (and a ``consent.changed`` outbox event each)."""
        ...

    def consent_events(self, prospect: str) -> list[ConsentEvent]:
        """A prospect's consent events, oldest first."""
        ...

    def close_open_carts(
        self,
        closure: OrderClosure,
        *,
        prospect: str | None = None,
        session_id: str | None = None,
        form_id: str | None = None,
    ) -> list[Cart]:
        """Close the open carts of a prospect or browser session (optionally one form)."""
        ...

    def get_cart(self, cart_id: str) -> Cart:
        """One cart; raises ``CartNotFoundError``."""
        ...

    def list_carts(self, query: CartQuery, *, limit: int = 50, offset: int = 0) -> CartPage:
        """Carts matching ``query``, newest first."""
        ...

    def count_carts_by(
        self, key: Literal["product_id", "form_id"], query: CartQuery
    ) -> list[tuple[str | None, int]]:
        """Matching carts counted per product or per form, most first."""
        ...

    def erase_prospect(self, prospect: str) -> ErasureReport:
        """Remove a prospect from every table, outbox payloads included."""
        ...

    def forget_session(self, session_id: str) -> ErasureReport:
        """Remove every cart a browser session captured into, and what refers to them."""
        ...

    def purge(self, older_than: datetime) -> int:
        """Remove carts not updated since ``older_than``; returns how many."""
        ...

    def pending_events(self, limit: int = 100) -> list[OutboxEvent]:
        """Undelivered outbox events, oldest first."""
        ...

    def mark_delivered(self, seqs: Sequence[int], at: datetime) -> None:
        """Acknowledge outbox events."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
