"""Billing and shipping addresses: which one is stored, never a mix of both, every
country checked; and every spelling of a field name a checkout uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback import (
    CanonicalField,
    EligibilityPolicy,
    OrderForm,
    extract_fields,
    field_key,
    parse_submission,
    plan_capture,
)
from cartback.capture import CapturePlan
from tests.sdk._support import submission

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def plan(body: dict[str, Any], form: OrderForm | None = None) -> CapturePlan:
    return plan_capture(
        parse_submission(body),
        form=form or OrderForm(form_id=body["form_id"]),
        policy=EligibilityPolicy(),
        now=NOW,
    )


def address(prefix: str, city: str, country: str = "US") -> dict[str, str]:
    return {
        f"{prefix}first_name": f"{city}-first",
        f"{prefix}last_name": f"{city}-last",
        f"{prefix}address_1": f"1 {city} Road",
        f"{prefix}city": city,
        f"{prefix}postcode": "10001",
        f"{prefix}country": country,
        f"{prefix}phone": "+1 212 555 0100",
    }


# -- which address is stored ---------------------------------------------------------


def test_a_shipping_only_prospect_is_stored_with_the_shipping_address() -> None:
    # WooCommerce's block checkout: the shipping address first, billing "same as".
    result = plan(submission(country=None, fields=address("shipping-", "Austin")))
    assert result.contact is not None
    assert (result.contact.city, result.contact.street) == ("Austin", "1 Austin Road")
    assert (result.contact.first_name, result.contact.country) == ("Austin-first", "US")
    assert result.contact.phone == "+12125550100"


def test_when_both_are_typed_the_billing_address_is_stored_whole() -> None:
    fields = {**address("shipping_", "Austin"), **address("billing_", "Boston")}
    result = plan(submission(country=None, fields=fields))
    assert result.contact is not None
    contact = result.contact
    assert (contact.first_name, contact.last_name) == ("Boston-first", "Boston-last")
    assert (contact.street, contact.city) == ("1 Boston Road", "Boston")


def test_the_stored_address_is_never_a_mix_of_two() -> None:
    # Billing street typed, billing city not yet: the shipping city does not fill in.
    fields = {**address("shipping_", "Austin"), "billing_address_1": "9 Elm St"}
    result = plan(submission(country=None, fields=fields))
    assert result.contact is not None
    assert (result.contact.street, result.contact.city) == ("9 Elm St", None)
    assert result.contact.first_name is None  # the shipping name is someone else's maybe
    assert result.contact.phone == "+12125550100"  # a way to reach: from either address


def test_a_billing_name_alone_does_not_choose_the_billing_address() -> None:
    fields = {**address("shipping_", "Austin"), "billing_first_name": "Bea"}
    result = plan(submission(country=None, fields=fields))
    assert result.contact is not None
    assert (result.contact.city, result.contact.first_name) == ("Austin", "Austin-first")


def test_inputs_of_no_address_fill_the_stored_addresss_gaps() -> None:
    fields = {"shipping_city": "Austin", "zip": "78701", "first_name": "Ann"}
    result = plan(submission(fields=fields))
    assert result.contact is not None
    assert (result.contact.city, result.contact.postal_code) == ("Austin", "78701")
    assert result.contact.first_name == "Ann"


@pytest.mark.parametrize(
    ("billing", "shipping", "reason"),
    [
        ("US", "FR", "country_excluded"),  # a gift to Paris: an address in the EU
        ("FR", "US", "country_excluded"),
        ("US", "Narnia", "country_unknown"),
        ("US", "8", "country_unknown"),  # a platform number without its name
    ],
)
def test_every_country_typed_must_pass(billing: str, shipping: str, reason: str) -> None:
    fields = {**address("billing_", "Boston", billing), **address("shipping_", "Paris", shipping)}
    result = plan(submission(email="gift@example.com", country=None, fields=fields))
    assert not result.stored
    assert result.eligibility.reasons == (reason,)


def test_the_other_addresss_country_checks_when_the_stored_one_has_none() -> None:
    fields = {**address("shipping_", "Lyon", "FR"), "billing_address_1": "9 Elm St"}
    result = plan(submission(country=None, fields=fields))
    assert result.eligibility.reasons == ("country_excluded",)


def test_a_full_name_is_split_where_the_form_has_no_separate_names() -> None:
    result = plan(submission(fields={"billingName": "Ann Marie Lee"}))
    assert result.contact is not None
    assert (result.contact.first_name, result.contact.last_name) == ("Ann", "Marie Lee")
    single = plan(submission(fields={"full_name": "Cher"}))
    assert single.contact is not None
    assert (single.contact.first_name, single.contact.last_name) == ("Cher", None)
    both = plan(submission(fields={"name": "Ann Lee", "first_name": "Annie"}))
    assert both.contact is not None
    assert (both.contact.first_name, both.contact.last_name) == ("Annie", None)


def test_a_state_picked_by_a_platform_number_is_stored_by_its_name() -> None:
    fields = {"region_id": {"value": "12", "text": "California"}, "city": "Fresno"}
    result = plan(submission(fields=fields))
    assert result.contact is not None
    assert result.contact.state == "California"
    coded = plan(submission(fields={"state": {"value": "CA", "text": "California"}}))
    assert coded.contact is not None
    assert coded.contact.state == "CA"  # a code is what the platform stores: kept as is


def test_the_stored_address_is_reported() -> None:
    form = OrderForm(form_id="f")
    assert extract_fields(form, address("shipping_", "A")).address_section == "shipping"
    both = {**address("shipping_", "A"), **address("billing_", "B")}
    assert extract_fields(form, both).address_section == "billing"
    assert extract_fields(form, {"city": "C"}).address_section is None


# -- every spelling of a name --------------------------------------------------------

BASES: dict[str, CanonicalField] = {
    "email": "email",
    "first_name": "first_name",
    "firstname": "first_name",
    "last_name": "last_name",
    "phone": "phone",
    "telephone": "phone",
    "address_1": "street",
    "address1": "street",
    "city": "city",
    "state": "state",
    "province": "state",
    "postcode": "postal_code",
    "postal_code": "postal_code",
    "zip": "postal_code",
    "country": "country",
    "country_code": "country",
}


def spell(words: list[str], style: str) -> str:
    """One name in one of the spellings checkouts use."""
    if style == "camel":
        return words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:])
    if style == "pascal":
        return "".join(word[:1].upper() + word[1:] for word in words)
    if style == "brackets":
        return words[0] + "".join(f"[{word}]" for word in words[1:])
    if style == "dots":
        return ".".join(words)
    if style == "kebab":
        return "-".join(words)
    if style == "upper":
        return "_".join(words).upper()
    return "_".join(words)


STYLES = ["snake", "camel", "pascal", "brackets", "dots", "kebab", "upper"]


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, CanonicalField, str | None]:
    base = draw(st.sampled_from(sorted(BASES)))
    section = draw(st.sampled_from([None, "billing", "shipping"]))
    words = base.split("_")
    if section:
        prefix = [section] + (["address"] if draw(st.booleans()) else [])
        words = prefix + words
    if draw(st.booleans()):
        words = [draw(st.sampled_from(["checkout", "order", "customer", "contact"])), *words]
    style = draw(st.sampled_from(STYLES))
    if style in ("camel", "pascal") and any(word.isdigit() for word in words):
        style = "snake"  # "address1" has no hump to split
    if style == "brackets" and len(words) < 2:
        style = "snake"
    return spell(words, style), BASES[base], section


@settings(max_examples=500, deadline=None)
@given(case=spellings())
def test_property_every_spelling_of_a_known_name_is_routed(
    case: tuple[str, CanonicalField, str | None],
) -> None:
    name, canonical, section = case
    route = OrderForm(form_id="f").route(name)
    assert (route.kind, route.target, route.section) == ("field", canonical, section), (
        name,
        field_key(name),
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("billingName", "billing_name"),
        ("shippingAddress.postalCode", "shipping_address_postal_code"),
        ("checkout[shipping_address][first_name]", "checkout_shipping_address_first_name"),
        ("shipping-first_name", "shipping_first_name"),
        ("street[0]", "street_0"),
        ("PLZ", "plz"),
        ("E-Mail", "e_mail"),
    ],
)
def test_field_keys_of_platform_names(name: str, key: str) -> None:
    assert field_key(name) == key


@pytest.mark.parametrize(
    "name",
    ["shipping_address", "ship_to_different_address", "shipping_method", "billing_plan"],
)
def test_names_about_a_whole_address_or_a_choice_are_not_its_fields(name: str) -> None:
    assert OrderForm(form_id="f").route(name).kind in ("extra", "payment_plan")
