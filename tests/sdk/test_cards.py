"""Payment-card numbers are found anywhere and never stored."""

from __future__ import annotations

import contextlib
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cartback import Cartback, InvalidInputError, SQLiteStore, contains_card_number
from tests.conftest import FakeClock
from tests.sdk._support import (
    SEPARATOR_CHARS,
    card_numbers_stored,
    digits_of,
    digits_stored,
    issued,
    issued_numbers,
    luhn_check_digit,
    luhn_ok,
    stored_strings,
    submission,
    typed,
)

VALID = [
    "4111 1111 1111 1111",
    "4111111111111111",
    "4111-1111-1111-1111",
    "5555-5555-5555-4444",
    "5555555555554444",
    "2223 0031 2200 3222",  # Mastercard 2-series
    "378282246310005",
    "3782 822463 10005",
    "6011111111111117",
    "4222222222222",  # 13-digit Visa
    "6011 0009 9013 9424",
    "3530111333300000",
    "36227206271667",  # Diners Club, 14 digits
    "6200000000000005",  # UnionPay
    "2200 0000 0000 0004",  # Mir
]


@pytest.mark.parametrize("number", VALID)
def test_known_test_cards_are_found(number: str) -> None:
    assert contains_card_number(number)
    assert reference_contains_card(number)


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4111 1111 1111 1111 thanks",
        "card:5555-5555-5555-4444;",
        "amex378282246310005",
        "4111111111111111123",  # glued to a CVV
        "41111111111111111229",  # glued to an MMYY expiry
        "12294111111111111111",  # the expiry glued in front
        "1234111111111111111",  # 123 glued in front of 4111111111111111
        "4111 1111 1111 1111 123",  # CVV after a space
        "4111 1111 1111 1111123",  # CVV glued to the last group
        "4111111111111111 12/29",
        "4111111111111111123 12/29",  # glued CVV, then the expiry
        "exp 12/29 4111-1111-1111-1111 cvv 737",
        "Street 4111 1111 1111 1111",
        "Ref 12 4111 1111 1111 1111 7",  # other digits on both sides
        "4111 - 1111 - 1111 - 1111",  # spaces and dashes together
        "4111 -1111- 1111 -1111",
        "5555 -- 5555 -- 5555 -- 4444",
        "3782 822463 10005 1234",  # Amex and its 4-digit CID
    ],
)
def test_card_numbers_are_found_inside_text(text: str) -> None:
    assert contains_card_number(text)
    assert reference_contains_card(text)


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1113",  # Luhn-invalid
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
        "4111     1111 1111 1111",  # five spaces end a run (capture collapses them first)
        "4111/1111/1111/1111",  # a slash is not a separator
    ],
)
def test_non_cards_are_not_flagged(text: str) -> None:
    assert not reference_contains_card(text)
    assert not contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "Parcel 1234 5678 9012 3456",  # the address line of issue 10
        "0000 0000 0000 0000",  # Luhn-valid, but no network issues numbers starting with 0
        "7000 0000 0000 0006",  # nor 7
        "1000 0000 0000 0009",  # UATP numbers have 15 digits, not 16
        "3400 0000 0000 0009",  # Amex numbers have 15 digits
        "4000 0000 0000 00006",  # Visa numbers have 13, 16, 18 or 19 digits, not 17
        "9400 0000 0000 0000 007",  # a 19-digit reference
        "Order 2024 0601 1234 5678 9999",  # 24 digits in groups
        "tracking 9400111899223344556677",  # 22 digits, no glued code to take off
    ],
)
def test_long_numbers_that_are_not_cards_are_kept(text: str) -> None:
    """Numbers that hold a Luhn-valid 13-19 digit window (the rule before issue 10
    dropped them) but no candidate that is an issued card number."""
    assert luhn_window(digits_of(text)), "a number the old any-window rule dropped"
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


# -- the rule, written out independently of the SDK ------------------------------------


