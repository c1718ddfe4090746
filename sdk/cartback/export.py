"""CSV export: machine-readable for tools, or safe to open in a spreadsheet.

Two formats:

- ``tools``: RFC 4180 (comma, UTF-8 without BOM, CRLF, quotes where needed); every
  value exactly as stored, so another program reads back what cartback holds (a phone
  stays ``+15035550100``). Do not open it in a spreadsheet: a cell starting with ``=``
  would run as a formula there.
- ``spreadsheet``: semicolon-separated UTF-8 with a BOM, which Excel opens correctly
  where the list separator is ``;``; a cell a spreadsheet would read as a formula
  (starting with ``=``, ``+``, ``-``, ``@``, tab, CR or LF) is prefixed with ``'`` so it
  displays as text. Values typed by prospects reach the file, so this guard is what
  keeps a made-up name from running in the shop owner's spreadsheet.

The old names are accepted as aliases: ``rfc4180`` is ``tools`` and ``excel`` is
``spreadsheet``. The default is ``spreadsheet``, the safe one.

Values become text the same way in both: nothing is an empty cell, ``True``/``False``
are ``true``/``false``, amounts are plain decimals (``49.90``), times are ISO 8601 with
their offset, mappings are JSON. Exports stream: rows in, text chunks out, memory flat in
the number of rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import Final, Literal

from cartback._errors import InvalidInputError
from cartback._models import Cart

__all__ = [
    "CSV_COLUMNS",
    "CSV_FORMATS",
    "CsvFormat",
    "CsvStyle",
    "cart_row",
    "cart_values",
    "csv_cells",
    "csv_format",
    "iter_csv",
    "iter_rows",
    "neutralize_cell",
]

CsvFormat = Literal["tools", "spreadsheet", "rfc4180", "excel"]
"""``tools``: comma-separated UTF-8, values as stored; ``spreadsheet``: semicolon-separated
UTF-8 with BOM, formulas neutralised. ``rfc4180`` and ``excel`` are their old names."""

CsvStyle = Literal["tools", "spreadsheet"]
"""A format by its own name (aliases resolved)."""

CSV_FORMATS: Final[tuple[CsvStyle, ...]] = ("tools", "spreadsheet")
"""The formats, by their own names."""

_ALIASES: Final[Mapping[str, CsvStyle]] = {
    "tools": "tools",
    "spreadsheet": "spreadsheet",
    "rfc4180": "tools",
    "excel": "spreadsheet",
}

CSV_COLUMNS: Final = (
    "cart_id", "created_at", "updated_at", "status", "form_id", "product_id",
    "product_name", "cart_value", "currency", "seller", "email", "phone", "first_name", "last_name",
    "street", "house_number", "city", "state", "postal_code", "country", "address_extra",
    "newsletter_opt_in", "capture_count", "order_id", "revenue", "ordered_at",
)  # fmt: skip
"""The cart export's header, in order."""

_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\n")
_FORMULA_SET: Final = frozenset(_FORMULA_STARTS)
_CHUNK: Final = 64 * 1024
_BATCH: Final = 256


def csv_format(fmt: str) -> CsvStyle:
    """The format ``fmt`` names (``rfc4180`` -> ``tools``, ``excel`` -> ``spreadsheet``);
    raises ``InvalidInputError`` (``field="format"``, ``reason="unknown_format"``)."""
    style = _ALIASES.get(fmt)
    if style is None:
        raise InvalidInputError(
            "the CSV format is tools or spreadsheet", field="format", reason="unknown_format"
        )
    return style


def neutralize_cell(value: str) -> str:
    """``value``, prefixed with ``'`` when a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return json.dumps(dict(value), ensure_ascii=False, default=str)
    return str(value)


def _tool_cells(values: Sequence[object]) -> list[str]:
    return [
        value if type(value) is str else "" if value is None else _text(value) for value in values
    ]


def _sheet_cells(values: Sequence[object]) -> list[str]:
    return ["'" + text if text[:1] in _FORMULA_SET else text for text in _tool_cells(values)]


def csv_cells(values: Sequence[object], fmt: CsvFormat = "spreadsheet") -> list[str]:
    """``values`` as the cells of one row of format ``fmt``."""
    return _tool_cells(values) if csv_format(fmt) == "tools" else _sheet_cells(values)


def cart_values(cart: Cart) -> list[object]:
    """One cart's values in ``CSV_COLUMNS`` order, before they become cells."""
    contact, context = cart.contact, cart.context
    return [
        cart.id,
        cart.created_at,
        cart.updated_at,
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
        contact.address_extra or None,
        cart.newsletter_opt_in,
        cart.capture_count,
        cart.order_id,
        cart.revenue,
        cart.ordered_at,
    ]


def cart_row(cart: Cart, fmt: CsvFormat = "spreadsheet") -> list[str]:
    """One cart as CSV cells, in ``CSV_COLUMNS`` order, for format ``fmt``."""
    return csv_cells(cart_values(cart), fmt)


def _chunks(
    header: Sequence[str], rows: Iterable[Sequence[object]], style: CsvStyle
) -> Iterator[str]:
    """Text chunks of the header then ``rows`` (each turned into cells for ``style``)."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=";" if style == "spreadsheet" else ",", lineterminator="\r\n"
    )
    cells = _sheet_cells if style == "spreadsheet" else _tool_cells
    if style == "spreadsheet":
        buffer.write("\ufeff")
    writer.writerow(cells(header))
    iterator = iter(rows)
    while batch := list(islice(iterator, _BATCH)):
        writer.writerows([cells(row) for row in batch])
        if buffer.tell() >= _CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def iter_rows(
    header: Sequence[str], rows: Iterable[Sequence[object]], fmt: CsvFormat = "spreadsheet"
) -> Iterator[str]:
    """Any table as CSV text chunks (header first) in format ``fmt``: each row's values
    become cells as ``csv_cells`` makes them. For a streamed response."""
    return _chunks(header, rows, csv_format(fmt))


def iter_csv(carts: Iterable[Cart], fmt: CsvFormat = "spreadsheet") -> Iterator[str]:
    """The cart export as text chunks (header first), for a streamed response."""
    return _chunks(CSV_COLUMNS, (cart_values(cart) for cart in carts), csv_format(fmt))
