"""One cart's recovery journey: the cart's order, its messages and their engagements.

Reports read journeys one at a time, so a report over a million carts holds one cart's
rows at once. ``journeys`` builds them from three streams read in cart id order (what
``ORDER BY cart_id`` returns, with a byte-wise collation: ``COLLATE "C"`` on
PostgreSQL, SQLite's default ``BINARY``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from cartback._errors import InvalidInputError
from cartback._models import Cart, MessageRecord
from cartback.reports._engagement import Engagement

__all__ = ["Journey", "journeys"]


@dataclass(frozen=True, slots=True)
class Journey:
    """What reports need of one cart. A plain frozen dataclass: reports build one per
    cart on their hot path."""

    cart_id: str
    """The cart."""
    created_at: datetime | None = None
    """When the cart was captured (UTC)."""
    ordered_at: datetime | None = None
    """When an order closed it (UTC); ``None`` while it is not ordered."""
    revenue: Decimal | None = None
    """The order's revenue, when known."""
    currency: str | None = None
    """ISO 4217 code of ``revenue`` (the cart's currency)."""
    messages: Sequence[MessageRecord] = ()
    """The recovery messages about the cart, any order, any status."""
    engagements: Sequence[Engagement] = ()
    """The engagements with those messages, any order."""

    @classmethod
    def of(
        cls,
        cart: Cart,
        messages: Sequence[MessageRecord] = (),
        engagements: Sequence[Engagement] = (),
    ) -> Journey:
        """The journey of ``cart``: its order (when ordered), messages and engagements."""
        ordered = cart.status == "ordered"
        return cls(
            cart_id=cart.id,
            created_at=cart.created_at,
            ordered_at=cart.ordered_at if ordered else None,
            revenue=cart.revenue if ordered else None,
            currency=cart.context.currency,
            messages=messages,
            engagements=engagements,
        )


class _Keyed(Protocol):
    @property
    def cart_id(self) -> str: ...


K = TypeVar("K", bound=_Keyed)


class _Cursor(Generic[K]):
    """A stream of rows sorted by ``cart_id``, read one group at a time."""

    def __init__(self, rows: Iterable[K], name: str) -> None:
        self._rows = iter(rows)
        self._name = name
        self._head: K | None = None
        self._last: str | None = None
        self._advance()

    def _advance(self) -> None:
        head = next(self._rows, None)
        if head is not None:
            if self._last is not None and head.cart_id < self._last:
                raise InvalidInputError(
                    f"{self._name} must come in cart id order",
                    field=self._name,
                    reason="unsorted",
                )
            self._last = head.cart_id
        self._head = head

    def take(self, cart_id: str) -> list[K]:
        """The rows of ``cart_id``; rows of carts before it are skipped."""
        taken: list[K] = []
        while self._head is not None and self._head.cart_id <= cart_id:
            if self._head.cart_id == cart_id:
                taken.append(self._head)
            self._advance()
        return taken


def journeys(
    carts: Iterable[Cart],
    messages: Iterable[MessageRecord] = (),
    engagements: Iterable[Engagement] = (),
) -> Iterator[Journey]:
    """One journey per cart, from three streams each sorted by cart id (ascending).

    Messages and engagements of a cart that ``carts`` does not hold are skipped. Raises
    ``InvalidInputError`` (``reason="unsorted"``, ``field`` naming the stream) when a
    stream goes back in cart id order, rather than miss rows silently.
    """
    message_rows = _Cursor(messages, "messages")
    engagement_rows = _Cursor(engagements, "engagements")
    last: str | None = None
    for cart in carts:
        if last is not None and cart.id <= last:
            raise InvalidInputError(
                "carts must come in cart id order, each once", field="carts", reason="unsorted"
            )
        last = cart.id
        yield Journey.of(cart, message_rows.take(cart.id), engagement_rows.take(cart.id))
