"""Payment-card numbers are found anywhere and never stored."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cartback import Cartback, InvalidInputError, SQLiteStore, contains_card_number
from tests.conftest import FakeClock
from tests.sdk._support import (
    card_numbers,
    card_numbers_stored,
    luhn_check_digit,
    luhn_ok,
    submission,
)

VALID = [
    "4111 1111 1111 1111",
    "4111111111111111",
    "4111-1111-1111-1111",
    "5555-5555-5555-4444",
    "5555555555554444",
    "378282246310005",
    "3782 822463 10005",
    "6011111111111117",
    "4222222222222",  # 13-digit Visa
    "6011 0009 9013 9424",
    "3530111333300000",
]


@pytest.mark.parametrize("number", VALID)
def test_known_test_cards_are_found(number: str) -> None:
    assert contains_card_number(number)


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4111 1111 1111 1111 thanks",
        "card:5555-5555-5555-4444;",
        "amex378282246310005",
        "4111111111111111123",  # glued to a CVV
        "1234111111111111111",  # digits glued in front
        "4111 1111 1111 1111 123",  # CVV after a space
        "4111111111111111 12/29",
        "exp 12/29 4111-1111-1111-1111 cvv 737",
        "Street 4111 1111 1111 1111",
        "4111 - 1111 - 1111 - 1111",  # spaces and dashes together
        "4111 -1111- 1111 -1111",
        "5555 -- 5555 -- 5555 -- 4444",
    ],
)
def test_card_numbers_are_found_inside_text(text: str) -> None:
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        # Luhn-invalid, and no 13-19 digit window of them is Luhn-valid either
        "4111 1111 1111 1113",
        "4111111111111115",
        "6011-1111-1111-1113",
        "378282246310006",
        "411111111111",  # 12 digits
        "4111 1111 111",
        "",
        "no digits here",
        "+1 (415) 555-2671",
        "+14155552671",
        "2026-11-22",
        "12/29 737",
        "4111.1111.1111.1113",
    ],
)
def test_non_cards_are_not_flagged(text: str) -> None:
    assert not reference_contains_card(text)
    assert not contains_card_number(text)


def test_luhn_helpers_agree() -> None:
    for payload in ("411111111111111", "555555555555444", "37828224631000"):
        assert luhn_ok(payload + luhn_check_digit(payload))
        assert not luhn_ok(payload + str((int(luhn_check_digit(payload)) + 1) % 10))


def luhn_window(digits: str) -> bool:
    """Whether any 13-19 digit window of ``digits`` passes the Luhn checksum."""
    return any(
        luhn_ok(digits[start : start + size])
        for size in range(13, 20)
        for start in range(len(digits) - size + 1)
    )


def reference_contains_card(text: str) -> bool:
    """The brief's rule: runs of ASCII digits with single spaces or dashes between
    digits; a run holds a card when any 13-19 digit window of it is Luhn-valid."""
    runs: list[str] = []
    current = ""
    for index, char in enumerate(text):
        if char in "0123456789":
            current += char
        elif (
            char in " -"
            and current
            and text[index - 1] in "0123456789"
            and index + 1 < len(text)
            and text[index + 1] in "0123456789"
        ):
            continue
        else:
            if current:
                runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return any(luhn_window(digits) for digits in runs)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ab", max_size=40))
@example("4111111111111111")
@example("0" * 13)
@example("9" * 25)
def test_property_without_separators_matches_the_reference(text: str) -> None:
    assert contains_card_number(text) == reference_contains_card(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 -ab", max_size=40))
def test_property_every_card_the_rule_describes_is_found(text: str) -> None:
    if reference_contains_card(text):
        assert contains_card_number(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 -.,/ab\t", max_size=40))
def test_property_nothing_without_a_luhn_valid_window_is_flagged(text: str) -> None:
    if contains_card_number(text):
        assert luhn_window("".join(char for char in text if char in "0123456789"))


@settings(max_examples=200, deadline=None)
@given(
    card=card_numbers(),
    before=st.text(alphabet="abc xyz-/:", max_size=8),
    after=st.text(alphabet="abc xyz/:", max_size=8),
)
def test_property_generated_cards_are_found_anywhere(card: str, before: str, after: str) -> None:
    assert contains_card_number(before + card + after)


@pytest.mark.parametrize(
    "text",
    [
        "٤١١١١١١١١١١١١١١١",  # Arabic-Indic digits
        "０１２３４５６７８９０１２",  # fullwidth digits
        "०१२३४५६७८९०१२३",  # Devanagari digits
        "٠١٢٣٤٥٦٧٨٩٠١٢",
    ],
)
def test_non_ascii_digits_do_not_crash_the_detector(text: str) -> None:
    assert isinstance(contains_card_number(text), bool)


def test_fullwidth_card_number_is_found() -> None:
    assert contains_card_number("４１１１ １１１１ １１１１ １１１１")


def test_a_phone_typed_in_arabic_indic_digits_can_be_captured(client: Cartback) -> None:
    result = client.capture(submission(fields={"phone": "٠١٢٣٤٥٦٧٨٩٠١٢", "first_name": "Omar"}))
    assert result.status == "stored"


# -- capture never stores a card -----------------------------------------------------


def test_card_in_a_field_is_dropped_and_counted(client: Cartback, db_path: Path) -> None:
    result = client.capture(
        submission(
            fields={
                "first_name": "Ann 4111 1111 1111 1111",
                "address_2": "5555-5555-5555-4444",
                "city": "Austin",
            }
        )
    )
    assert result.cart is not None
    assert result.cart.contact.first_name is None
    assert result.cart.contact.address_extra == {}
    assert result.cart.contact.city == "Austin"
    assert result.dropped.card_number == 2
    assert card_numbers_stored(db_path) == []


def test_card_spread_by_extra_whitespace_in_a_field_is_dropped(client: Cartback) -> None:
    result = client.capture(submission(fields={"street": "4111  1111\t1111\n1111"}))
    assert result.cart is not None
    assert result.cart.contact.street is None
    assert result.dropped.card_number == 1


def test_card_as_email_local_part_is_dropped(client: Cartback) -> None:
    result = client.capture(submission(email="4111111111111111@example.com"))
    assert result.status == "not_stored"
    assert result.reasons == ("email_missing",)
    assert result.dropped.card_number == 1


def test_card_in_phone_is_dropped(client: Cartback) -> None:
    result = client.capture(submission(fields={"phone": "4111 1111 1111 1111"}))
    assert result.cart is not None
    assert result.cart.contact.phone is None
    assert result.dropped.card_number == 1


def test_card_as_a_number_value_is_refused_and_nothing_stored(
    client: Cartback, db_path: Path
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.capture(submission(fields={"first_name": 4111111111111111}))
    assert (raised.value.field, raised.value.reason) == ("fields.first_name", "not_a_string")
    assert "4111" not in str(raised.value)
    assert card_numbers_stored(db_path) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("product_id", "4111-1111-1111-1111"),
        ("product_name", "Gift 4111 1111 1111 1111"),
        ("session_id", "4111111111111111"),
        ("consent_version", "v 5555 5555 5555 4444"),
        ("seller", "us"),
    ],
)
def test_card_in_context_is_dropped_and_counted(
    client: Cartback, db_path: Path, key: str, value: str
) -> None:
    result = client.capture(submission(consent={"sms": True}, **{key: value}))
    assert result.cart is not None
    assert result.dropped.card_number == (0 if key == "seller" else 1)
    assert card_numbers_stored(db_path) == []


def test_card_in_form_id_is_an_error(client: Cartback, db_path: Path) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.capture(submission(form_id="4111-1111-1111-1111"))
    assert raised.value.field == "form_id"
    assert raised.value.reason == "card_number"
    assert "4111" not in str(raised.value)
    assert card_numbers_stored(db_path) == []


def test_card_in_api_inputs_is_refused(client: Cartback, db_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        client.record_consent("a@example.com", "sms", "granted", ref="4111111111111111")
    with pytest.raises(InvalidInputError):
        client.record_consent("a@example.com", "sms", "granted", text_version="4111111111111111")
    with pytest.raises(InvalidInputError):
        client.mark_ordered(email="a@example.com", order_id="4111 1111 1111 1111")
    assert card_numbers_stored(db_path) == []


@pytest.mark.parametrize("value", ["0.4111111111111111", "411111111111.1111", "41111111111.11111"])
def test_cart_value_digits_cannot_smuggle_a_card_number(
    client: Cartback, db_path: Path, value: str
) -> None:
    """A cart value is stored digit for digit in the cart body and the outbox payload;
    these values' digits form a Luhn-valid card number (the detector treats a dot as a
    separator). Refusing the value or dropping it are both fine; storing it is not."""
    with contextlib.suppress(InvalidInputError):
        client.capture(submission(cart_value=value, currency="USD"))
    assert card_numbers_stored(db_path) == []


def test_revenue_digits_cannot_smuggle_a_card_number(client: Cartback, db_path: Path) -> None:
    client.capture(submission())
    with contextlib.suppress(InvalidInputError):
        client.mark_ordered(email="alice@example.com", revenue="0.4111111111111111")
    assert card_numbers_stored(db_path) == []


@pytest.mark.parametrize(
    "card",
    [
        "4111\t1111\t1111\t1111",
        "4111  1111  1111  1111",
        "4111   1111   1111   1111",
        "4111 - 1111 - 1111 - 1111",
    ],
)
@pytest.mark.parametrize("where", ["product_name", "product_id", "first_name"])
def test_card_typed_with_wider_gaps_is_not_stored(client: Cartback, card: str, where: str) -> None:
    """Whatever the spacing between its groups, a card number is not stored."""
    body = submission(fields={"first_name": card}) if where == "first_name" else submission()
    if where != "first_name":
        body[where] = card
    result = client.capture(body)
    assert result.cart is not None
    if where == "first_name":
        assert result.cart.contact.first_name is None
    else:
        assert getattr(result.cart.context, where) is None
    assert result.dropped.card_number == 1


def test_normalised_phone_does_not_become_a_card_number(client: Cartback, db_path: Path) -> None:
    """ "138-0013-8002" has no 13-digit run, but its E.164 "+8613800138002" is a Luhn-valid
    13-digit run: the value stored is one the SDK's own detector flags. The same number
    typed as "+86 138-0013-8002" is dropped as a card number."""
    typed = client.capture(
        submission(email="cn1@example.com", country="CN", fields={"phone": "138-0013-8002"})
    )
    assert typed.cart is not None
    assert card_numbers_stored(db_path) == []


# -- property: no stored row ever holds a card number --------------------------------

TARGET_FIELDS = [
    "first_name",
    "last_name",
    "street",
    "house_number",
    "city",
    "state",
    "zip",
    "phone",
    "address_2",
    "billing_address_2",
    "newsletter",
    "coupon",
    "comments",
]


@st.composite
def submissions_with_cards(draw: st.DrawFn) -> dict[str, Any]:
    def with_card() -> str:
        card = draw(card_numbers())
        before = draw(st.sampled_from(["", "Ann ", "no. ", "x", "cc:"]))
        after = draw(st.sampled_from(["", " 123", "123", " 12/29", " thanks"]))
        return before + card + after

    local = draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))
    fields: dict[str, Any] = {"email": f"{local}@example.com", "country": "US"}
    for name in draw(st.lists(st.sampled_from(TARGET_FIELDS), unique=True, min_size=1)):
        fields[name] = (
            with_card()
            if draw(st.booleans())
            else draw(st.sampled_from(["Ann", "Main St 5", "+1 415 555 2671", "on", ""]))
        )
    body: dict[str, Any] = {"form_id": "checkout", "seller": "us", "fields": fields}
    if draw(st.booleans()):
        body["product_name"] = with_card()
    if draw(st.booleans()):
        body["product_id"] = with_card()
    if draw(st.booleans()):
        body["consent_version"] = with_card()[:64]
    if draw(st.booleans()):
        body["session_id"] = "".join(char for char in draw(card_numbers()) if char != " ")
    body["consent"] = draw(
        st.dictionaries(st.sampled_from(["email", "sms", "push", "newsletter"]), st.booleans())
    )
    return body


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=submissions_with_cards())
def test_property_no_stored_row_contains_a_card_number(
    store: SQLiteStore, db_path: Path, clock: FakeClock, body: dict[str, Any]
) -> None:
    client = Cartback(store, clock=clock)
    result = client.capture(body)
    assert result.status in ("stored", "updated", "unchanged")
    clock.advance(minutes=1)
    if result.cart is not None:
        client.mark_ordered(email=body["fields"]["email"], order_id="order-1", revenue="10.50")
    assert card_numbers_stored(db_path) == []


def test_revenue_is_stored_as_a_decimal(client: Cartback) -> None:
    client.capture(submission())
    (closed,) = client.mark_ordered(email="alice@example.com", revenue="12.30")
    assert closed.revenue == Decimal("12.30")
