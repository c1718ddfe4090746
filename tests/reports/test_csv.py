"""CSV: the tools format gives values back exactly, the spreadsheet format never lets a
cell start like a formula, and exports stream with flat memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback import InvalidInputError
from cartback._models import MessageRecord
from cartback.export import CSV_COLUMNS, CSV_FORMATS, CsvFormat, csv_cells, csv_format, iter_rows
from cartback.reports import (
    MESSAGE_COLUMNS,
    SEGMENT_COLUMNS,
    TICKET_COLUMNS,
    iter_messages_csv,
    iter_segment_csv,
    iter_tickets_csv,
    message_row,
    segment_row,
    ticket_row,
)
from tests.reports._support import T0, cart, message

FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")


def read(text: str, fmt: str) -> list[list[str]]:
    if csv_format(fmt) == "spreadsheet":
        assert text.startswith("\ufeff")
        return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=";"))
    assert not text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_format_names_and_aliases() -> None:
    assert CSV_FORMATS == ("tools", "spreadsheet")
    assert [csv_format(name) for name in ("tools", "rfc4180", "spreadsheet", "excel")] == [
        "tools",
        "tools",
        "spreadsheet",
        "spreadsheet",
    ]
    with pytest.raises(InvalidInputError) as error:
        csv_format("xlsx")
    assert (error.value.field, error.value.reason) == ("format", "unknown_format")
    with pytest.raises(InvalidInputError):
        iter_rows(["a"], [], "xlsx")  # type: ignore[arg-type]  # refused before the first chunk


def test_values_become_text_the_same_way_in_both_formats() -> None:
    when = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)
    values: list[object] = [None, True, False, 3, Decimal("49.90"), Decimal("1E+2"), when, 0.5]
    expected = ["", "true", "false", "3", "49.90", "100", "2026-11-02T12:30:00+00:00", "0.5"]
    assert csv_cells(values, "tools") == expected
    assert csv_cells(values, "spreadsheet") == expected
    assert csv_cells([{"a": "é"}], "tools") == ['{"a": "é"}']
    assert csv_cells(["+15035550100", "-5", "=1+1"], "tools") == ["+15035550100", "-5", "=1+1"]
    assert csv_cells(["+15035550100", "-5", "=1+1"], "spreadsheet") == [
        "'+15035550100",
        "'-5",
        "'=1+1",
    ]


def test_message_export_round_trips_every_field() -> None:
    record = MessageRecord(
        id="msg_1",
        cart_id="cart-a",
        prospect="tel:+15035550100",
        channel="sms",
        status="failed",
        at=T0,
        flow_id="multichannel",
        flow_version=3,
        step_id="sms_2d",
        variant="B",
        template="offer",
        reason="provider_rejected",
        provider_id="SM123",
        coupon_code="-10%OFF",
    )
    rows = read("".join(iter_messages_csv([record, message("msg_2")], "tools")), "tools")
    assert tuple(rows[0]) == MESSAGE_COLUMNS
    back = dict(zip(MESSAGE_COLUMNS, rows[1], strict=True))
    back["id"] = back.pop("message_id")
    parsed = MessageRecord.model_validate({key: value or None for key, value in back.items()})
    assert parsed == record
    assert rows[1] == message_row(record, "tools")
    sheet = read("".join(iter_messages_csv([record], "spreadsheet")), "spreadsheet")
    assert dict(zip(MESSAGE_COLUMNS, sheet[1], strict=True))["prospect"] == "tel:+15035550100"
    assert dict(zip(MESSAGE_COLUMNS, sheet[1], strict=True))["coupon_code"] == "'-10%OFF"


def test_ticket_export_takes_mappings_or_objects() -> None:
    class Ticket:
        id = "tkt_2"
        rule = "repeat_abandoner"
        status = "open"
        assignee = None
        cart_id = "cart-b"
        created_at = T0
        notes = "=call back"

    tickets: list[Any] = [
        {
            "id": "tkt_1",
            "rule": "high_value",
            "status": "done",
            "assignee": "ana",
            "cart_id": "cart-a",
            "created_at": T0,
            "notes": 'Said "call after 5", prefers SMS\nsecond line',
            "ignored": "x",
        },
        {"id": "tkt_3"},
        Ticket(),
    ]
    rows = read("".join(iter_tickets_csv(tickets, "tools")), "tools")
    assert tuple(rows[0]) == TICKET_COLUMNS
    assert rows[1] == [
        "tkt_1",
        "high_value",
        "done",
        "ana",
        "cart-a",
        "2026-11-02T12:00:00+00:00",
        'Said "call after 5", prefers SMS\nsecond line',
    ]
    assert rows[2] == ["tkt_3", "", "", "", "", "", ""]
    assert rows[3][-1] == "=call back"
    assert ticket_row(tickets[2], "spreadsheet")[-1] == "'=call back"


def test_segment_export_names_the_segment_on_every_row() -> None:
    carts = [cart("a"), cart("b", product_name="=cmd|' /C calc'!A0")]
    rows = read("".join(iter_segment_csv("Repeat abandoners", carts, "spreadsheet")), "excel")
    assert tuple(rows[0]) == SEGMENT_COLUMNS
    assert SEGMENT_COLUMNS[1:] == CSV_COLUMNS
    assert [row[0] for row in rows[1:]] == ["Repeat abandoners"] * 2
    assert [row[1] for row in rows[1:]] == ["a", "b"]
    assert rows[2][SEGMENT_COLUMNS.index("product_name")] == "'=cmd|' /C calc'!A0"
    assert rows[2] == segment_row("Repeat abandoners", carts[1], "spreadsheet")
    assert segment_row("-minus", carts[0], "spreadsheet")[0] == "'-minus"


# -- properties ---------------------------------------------------------------------------

CELLS = st.lists(st.text(), min_size=1, max_size=6)
TABLES = st.lists(CELLS, max_size=20)


@settings(max_examples=150)
@given(TABLES)
def test_the_tools_format_round_trips_any_text_exactly(rows: list[list[str]]) -> None:
    header = [f"c{index}" for index in range(6)]
    back = read("".join(iter_rows(header, rows, "tools")), "tools")
    assert back == [header, *rows]


@settings(max_examples=150)
@given(TABLES, st.sampled_from(["spreadsheet", "excel"]))
def test_no_spreadsheet_cell_starts_like_a_formula(rows: list[list[str]], fmt: CsvFormat) -> None:
    header = ["=header", "+1"]
    back = read("".join(iter_rows(header, rows, fmt)), fmt)
    assert len(back) == len(rows) + 1
    for parsed, original in zip(back, [header, *rows], strict=True):
        for cell, value in zip(parsed, original, strict=True):
            assert not cell.startswith(FORMULA)
            assert cell in (value, "'" + value)  # nothing else is changed


@settings(max_examples=100)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.decimals(allow_nan=False, allow_infinity=False),
            st.datetimes(timezones=st.just(UTC)),
            st.text(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_typed_values_parse_back_in_the_tools_format(values: list[object]) -> None:
    back = read("".join(iter_rows(["x"] * len(values), [values], "tools")), "tools")[1]
    for cell, value in zip(back, values, strict=True):
        if value is None:
            assert cell == ""
        elif isinstance(value, bool):
            assert cell == str(value).lower()
        elif isinstance(value, int):
            assert int(cell) == value
        elif isinstance(value, Decimal):
            assert Decimal(cell) == value
            assert "E" not in cell
        elif isinstance(value, datetime):
            assert datetime.fromisoformat(cell) == value
        else:
            assert cell == value


# -- streaming ----------------------------------------------------------------------------


def rows_of(count: int, pulled: list[int] | None = None) -> Iterator[list[object]]:
    for index in range(count):
        if pulled is not None:
            pulled.append(index)
        yield [f"cart-{index:07d}", T0, Decimal("49.90"), "+15035550100", None, True]


def test_exports_stream_rows_in_and_chunks_out() -> None:
    pulled: list[int] = []
    chunks = iter_rows(["a", "b", "c", "d", "e", "f"], rows_of(100_000, pulled), "tools")
    first = next(chunks)
    assert len(first) >= 64 * 1024
    assert len(pulled) < 3000  # about 80 bytes a row: the first chunk needs ~850 rows
    total = len(first) + sum(len(chunk) for chunk in chunks)
    assert len(pulled) == 100_000
    assert total > 100_000 * 60


def peak(count: int) -> int:
    tracemalloc.start()
    try:
        for _chunk in iter_rows(["a", "b", "c", "d", "e", "f"], rows_of(count), "spreadsheet"):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_in_the_number_of_rows() -> None:
    # Ten times the rows (1.6 MB of CSV against 0.16 MB) must not take more memory: what
    # is held is one chunk and one batch of rows (about 0.7 MB under tracemalloc).
    small, large = peak(2_000), peak(20_000)
    assert large < small * 1.5
    assert large < 2 * 1024 * 1024