def runs(text: str) -> list[list[str]]:
    """The runs of ``text``, each as its groups of ASCII digits: digits with one to four
    separators (white space, dots, dashes) between two of them join a run."""
    found: list[list[str]] = []
    groups: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdecimal():
            if groups and index > 0 and text[index - 1].isdecimal():
                groups[-1] += str(int(char))
            else:
                groups.append(str(int(char)))
            index += 1
            continue
        gap = index
        while gap < len(text) and (text[gap].isspace() or text[gap] in ".-"):
            gap += 1
        joins = groups and 1 <= gap - index <= 4 and gap < len(text) and text[gap].isdecimal()
        if not joins:
            if groups:
                found.append(groups)
            groups = []
            gap = max(gap, index + 1)
        index = gap
    if groups:
        found.append(groups)
    return found


def candidates(groups: list[str]) -> list[str]:
    """Every window of a run's digits that the rule considers: it starts at a group's
    first digit or 3 or 4 digits into that group, ends at a group's last digit or 3 or 4
    digits before it, and at most one end leaves glued digits behind."""
    digits = "".join(groups)
    offsets = list(itertools.accumulate(map(len, groups), initial=0))
    group_of = [number for number, group in enumerate(groups) for _ in group]
    found = []
    for start in range(len(digits)):
        for end in range(start + 13, min(start + 19, len(digits)) + 1):
            before = start - offsets[group_of[start]]
            after = offsets[group_of[end - 1] + 1] - end
            if (before, after) in {(0, 0), (3, 0), (4, 0), (0, 3), (0, 4)}:
                found.append(digits[start:end])
    return found


def reference_contains_card(text: str) -> bool:
    """The rule of cartback._luhn, by brute force: a candidate of a run is an
    issued-range, Luhn-valid number."""
    return any(issued(candidate) for groups in runs(text) for candidate in candidates(groups))


SOME_TEXT = st.text(alphabet="abc xyz/:,;()#'\"", max_size=8)
"""Text around a number: letters, punctuation, spaces; no digits."""


@st.composite
def texts_with_numbers(draw: st.DrawFn) -> str:
    """Text mixing issued cards, other digit groups, separators and letters."""
    pieces = st.one_of(
        issued_numbers().flatmap(typed),
        st.text(alphabet="0123456789", min_size=1, max_size=8),
        st.text(alphabet=SEPARATOR_CHARS, min_size=1, max_size=5),
        st.sampled_from(["a", "x ", "/", ", ", "12/29", "cvv "]),
    )
    return "".join(draw(st.lists(pieces, max_size=6)))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -.\tab/", max_size=48))
@example("4111111111111111")
@example("0" * 13)
@example("9" * 25)
@example("4111 1111 1111 11111229")
def test_property_random_text_matches_the_reference(text: str) -> None:
    assert contains_card_number(text) == reference_contains_card(text)


