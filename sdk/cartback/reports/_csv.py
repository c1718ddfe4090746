"""CSV exports of segments' carts, recovery messages and tickets, in the formats of
``cartback.export`` (``tools`` or ``spreadsheet``), streamed: rows in, text chunks out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

from cartback._models import Cart, MessageRecord
from cartback.export import CSV_COLUMNS, CsvFormat, cart_row, cart_values, csv_cells, iter_rows

__all__ = [
    "MESSAGE_COLUMNS",
    "SEGMENT_COLUMNS",
    "TICKET_COLUMNS",
    "iter_messages_csv",
    "iter_segment_csv",
    "iter_tickets_csv",
    "message_row",
    "segment_row",
    "ticket_row",
]

MESSAGE_COLUMNS: Final = (
    "message_id",
    "cart_id",
    "prospect",
    "channel",
    "status",
    "at",
    "flow_id",
    "flow_version",
    "step_id",
    "variant",
    "template",
    "reason",
    "provider_id",
    "coupon_code",
)
"""The message export's header: ``MessageRecord``'s fields, in order."""

TICKET_COLUMNS: Final = ("id", "rule", "status", "assignee", "cart_id", "created_at", "notes")
"""The ticket export's header."""

SEGMENT_COLUMNS: Final = ("segment", *CSV_COLUMNS)
"""The segment export's header: the segment's name, then the cart export's columns."""


def _message_values(message: MessageRecord) -> list[object]:
    return [
        message.id,
        message.cart_id,
        message.prospect,
        message.channel,
        message.status,
        message.at,
        message.flow_id,
        message.flow_version,
        message.step_id,
        message.variant,
        message.template,
        message.reason,
        message.provider_id,
        message.coupon_code,
    ]


def message_row(message: MessageRecord, fmt: CsvFormat = "spreadsheet") -> list[str]:
    """One message as CSV cells, in ``MESSAGE_COLUMNS`` order."""
    return csv_cells(_message_values(message), fmt)


def iter_messages_csv(
    messages: Iterable[MessageRecord], fmt: CsvFormat = "spreadsheet"
) -> Iterator[str]:
    """The message export as text chunks (header first)."""
    return iter_rows(MESSAGE_COLUMNS, (_message_values(message) for message in messages), fmt)


def _ticket_values(ticket: Mapping[str, object] | object) -> list[object]:
    if isinstance(ticket, Mapping):
        return [ticket.get(column) for column in TICKET_COLUMNS]
    return [getattr(ticket, column, None) for column in TICKET_COLUMNS]


def ticket_row(ticket: Mapping[str, object] | object, fmt: CsvFormat = "spreadsheet") -> list[str]:
    """One ticket as CSV cells, in ``TICKET_COLUMNS`` order. A ticket is any mapping (or
    object with those attributes): a missing column is an empty cell, others are left
    out."""
    return csv_cells(_ticket_values(ticket), fmt)


def iter_tickets_csv(
    tickets: Iterable[Mapping[str, object] | object], fmt: CsvFormat = "spreadsheet"
) -> Iterator[str]:
    """The ticket export as text chunks (header first)."""
    return iter_rows(TICKET_COLUMNS, (_ticket_values(ticket) for ticket in tickets), fmt)


def _segment_values(segment: str, cart: Cart) -> Sequence[object]:
    return [segment, *cart_values(cart)]


def segment_row(segment: str, cart: Cart, fmt: CsvFormat = "spreadsheet") -> list[str]:
    """One cart of the segment named ``segment``, in ``SEGMENT_COLUMNS`` order."""
    return [csv_cells([segment], fmt)[0], *cart_row(cart, fmt)]


def iter_segment_csv(
    segment: str, carts: Iterable[Cart], fmt: CsvFormat = "spreadsheet"
) -> Iterator[str]:
    """The carts of the segment named ``segment`` as text chunks (header first); the
    first column repeats the name, so several segments' exports can be concatenated or
    imported as a tag. Filter the carts with the store's query or with
    ``matching(...)``."""
    return iter_rows(SEGMENT_COLUMNS, (_segment_values(segment, cart) for cart in carts), fmt)
