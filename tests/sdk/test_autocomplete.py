"""The HTML autocomplete attribute: any checkout that sets it is captured unconfigured."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback import Cartback, OrderForm, SQLiteStore, extract_fields
from cartback._autocomplete import AUTOFILL_FIELDS, read_autocomplete
from tests.conftest import FakeClock
from tests.sdk._support import submission

CONTACT_FIELDS = {"email", "tel", "tel-national"}


@st.composite
def autocomplete_values(draw: st.DrawFn) -> tuple[str, str | None, str]:
    """A valid autocomplete value: ``(value, its section, its field name)``, in any
    casing and spacing, with every optional token of the WHATWG grammar."""
    field = draw(st.sampled_from(sorted(AUTOFILL_FIELDS)))
    tokens = []
    if draw(st.booleans()):
        tokens.append("section-" + draw(st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)))
    section = draw(st.sampled_from([None, "shipping", "billing"]))
    if section:
        tokens.append(section)
    if field in CONTACT_FIELDS and draw(st.booleans()):
        tokens.append(draw(st.sampled_from(["home", "work", "mobile", "fax", "pager"])))
    tokens.append(field)
    if draw(st.booleans()):
        tokens.append("webauthn")
    spaced = draw(st.sampled_from([" ", "  ", "\t", "\n "])).join(tokens)
    cased = "".join(
        char.upper() if draw(st.booleans()) else char for char in spaced
    )  # browsers fold the case; a page may not
    return f" {cased} ", section, field


@settings(max_examples=300, deadline=None)
@given(case=autocomplete_values())
def test_property_every_valid_token_is_read(case: tuple[str, str | None, str]) -> None:
    value, section, field = case
    assert read_autocomplete(value) == (section, AUTOFILL_FIELDS[field])


@settings(max_examples=300, deadline=None)
@given(case=autocomplete_values(), name=st.from_regex(r"in[a-z]{1,6}_[0-9]{1,3}", fullmatch=True))
def test_property_an_input_is_routed_by_its_token_whatever_its_name(
    case: tuple[str, str | None, str], name: str
) -> None:
    value, section, field = case
    kind, target = AUTOFILL_FIELDS[field]
    route = OrderForm(form_id="f").route(name, value)
    assert route.kind == kind
    assert route.target == (name if kind == "address" else target)
    assert route.section == section


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "on",
        "off",
        "username",
        "new-password",
        "cc-number",
        "billing cc-name",
        "bday",
        "email username",  # two field names: outside the grammar (WooCommerce sets it)
        "home given-name",  # a contact type only goes before a phone or email
        "shipping billing postal-code",
        "postal-code shipping",
        "section- email",
        "gift section-x email",
        "webauthn",
        "x" * 300,
    ],
)
def test_values_outside_the_grammar_or_not_stored_mean_nothing(value: str) -> None:
    assert read_autocomplete(value) is None


def test_the_declared_field_map_wins_over_the_token() -> None:
    form = OrderForm(form_id="f", field_map={"notes": "city"})
    assert form.route("notes", "shipping postal-code") == ("field", "city", None, None)


def test_a_declared_extra_field_is_never_stored_whatever_its_token(
    store: SQLiteStore, clock: FakeClock
) -> None:
    form = OrderForm(form_id="f", extra_fields=frozenset({"gift_for"}))
    client = Cartback(store, clock=clock, forms={"f": form})
    result = client.capture(
        submission(form_id="f", fields={"gift_for": {"value": "Bob", "autocomplete": "name"}})
    )
    assert result.cart is not None
    assert (result.cart.contact.first_name, result.dropped.extra) == (None, 1)


def test_the_token_wins_over_a_common_name() -> None:
    # An input named "town" that the page marks as the billing postal code.
    route = OrderForm(form_id="f").route("town", "billing postal-code")
    assert route == ("field", "postal_code", None, "billing")


def test_without_a_section_token_the_name_says_which_address() -> None:
    # WooCommerce's classic checkout: autocomplete="address-line1" on both addresses.
    form = OrderForm(form_id="f")
    assert form.route("shipping_address_1", "address-line1").section == "shipping"
    assert form.route("billing_address_1", "address-line1").section == "billing"


def test_a_form_can_turn_tokens_off() -> None:
    form = OrderForm(form_id="f", use_autocomplete=False)
    assert form.route("x1", "email").kind == "extra"


def test_a_checkout_known_only_by_its_tokens_is_captured(client: Cartback) -> None:
    """Inputs with names nobody could guess, and the snippet's values as it sends them."""

    def typed(value: str, autocomplete: str, text: str | None = None) -> dict[str, Any]:
        return {"value": value, "autocomplete": autocomplete, **({"text": text} if text else {})}

    body = submission(
        email=None,
        country=None,
        fields={
            "f1": typed("kai@example.com", "email"),
            "f2": typed("Kai Moana", "shipping name"),
            "f3": typed("+1 808 555 0142", "shipping tel"),
            "f4": typed("1 Ala Moana Blvd", "shipping street-address"),
            "f5": typed("Suite 4", "shipping address-line2"),
            "f6": typed("Honolulu", "shipping address-level2"),
            "f7": typed("HI", "shipping address-level1"),
            "f8": typed("96815", "shipping postal-code"),
            "f9": typed("US", "shipping country", "United States"),
            "f10": typed("Moana Surf", "shipping organization"),
            "f11": typed("secret", "new-password"),
        },
    )
    result = client.capture(body)
    assert result.cart is not None
    contact = result.cart.contact
    assert (contact.email, contact.first_name, contact.last_name) == (
        "kai@example.com",
        "Kai",
        "Moana",
    )
    assert (contact.street, contact.city, contact.state, contact.postal_code) == (
        "1 Ala Moana Blvd",
        "Honolulu",
        "HI",
        "96815",
    )
    assert (contact.country, contact.phone) == ("US", "+18085550142")
    assert contact.address_extra == {"f5": "Suite 4", "f10": "Moana Surf"}
    assert result.dropped.extra == 1


def test_the_snippets_value_object_is_read_like_a_plain_value() -> None:
    form = OrderForm(form_id="f")
    plain = extract_fields(form, {"email": "a@example.com", "city": "Austin"})
    rich = extract_fields(
        form,
        {
            "email": {"value": "a@example.com", "autocomplete": ""},
            "city": {"value": "Austin", "autocomplete": ""},
        },
    )
    assert rich == plain
