"""Malformed input: typed errors naming field and reason, nothing stored lost, no echo."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback import (
    MAX_FIELD_LENGTH,
    MAX_FIELD_NAME_LENGTH,
    MAX_FIELDS,
    Cart,
    Cartback,
    CartbackError,
    CartQuery,
    InvalidInputError,
    SQLiteStore,
    parse_submission,
)
from tests.sdk._support import outbox, submission

LONE_SURROGATE: str = json.loads('"\\ud800"')
SENTINEL = "SeNtInEl-9f3b"


@pytest.fixture
def existing(client: Cartback) -> Cart:
    result = client.capture(
        submission(
            fields={"first_name": "Alice", "city": "Austin", "newsletter": "on"},
            product_id="sku-1",
            cart_value="10",
            currency="USD",
        )
    )
    assert result.cart is not None
    return result.cart


def bad(field: str, value: Any) -> dict[str, Any]:
    return submission(fields={field: value})


CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    # (id, body, field, reason): the reason codes the product promises are checked;
    # for the others (pydantic's vocabulary) only the field is.
    ("list", bad("first_name", ["a", "b"]), "fields.first_name", "not_a_string"),
    ("dict", bad("city", {"a": 1}), "fields.city", "not_a_string"),
    ("bool", bad("last_name", True), "fields.last_name", "not_a_string"),
    ("bool-email", bad("email", False), "fields.email", "not_a_string"),
    ("list-newsletter", bad("newsletter", ["on"]), "fields.newsletter", "not_a_string"),
    ("list-address2", bad("address_2", [1]), "fields.address_2", "not_a_string"),
    ("too-long", bad("street", "x" * (MAX_FIELD_LENGTH + 1)), "fields.street", "too_long"),
    ("too-long-email", bad("email", "a" * 600 + "@example.com"), "fields.email", "too_long"),
    ("surrogate", bad("first_name", "Al" + LONE_SURROGATE), "fields.first_name", "invalid_unicode"),
    ("nul", bad("first_name", "Al\x00ice"), "fields.first_name", "control_character"),
    ("bell", bad("city", "Aus\x07tin"), "fields.city", "control_character"),
    ("escape", bad("phone", "\x1b[31m"), "fields.phone", "control_character"),
    ("delete", bad("zip", "12\x7f"), "fields.zip", "control_character"),
    ("unknown-top", submission(colour="red"), "colour", "unknown_field"),
    ("unknown-top-2", submission(email_address="x"), "email_address", "unknown_field"),
    ("version", submission(v=2), "v", None),
    ("form-missing", {"fields": {"email": "a@example.com"}}, "form_id", None),
    ("form-empty", submission(form_id=""), "form_id", None),
    ("form-surrogate", submission(form_id="f" + LONE_SURROGATE), "form_id", "invalid_unicode"),
    ("form-nul", submission(form_id="f\x00"), "form_id", "control_character"),
    ("product-nul", submission(product_name="P\x00"), "product_name", "control_character"),
    ("currency", submission(currency="XYZ"), "currency", None),
    ("currency-long", submission(currency="USDX"), "currency", "too_long"),
    ("currency-type", submission(currency=840), "currency", None),
    ("negative", submission(cart_value=-1), "cart_value", None),
    ("negative-str", submission(cart_value="-0.01"), "cart_value", None),
    ("nan-str", submission(cart_value="NaN"), "cart_value", None),
    ("nan-float", submission(cart_value=math.nan), "cart_value", None),
    ("inf", submission(cart_value="Infinity"), "cart_value", None),
    ("huge", submission(cart_value="1e13"), "cart_value", None),
    ("value-text", submission(cart_value="ten"), "cart_value", None),
    ("steps", submission(steps_total=2, contact_step=3), "$", None),
    ("steps-zero", submission(steps_total=0), "steps_total", None),
    ("consent-channel", submission(consent={"fax": True}), "consent.fax", "unknown_channel"),
    ("session", submission(session_id="has space"), "session_id", None),
    ("event", submission(event_id=""), "event_id", None),
    ("fields-type", {"form_id": "f", "fields": ["email"]}, "fields", None),
    (
        "too-many",
        submission(fields={f"custom_{index}": "x" for index in range(MAX_FIELDS + 1)}),
        "fields",
        None,
    ),
    (
        "name-too-long",
        submission(fields={"n" * (MAX_FIELD_NAME_LENGTH + 1): "x"}),
        "fields",
        None,
    ),
    ("name-empty", submission(fields={"": "x"}), "fields", None),
    ("name-nul", submission(fields={"na\x00me": "x"}), "fields", "control_character"),
]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_a_typed_error_and_loses_nothing(
    client: Cartback,
    store: SQLiteStore,
    existing: Cart,
    body: dict[str, Any],
    field: str,
    reason: str | None,
) -> None:
    pending_before = outbox(store)
    consents_before = store.consent_events("alice@example.com")
    with pytest.raises(InvalidInputError) as raised:
        client.capture(body)
    error = raised.value
    assert error.field == field
    if reason is not None:
        assert error.reason == reason
    assert error.reason
    assert error.to_dict() == {"field": field, "reason": error.reason, "message": str(error)}
    assert isinstance(error, CartbackError)
    assert isinstance(error, ValueError)
    assert client.get_cart(existing.id) == existing
    assert outbox(store) == pending_before
    assert store.consent_events("alice@example.com") == consents_before
    assert client.list_carts().total == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", f"{SENTINEL}\x00"),
        ("city", f"{SENTINEL}" * 100),
        ("street", SENTINEL + LONE_SURROGATE),
        ("last_name", [SENTINEL]),
        ("state", {"x": SENTINEL}),
    ],
)
def test_error_messages_never_contain_the_submitted_value(
    client: Cartback, field: str, value: Any
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.capture(bad(field, value))
    assert SENTINEL not in str(raised.value)
    assert SENTINEL not in json.dumps(raised.value.to_dict())
    assert SENTINEL not in repr(raised.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("form_id", SENTINEL + "\x01"),
        ("form_id", SENTINEL * 20),
        ("product_name", SENTINEL * 30),
        ("currency", SENTINEL),
        ("cart_value", SENTINEL),
        ("steps_total", SENTINEL),
        ("seller", SENTINEL * 10),
        ("session_id", SENTINEL + " x"),
        ("v", SENTINEL),
        ("consent", {"email": SENTINEL}),
        ("consent_version", SENTINEL * 10),
        ("fields", SENTINEL),
        ("fields", [SENTINEL]),
    ],
)
def test_top_level_error_messages_never_contain_the_submitted_value(
    client: Cartback, key: str, value: Any
) -> None:
    body = submission()
    body[key] = value
    with pytest.raises(InvalidInputError) as raised:
        client.capture(body)
    assert SENTINEL not in str(raised.value)
    assert SENTINEL not in raised.value.field


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(
        [
            "form_id",
            "product_id",
            "product_name",
            "currency",
            "cart_value",
            "seller",
            "session_id",
            "event_id",
            "consent_version",
            "steps_total",
            "contact_step",
            "v",
            "consent",
            "fields",
        ]
    ),
    value=st.one_of(
        st.text(max_size=300).map(lambda text: SENTINEL + text),
        st.lists(st.just(SENTINEL), max_size=2),
        st.dictionaries(st.just("k"), st.just(SENTINEL), max_size=1),
    ),
)
def test_property_errors_never_echo_values(key: str, value: Any) -> None:
    body = submission()
    body[key] = value
    message = field = ""
    try:
        parse_submission(body)
    except InvalidInputError as error:
        message, field = str(error), error.field
    assert SENTINEL not in message
    assert SENTINEL not in field


def test_exactly_max_fields_and_max_length_are_accepted(client: Cartback) -> None:
    fields = {f"custom_{index}": "x" for index in range(MAX_FIELDS - 3)}
    fields["street"] = "y" * MAX_FIELD_LENGTH
    body = submission(fields=fields)
    assert len(body["fields"]) == MAX_FIELDS
    result = client.capture(body)
    assert result.cart is not None
    assert result.cart.contact.street == "y" * MAX_FIELD_LENGTH
    assert result.dropped.extra == MAX_FIELDS - 3


def test_a_too_short_currency_is_not_reported_as_empty(client: Cartback) -> None:
    """``string_too_short`` is mapped to the reason ``empty`` for every field; "US" is
    not empty, and a client showing "currency is empty" misleads the user."""
    with pytest.raises(InvalidInputError) as raised:
        client.capture(submission(currency="US"))
    assert raised.value.field == "currency"
    assert raised.value.reason != "empty"


def test_tab_and_newline_are_not_control_characters(client: Cartback) -> None:
    result = client.capture(submission(fields={"street": "1 Main St\n\tApt 2\r\n"}))
    assert result.cart is not None
    assert result.cart.contact.street == "1 Main St Apt 2"


def test_a_huge_integer_in_a_mapped_field_is_a_typed_error(client: Cartback) -> None:
    """``str()`` of an int over 4300 digits raises a bare ``ValueError`` in CPython."""
    with pytest.raises(InvalidInputError) as raised:
        client.capture(bad("first_name", 10**5000))
    assert raised.value.field == "fields.first_name"


def test_the_body_must_be_an_object(client: Cartback) -> None:
    bodies: list[object] = [[], "text", 1, None]
    for body in bodies:
        with pytest.raises(InvalidInputError) as raised:
            client.capture(body)  # type: ignore[arg-type]
        assert (raised.value.field, raised.value.reason) == ("$", "not_an_object")


# -- unknown fields: anything goes, nothing is kept -----------------------------------

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=MAX_FIELD_LENGTH * 2),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
custom_names = st.from_regex(r"custom_[a-z0-9]{1,10}", fullmatch=True)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(extras=st.dictionaries(custom_names, json_values, max_size=8))
def test_property_unknown_fields_of_any_type_are_dropped_and_counted(
    client: Cartback, extras: dict[str, Any]
) -> None:
    result = client.capture(submission(fields={**extras, "first_name": "Al"}))
    assert result.cart is not None
    assert result.dropped.extra == len(extras)
    assert result.dropped.total == len(extras)
    assert result.cart.contact.first_name == "Al"
    dumped = result.cart.model_dump_json()
    for name in extras:
        assert name not in dumped


def test_unknown_fields_with_lone_surrogates_and_control_chars_are_dropped(
    client: Cartback,
) -> None:
    result = client.capture(
        submission(fields={"custom": LONE_SURROGATE, "notes": "\x00\x01", "big": "x" * 100_000})
    )
    assert result.cart is not None
    assert result.dropped.extra == 3


# -- API arguments ---------------------------------------------------------------------


def test_mark_ordered_needs_email_or_session(client: Cartback) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.mark_ordered()
    assert raised.value.reason == "missing"


@pytest.mark.parametrize(
    ("revenue", "reason"),
    [
        ("abc", "not_a_number"),
        ("-1", "out_of_range"),
        ("NaN", "out_of_range"),
        ("inf", "out_of_range"),
    ],
)
def test_mark_ordered_revenue_must_be_a_finite_non_negative_number(
    client: Cartback, existing: Cart, revenue: str, reason: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.mark_ordered(email="alice@example.com", revenue=revenue)
    assert (raised.value.field, raised.value.reason) == ("revenue", reason)
    assert client.get_cart(existing.id) == existing


def test_invalid_email_arguments_are_typed_errors(client: Cartback) -> None:
    for call in (
        lambda: client.record_consent("nope", "sms", "granted"),
        lambda: client.may_contact("nope", "sms"),
        lambda: client.erase("nope"),
        lambda: client.mark_ordered(email="nope"),
    ):
        with pytest.raises(InvalidInputError) as raised:
            call()
        assert raised.value.reason == "email_invalid"


def test_naive_datetimes_are_refused(client: Cartback) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.consent("a@example.com", "sms", at=datetime(2026, 1, 1))
    assert raised.value.reason == "naive_datetime"
    with pytest.raises(InvalidInputError):
        client.list_carts(CartQuery(start=datetime(2026, 1, 1)))


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1)])
def test_list_carts_paging_bounds(client: Cartback, limit: int, offset: int) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.list_carts(limit=limit, offset=offset)
    assert raised.value.reason == "out_of_range"
