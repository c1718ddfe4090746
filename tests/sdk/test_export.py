"""CSV export: the tools format parses back to the stored values, the spreadsheet format
neutralises formulas, and the old format names still work."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartback import CSV_COLUMNS, Cart, Cartback, iter_csv, neutralize_cell


def seeded(client: Cartback, first_name: str = "Jane") -> Cart:
    result = client.capture(
        {
            "form_id": "f1",
            "product_id": "p1",
            "product_name": 'Course; with, separators "quoted"',
            "cart_value": "49.00",
            "currency": "USD",
            "seller": "us",
            "fields": {
                "email": "jane@example.com",
                "first_name": first_name,
                "phone": "+1 415 555 2671",
                "country": "US",
                "billing_address_2": "Apt 4",
                "newsletter": "on",
            },
        }
    )
    assert result.cart is not None
    return result.cart


def parse(text: str, delimiter: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def test_tools_export_round_trips(client: Cartback) -> None:
    cart = seeded(client)
    text = "".join(iter_csv([cart], "tools"))
    assert text == "".join(iter_csv([cart], "rfc4180"))  # the old name is an alias
    assert not text.startswith("\ufeff")
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert "\r\n" in text
    [row] = parse(text, ",")
    assert row["cart_id"] == cart.id
    assert row["email"] == "jane@example.com"
    assert row["product_name"] == 'Course; with, separators "quoted"'
    assert row["phone"] == "+14155552671"  # exactly as stored: tools get values
    assert row["created_at"] == cart.created_at.isoformat()
    assert row["address_extra"] == '{"billing_address_2": "Apt 4"}'
    assert row["newsletter_opt_in"] == "true"
    assert row["cart_value"] == "49.00"
    assert row["order_id"] == ""


def test_spreadsheet_export_has_bom_and_semicolons(client: Cartback) -> None:
    cart = seeded(client)
    text = "".join(iter_csv([cart], "spreadsheet"))
    assert text == "".join(iter_csv([cart], "excel"))  # the old name is an alias
    assert text == "".join(iter_csv([cart]))  # and the default
    assert text.startswith("\ufeff")
    [row] = parse(text.removeprefix("\ufeff"), ";")
    assert row["email"] == "jane@example.com"
    assert row["product_name"] == 'Course; with, separators "quoted"'
    assert row["phone"] == "'+14155552671"  # neutralised: a leading + is a formula in Excel


@pytest.mark.parametrize(
    "value", ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "\nx"]
)
def test_formula_like_cells_are_prefixed(value: str) -> None:
    assert neutralize_cell(value) == "'" + value


@given(st.text())
def test_neutralised_cells_never_start_with_a_formula_character(value: str) -> None:
    cell = neutralize_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
    assert cell.removeprefix("'") == value or cell == value


def test_a_formula_in_a_name_is_exported_as_text(client: Cartback) -> None:
    formula = '=HYPERLINK("http://evil.example","x")'
    cart = seeded(client, first_name=formula)
    [row] = parse("".join(iter_csv([cart], "excel")).removeprefix("\ufeff"), ";")
    assert row["first_name"] == "'" + formula
    [raw] = parse("".join(iter_csv([cart], "tools")), ",")
    assert raw["first_name"] == formula


def test_large_exports_come_in_several_chunks(client: Cartback) -> None:
    cart = seeded(client)
    chunks = list(iter_csv([cart] * 500, "tools"))
    assert len(chunks) > 1
    assert len(parse("".join(chunks), ",")) == 500