@settings(max_examples=300, deadline=None)
@given(texts_with_numbers())
def test_property_text_with_cards_matches_the_reference(text: str) -> None:
    assert contains_card_number(text) == reference_contains_card(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 -.,/ab\t", max_size=40))
def test_property_nothing_without_a_luhn_valid_window_is_flagged(text: str) -> None:
    """The rule finds a subset of what the rule before issue 10 found."""
    if contains_card_number(text):
        assert luhn_window("".join(char for char in text if char in "0123456789"))


GLUED_CODES = st.from_regex(r"[0-9]{3,4}", fullmatch=True)
"""A security code (3 or 4 digits) or an MMYY expiry."""


@st.composite
def cards_as_pasted(draw: st.DrawFn) -> str:
    """An issued card, with any separators and in any script's digits, as it may sit
    in a value: alone, inside text, beside other separated digits (a CVV, an expiry,
    a reference), or glued to a 3- or 4-digit code at either end."""
    number = draw(typed(draw(issued_numbers()), scripts=True))
    way = draw(st.sampled_from(["alone", "in text", "beside digits", "code after", "code before"]))
    if way == "in text":
        return draw(SOME_TEXT) + number + draw(SOME_TEXT)
    if way == "beside digits":
        gap = st.text(alphabet=SEPARATOR_CHARS, min_size=1, max_size=4)
        other = st.from_regex(r"[0-9]{1,6}", fullmatch=True)
        before = draw(st.one_of(st.just(""), st.tuples(other, gap).map("".join)))
        after = draw(st.one_of(st.just(""), st.tuples(gap, other).map("".join)))
        return draw(SOME_TEXT) + before + number + after + draw(SOME_TEXT)
    if way == "code after":
        return draw(SOME_TEXT) + number + draw(GLUED_CODES) + draw(SOME_TEXT)
    if way == "code before":
        return draw(SOME_TEXT) + draw(GLUED_CODES) + number + draw(SOME_TEXT)
    return number


@settings(max_examples=500, deadline=None)
@given(cards_as_pasted())
@example("4111 1111 1111 111 1123")  # a code glued to a one-digit last group
@example("1234 4111 1111 1111 1111")
def test_property_every_issued_card_is_found_however_pasted(text: str) -> None:
    assert contains_card_number(text)
    assert reference_contains_card(text)


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


def test_long_numbers_that_are_not_cards_are_captured(client: Cartback, db_path: Path) -> None:
    """A 16-digit parcel number or a 19-digit reference is contact data, not a card."""
    result = client.capture(
        submission(
            fields={
                "address_2": "Parcel 1234 5678 9012 3456",
                "street": "Dock 9400 0000 0000 0000 007",
            }
        )
    )
    assert result.cart is not None
    assert result.dropped.card_number == 0
    assert result.cart.contact.address_extra == {"address_2": "Parcel 1234 5678 9012 3456"}
    assert result.cart.contact.street == "Dock 9400 0000 0000 0000 007"
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
def submissions_with_cards(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A submission with issued card numbers in some of its values, and those numbers."""
    cards: list[str] = []

    def with_card() -> str:
        number = draw(issued_numbers())
        cards.append(number)
        card = draw(typed(number, scripts=True))
        before = draw(st.sampled_from(["", "Ann ", "no. ", "x", "cc:", "exp 12/29 "]))
        after = draw(st.sampled_from(["", " 123", " 12/29", " thanks"]))
        glued = draw(st.sampled_from(["", "123", "1229"]))  # a code glued at one end
        if draw(st.booleans()):
            return before + glued + card + after
        return before + card + glued + after

    local = draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))
    fields: dict[str, Any] = {"email": f"{local}@example.com", "country": "US"}
    for name in draw(st.lists(st.sampled_from(TARGET_FIELDS), unique=True, min_size=1)):
        fields[name] = (
            with_card()
            if draw(st.booleans())
            else draw(
                st.sampled_from(
                    ["Ann", "Main St 5", "+1 415 555 2671", "on", "", "Parcel 1234 5678 9012 3456"]
                )
            )
        )
    body: dict[str, Any] = {"form_id": "checkout", "seller": "us", "fields": fields}
    if draw(st.booleans()):
        body["product_name"] = with_card()
    if draw(st.booleans()):
        body["product_id"] = with_card()
    if draw(st.booleans()):  # at most 64 characters: the number as typed, glued or not
        number = draw(issued_numbers())
        cards.append(number)
        body["consent_version"] = (
            draw(st.sampled_from(["", "v ", "2024-"]))
            + number
            + draw(st.sampled_from(["", "123", "1229", " 12/29"]))
        )
    if draw(st.booleans()):
        body["session_id"] = draw(issued_numbers())
        cards.append(body["session_id"])
    body["consent"] = draw(
        st.dictionaries(st.sampled_from(["email", "sms", "push", "newsletter"]), st.booleans())
    )
    return body, cards


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=submissions_with_cards())
def test_property_no_stored_row_contains_a_card_number(
    store: SQLiteStore,
    db_path: Path,
    clock: FakeClock,
    drawn: tuple[dict[str, Any], list[str]],
) -> None:
    body, cards = drawn
    client = Cartback(store, clock=clock)
    result = client.capture(body)
    assert result.status in ("stored", "updated", "unchanged")
    clock.advance(minutes=1)
    if result.cart is not None:
        client.mark_ordered(email=body["fields"]["email"], order_id="order-1", revenue="10.50")
    assert card_numbers_stored(db_path) == []
    assert [text for *_, text in stored_strings(db_path) if reference_contains_card(text)] == []
    stored = digits_stored(db_path)
    assert [card for card in cards if any(card in digits for digits in stored)] == []


def test_revenue_is_stored_as_a_decimal(client: Cartback) -> None:
    client.capture(submission())
    (closed,) = client.mark_ordered(email="alice@example.com", revenue="12.30")
    assert closed.revenue == Decimal("12.30")
