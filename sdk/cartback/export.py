"""CSV export of abandoned carts, safe to open in a spreadsheet.

Two formats: ``rfc4180`` (comma, UTF-8, CRLF) for tools, and ``excel`` (semicolon,
UTF-8 with BOM) which Excel opens correctly in locales whose list separator is ``;``.
Cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab, CR or LF) are prefixed with ``'`` so they display as text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Final, Literal

from cartback._models import Cart

__all__ = ["CSV_COLUMNS", "CsvFormat", "cart_row", "iter_csv", "neutralize_cell"]

CsvFormat = Literal["rfc4180", "excel"]
"""``rfc4180``: comma-separated UTF-8; ``excel``: semicolon-separated UTF-8 with BOM."""

CSV_COLUMNS: Final = (
    "cart_id", "created_at", "updated_at", "status", "form_id", "product_id",
    "product_name", "cart_value", "currency", "seller", "email", "phone", "first_name", "last_name",
    "street", "house_number", "city", "state", "postal_code", "country", "address_extra",
    "newsletter_opt_in", "capture_count", "order_id", "revenue", "ordered_at",
)  # fmt: skip
"""The export's header, in order."""

_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralize_cell(value: str) -> str:
    """``value``, prefixed with ``'`` when a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cart_row(cart: Cart) -> list[str]:
    """One cart as CSV cells, in ``CSV_COLUMNS`` order, neutralised."""
    contact, context = cart.contact, cart.context
    cells = [
        cart.id,
        cart.created_at.isoformat(),
        cart.updated_at.isoformat(),
        cart.status,
        context.form_id,
        context.product_id,
        context.product_name,
        context.cart_value,
        context.currency,
        context.seller,
        contact.email,
        contact.phone,
        contact.first_name,
        contact.last_name,
        contact.street,
        contact.house_number,
        contact.city,
        contact.state,
        contact.postal_code,
        contact.country,
        json.dumps(contact.address_extra, ensure_ascii=False) if contact.address_extra else None,
        cart.newsletter_opt_in,
        cart.capture_count,
        cart.order_id,
        cart.revenue,
        cart.ordered_at.isoformat() if cart.ordered_at else None,
    ]
    return [neutralize_cell(_text(cell)) for cell in cells]


def iter_csv(carts: Iterable[Cart], fmt: CsvFormat = "rfc4180") -> Iterator[str]:
    """The export as text chunks (header first), for a streamed response."""
    delimiter = ";" if fmt == "excel" else ","
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if fmt == "excel":
        buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    for cart in carts:
        writer.writerow(cart_row(cart))
        if buffer.tell() >= 16384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
