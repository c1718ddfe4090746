"""Capture: raw form fields in, only the filled, allowed, normalised fields stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback import (
    CanonicalField,
    Cartback,
    ConfigurationError,
    Contact,
    EligibilityPolicy,
    InvalidInputError,
    OrderForm,
    SQLiteStore,
    Submission,
    contains_card_number,
    extract_fields,
    field_key,
    parse_submission,
    plan_capture,
)
from tests.conftest import FakeClock
from tests.sdk._support import submission

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def contact_of(client: Cartback, body: dict[str, Any], **kwargs: Any) -> Contact:
    result = client.capture(body, **kwargs)
    assert result.cart is not None, result.reasons
    return result.cart.contact


# -- the default field map ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "attribute", "stored"),
    [
        ("first_name", "Ada", "first_name", "Ada"),
        ("firstname", "Ada", "first_name", "Ada"),
        ("First Name", "Ada", "first_name", "Ada"),
        ("billing_first_name", "Ada", "first_name", "Ada"),
        ("billing[first_name]", "Ada", "first_name", "Ada"),
        ("last_name", "Lovelace", "last_name", "Lovelace"),
        ("billing_last_name", "Lovelace", "last_name", "Lovelace"),
        ("surname", "Lovelace", "last_name", "Lovelace"),
        ("street", "1 Main St", "street", "1 Main St"),
        ("billing_address_1", "1 Main St", "street", "1 Main St"),
        ("address_line1", "1 Main St", "street", "1 Main St"),
        ("house_number", "12b", "house_number", "12b"),
        ("city", "Austin", "city", "Austin"),
        ("billing_city", "Austin", "city", "Austin"),
        ("state", "TX", "state", "TX"),
        ("billing_state", "TX", "state", "TX"),
        ("postcode", "78701", "postal_code", "78701"),
        ("billing_postcode", "78701", "postal_code", "78701"),
        ("zip", "78701", "postal_code", "78701"),
        ("phone", "+1 415 555 2671", "phone", "+14155552671"),
        ("tel", "+1 415 555 2671", "phone", "+14155552671"),
        ("billing_phone", "+1 415 555 2671", "phone", "+14155552671"),
    ],
)
def test_default_field_map(
    client: Cartback, name: str, value: str, attribute: str, stored: str
) -> None:
    contact = contact_of(client, submission(fields={name: value}))
    assert getattr(contact, attribute) == stored


@pytest.mark.parametrize("name", ["email", "billing_email", "E-Mail", "customer_email"])
def test_email_field_names(client: Cartback, name: str) -> None:
    contact = contact_of(client, submission(email=None, fields={name: "bob@example.com"}))
    assert contact.email == "bob@example.com"


@pytest.mark.parametrize("name", ["country", "billing_country", "country_code"])
def test_country_field_names(client: Cartback, name: str) -> None:
    contact = contact_of(client, submission(country=None, fields={name: "United States"}))
    assert contact.country == "US"


def test_woocommerce_checkout(client: Cartback) -> None:
    body = submission(
        email=None,
        country=None,
        form_id="woocommerce-checkout",
        fields={
            "billing_first_name": "Grace",
            "billing_last_name": "Hopper",
            "billing_company": "Navy",
            "billing_country": "US",
            "billing_address_1": "1 Navy Way",
            "billing_address_2": "Suite 5",
            "billing_city": "Arlington",
            "billing_state": "VA",
            "billing_postcode": "22202",
            "billing_phone": "(703) 555-0100",
            "billing_email": "Grace@Navy.MIL",
            "order_comments": "leave at door",
            "payment_method": "stripe",
        },
    )
    result = client.capture(body)
    assert result.status == "stored"
    assert result.cart is not None
    assert result.cart.contact == Contact(
        email="Grace@navy.mil",
        phone="+17035550100",
        phone_e164=True,
        first_name="Grace",
        last_name="Hopper",
        street="1 Navy Way",
        city="Arlington",
        state="VA",
        postal_code="22202",
        country="US",
        address_extra={"billing_company": "Navy", "billing_address_2": "Suite 5"},
    )
    assert result.dropped.extra == 2  # order_comments, payment_method
    assert result.dropped.total == 2


def test_only_filled_fields_are_stored(client: Cartback) -> None:
    result = client.capture(
        submission(
            fields={"first_name": "  ", "last_name": "", "city": None, "state": "\t\n", "zip": "1"}
        )
    )
    assert result.cart is not None
    contact = result.cart.contact
    assert contact.first_name is None
    assert contact.last_name is None
    assert contact.city is None
    assert contact.state is None
    assert contact.postal_code == "1"
    assert result.dropped.empty == 4


def test_values_are_stripped_and_whitespace_collapsed(client: Cartback) -> None:
    contact = contact_of(
        client, submission(fields={"first_name": "  Mary \t Ann\n", "city": " New   York "})
    )
    assert contact.first_name == "Mary Ann"
    assert contact.city == "New York"


@pytest.mark.parametrize(
    ("name", "value"),
    [("zip", 2134), ("house_number", 12), ("email", 123), ("phone", 14155552671), ("city", 1.5)],
)
def test_a_number_in_a_mapped_field_is_refused_naming_the_field(
    client: Cartback, db_path: Path, name: str, value: float
) -> None:
    """A ZIP code 02134 sent as a number arrives as 2134, a phone number without its "+":
    a number is refused (``not_a_string``) rather than stored altered."""
    with pytest.raises(InvalidInputError) as raised:
        client.capture(submission(fields={name: value}))
    assert (raised.value.field, raised.value.reason) == (f"fields.{name}", "not_a_string")
    assert client.list_carts().total == 0


def test_a_number_in_an_extra_field_is_dropped_not_refused(client: Cartback) -> None:
    result = client.capture(submission(fields={"quantity": 3, "zip": "02134"}))
    assert result.cart is not None
    assert result.cart.contact.postal_code == "02134"
    assert result.dropped.extra == 1


def test_first_filled_input_wins_when_two_map_to_one_field(client: Cartback) -> None:
    contact = contact_of(
        client, submission(fields={"town": "", "city": "Austin", "locality": "Dallas"})
    )
    assert contact.city == "Austin"


# -- the order form declaration -----------------------------------------------------


def make_client(store: SQLiteStore, clock: FakeClock, *forms: OrderForm, **kw: Any) -> Cartback:
    return Cartback(store, clock=clock, forms={form.form_id: form for form in forms}, **kw)


def test_custom_field_map(store: SQLiteStore, clock: FakeClock) -> None:
    form = OrderForm(
        form_id="f",
        field_map={"contact[mail]": "email", "Vorname": "first_name", "plz": "postal_code"},
    )
    client = make_client(store, clock, form)
    contact = contact_of(
        client,
        submission(
            email=None,
            form_id="f",
            fields={"contact[mail]": "x@example.com", "vorname": "Jo", "PLZ": "10115"},
        ),
    )
    assert (contact.email, contact.first_name, contact.postal_code) == (
        "x@example.com",
        "Jo",
        "10115",
    )


def test_custom_field_map_can_replace_the_defaults(store: SQLiteStore, clock: FakeClock) -> None:
    form = OrderForm(form_id="f", field_map={"mail": "email"}, use_default_field_map=False)
    client = make_client(store, clock, form)
    result = client.capture(
        submission(email=None, form_id="f", fields={"mail": "m@example.com", "first_name": "Jo"})
    )
    # without the default map, "country" is not a known field either
    assert result.reasons == ("country_missing",)
    stored = client.capture(
        submission(email=None, form_id="f", fields={"mail": "m@example.com"}),
        fallback_country="US",
    )
    assert stored.cart is not None
    assert stored.cart.contact.first_name is None
    assert stored.dropped.extra == 1


def test_custom_map_overrides_a_default_meaning(store: SQLiteStore, clock: FakeClock) -> None:
    form = OrderForm(form_id="f", field_map={"region": "country"})
    client = make_client(store, clock, form)
    contact = contact_of(client, submission(country=None, form_id="f", fields={"region": "CA"}))
    assert contact.country == "CA"
    assert contact.state is None


def test_declared_extra_field_overrides_a_known_name(store: SQLiteStore, clock: FakeClock) -> None:
    form = OrderForm(form_id="f", extra_fields=frozenset({"Phone", "city"}))
    client = make_client(store, clock, form)
    result = client.capture(
        submission(form_id="f", fields={"phone": "+14155552671", "city": "Austin", "zip": "1"})
    )
    assert result.cart is not None
    assert result.cart.contact.phone is None
    assert result.cart.contact.city is None
    assert result.cart.contact.postal_code == "1"
    assert result.dropped.extra == 2


def test_declared_extra_field_overrides_an_additional_address_name(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """``extra_fields``: "Custom inputs that must never be stored, even if their name looks
    familiar" - that includes the default second address line names."""
    form = OrderForm(form_id="f", extra_fields=frozenset({"address_2"}))
    client = make_client(store, clock, form)
    result = client.capture(submission(form_id="f", fields={"address_2": "secret custom input"}))
    assert result.cart is not None
    assert result.cart.contact.address_extra == {}
    assert result.dropped.extra == 1


@pytest.mark.parametrize(
    "name", ["payment_plan", "installments", "Payment-Option", "plan", "payment_type"]
)
def test_payment_plan_is_dropped_and_counted(client: Cartback, name: str) -> None:
    result = client.capture(submission(fields={name: "12 monthly instalments"}))
    assert result.cart is not None
    assert "instalments" not in result.cart.model_dump_json()
    assert result.dropped.payment_plan == 1
    assert result.dropped.extra == 0


def test_payment_plan_cannot_be_mapped_onto_a_stored_field(
    store: SQLiteStore, clock: FakeClock
) -> None:
    form = OrderForm(form_id="f", field_map={"payment_plan": "city"})
    client = make_client(store, clock, form)
    result = client.capture(submission(form_id="f", fields={"payment_plan": "monthly"}))
    assert result.cart is not None
    assert result.cart.contact.city is None
    assert result.dropped.payment_plan == 1


def test_custom_payment_plan_fields(store: SQLiteStore, clock: FakeClock) -> None:
    form = OrderForm(form_id="f", payment_plan_fields=frozenset({"Raten"}))
    client = make_client(store, clock, form)
    result = client.capture(submission(form_id="f", fields={"raten": "3"}))
    assert result.dropped.payment_plan == 1


def test_placeholders_are_dropped_and_counted(store: SQLiteStore, clock: FakeClock) -> None:
    form = OrderForm(form_id="f", placeholders={"first_name": "Your first name", "city": "City"})
    client = make_client(store, clock, form)
    result = client.capture(
        submission(
            form_id="f", fields={"first_name": "  your FIRST name ", "city": "city", "zip": "9"}
        )
    )
    assert result.cart is not None
    assert result.cart.contact.first_name is None
    assert result.cart.contact.city is None
    assert result.cart.contact.postal_code == "9"
    assert result.dropped.placeholder == 2


def test_additional_address_fields_are_kept_by_name(client: Cartback) -> None:
    contact = contact_of(
        client,
        submission(
            fields={"Address-2": " Apt  4 ", "address_line2": "Rear", "shipping_notes": "x"}
        ),
    )
    assert contact.address_extra == {"address_2": "Apt 4", "address_line2": "Rear"}


def test_declared_additional_address_fields(store: SQLiteStore, clock: FakeClock) -> None:
    form = OrderForm(form_id="f", additional_address_fields=frozenset({"Building", "floor"}))
    client = make_client(store, clock, form)
    result = client.capture(
        submission(form_id="f", fields={"building": "B", "FLOOR": "3", "address_2": "x"})
    )
    assert result.cart is not None
    assert result.cart.contact.address_extra == {"building": "B", "floor": "3"}
    assert result.dropped.extra == 1


# -- normalisation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "country", "e164"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "USA", "+14155552671"),
        ("+1 415 555 2671", "CA", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0412 345 678", "Australia", "+61412345678"),
    ],
)
def test_phone_is_stored_in_e164_with_the_country_as_region(
    client: Cartback, typed: str, country: str, e164: str
) -> None:
    contact = contact_of(client, submission(country=country, fields={"phone": typed}))
    assert contact.phone == e164
    assert contact.phone_e164 is True


@pytest.mark.parametrize("typed", ["call me maybe", "12", "555"])
def test_unparseable_phone_is_kept_as_entered(client: Cartback, typed: str) -> None:
    contact = contact_of(client, submission(fields={"phone": f"  {typed} "}))
    assert contact.phone == typed
    assert contact.phone_e164 is False


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Alice@EXAMPLE.COM", "Alice@example.com"),
        ("  bob@Example.org  ", "bob@example.org"),
        ("first.last+tag@Sub.Example.co.uk", "first.last+tag@sub.example.co.uk"),
        ("user@XN--MNCHEN-3YA.DE", "user@münchen.de"),
    ],
)
def test_email_is_normalised(client: Cartback, typed: str, stored: str) -> None:
    contact = contact_of(client, submission(email=typed))
    assert contact.email == stored


def test_invalid_email_is_not_stored_and_counted(client: Cartback) -> None:
    result = client.capture(submission(email="not an email"))
    assert result.status == "not_stored"
    assert result.reasons == ("email_invalid",)
    assert result.dropped.invalid == 1


def test_prospect_key_is_the_lower_cased_email(client: Cartback) -> None:
    contact = contact_of(client, submission(email="MiXeD@Example.com"))
    assert contact.prospect_key == "mixed@example.com"


# -- newsletter and consent ----------------------------------------------------------


@pytest.mark.parametrize("value", ["on", "yes", "1", True, 1, "Subscribe", "checked"])
def test_newsletter_checkbox_grants_newsletter_consent(
    client: Cartback, store: SQLiteStore, clock: FakeClock, value: object
) -> None:
    result = client.capture(
        submission(form_id="shop-1", fields={"Newsletter_Opt_In": value}, consent_version="nl-3")
    )
    assert result.cart is not None
    assert result.cart.newsletter_opt_in is True
    events = store.consent_events("alice@example.com")
    assert len(events) == 1
    (event,) = events
    assert event.channel == "newsletter"
    assert event.action == "granted"
    assert event.at == clock.now
    assert event.source.kind == "form"
    assert event.source.ref == "shop-1:Newsletter_Opt_In"
    assert event.text_version == "nl-3"
    assert client.may_contact("alice@example.com", "newsletter")


@pytest.mark.parametrize("value", ["off", "no", "0", False, 0, "", "unchecked"])
def test_unticked_newsletter_grants_nothing(
    client: Cartback, store: SQLiteStore, value: object
) -> None:
    result = client.capture(submission(fields={"newsletter": value}))
    assert result.cart is not None
    assert result.cart.newsletter_opt_in is False
    assert store.consent_events("alice@example.com") == []
    assert not client.may_contact("alice@example.com", "newsletter")


def test_no_newsletter_field_leaves_opt_in_unknown(client: Cartback) -> None:
    result = client.capture(submission())
    assert result.cart is not None
    assert result.cart.newsletter_opt_in is None


def test_consent_dict_grants_each_ticked_channel_with_its_version(
    client: Cartback, store: SQLiteStore, clock: FakeClock
) -> None:
    client.capture(
        submission(
            form_id="f9",
            consent={"sms": True, "push": True, "email": False, "newsletter": True},
            consent_version="2026-11",
            session_id="s-1",
            fields={"phone": "+14155552671"},
        )
    )
    events = store.consent_events("alice@example.com")
    assert sorted(event.channel for event in events) == ["newsletter", "push", "sms"]
    for event in events:
        assert event.action == "granted"
        assert event.text_version == "2026-11"
        assert event.session_id == "s-1"
        assert event.at == clock.now
        assert event.source.ref == f"f9:consent.{event.channel}"
    assert client.may_contact("alice@example.com", "sms")
    assert client.may_contact("alice@example.com", "push")
    cart = client.list_carts().items[0]
    assert cart.newsletter_opt_in is True


def test_form_consent_text_version_is_used_when_the_page_sends_none(
    store: SQLiteStore, clock: FakeClock
) -> None:
    form = OrderForm(form_id="f", consent_text_version="form-v2")
    client = make_client(store, clock, form)
    client.capture(submission(form_id="f", consent={"sms": True}))
    (event,) = store.consent_events("alice@example.com")
    assert event.text_version == "form-v2"


# -- the declaration wins over the page ----------------------------------------------


def test_form_seller_overrides_the_page(store: SQLiteStore, clock: FakeClock) -> None:
    client = make_client(store, clock, OrderForm(form_id="us-form", seller="us"))
    result = client.capture(submission(form_id="us-form", seller="de-gmbh"))
    assert result.cart is not None
    assert result.cart.context.seller == "us"


def test_form_seller_cannot_be_claimed_away(store: SQLiteStore, clock: FakeClock) -> None:
    client = make_client(store, clock, OrderForm(form_id="de-form", seller="de-gmbh"))
    result = client.capture(submission(form_id="de-form", seller="us"))
    assert result.status == "not_stored"
    assert result.reasons == ("seller_not_allowed",)


def test_form_steps_override_the_page(store: SQLiteStore, clock: FakeClock) -> None:
    client = make_client(store, clock, OrderForm(form_id="multi", steps_total=3, contact_step=3))
    result = client.capture(submission(form_id="multi", steps_total=3, contact_step=1))
    assert result.reasons == ("no_step_after_contact",)
    ok = make_client(store, clock, OrderForm(form_id="ok", steps_total=3, contact_step=2))
    assert ok.capture(submission(form_id="ok", steps_total=2, contact_step=2)).stored


def test_form_contact_step_alone_overrides_the_page(store: SQLiteStore, clock: FakeClock) -> None:
    """``OrderForm.contact_step``: "The 1-based step where contact data is entered;
    overrides the page." A page claiming an earlier step must not win."""
    client = make_client(store, clock, OrderForm(form_id="multi", contact_step=3))
    result = client.capture(submission(form_id="multi", steps_total=3, contact_step=2))
    assert result.reasons == ("no_step_after_contact",)


def test_page_steps_are_used_for_an_undeclared_form(client: Cartback) -> None:
    assert client.capture(submission(steps_total=3, contact_step=2)).stored
    refused = client.capture(submission(email="b@example.com", steps_total=3, contact_step=3))
    assert refused.reasons == ("no_step_after_contact",)


# -- fallback country ---------------------------------------------------------------


def test_fallback_country_is_used_when_the_form_has_no_country_field(client: Cartback) -> None:
    result = client.capture(submission(country=None), fallback_country="US")
    assert result.cart is not None
    assert result.cart.contact.country == "US"
    refused = client.capture(submission(email="b@example.com", country=None), fallback_country="FR")
    assert refused.reasons == ("country_excluded",)


def test_a_filled_country_field_wins_over_the_fallback(client: Cartback) -> None:
    refused = client.capture(submission(country="DE"), fallback_country="US")
    assert refused.reasons == ("country_excluded",)
    stored = client.capture(submission(country="US"), fallback_country="DE")
    assert stored.cart is not None
    assert stored.cart.contact.country == "US"


def test_an_unknown_country_field_is_not_replaced_by_the_fallback(client: Cartback) -> None:
    result = client.capture(submission(country="Atlantis"), fallback_country="US")
    assert result.reasons == ("country_unknown",)


def test_without_country_and_fallback_nothing_is_stored(client: Cartback) -> None:
    assert client.capture(submission(country=None)).reasons == ("country_missing",)


# -- context -------------------------------------------------------------------------


def test_context_is_stored(client: Cartback, clock: FakeClock) -> None:
    result = client.capture(
        submission(
            form_id="f",
            product_id="sku-1",
            product_name="Course",
            cart_value="199.90",
            currency="usd",
            session_id="sess.1",
        )
    )
    assert result.cart is not None
    context = result.cart.context
    assert (context.form_id, context.product_id, context.product_name) == ("f", "sku-1", "Course")
    assert str(context.cart_value) == "199.90"
    assert context.currency == "USD"
    assert context.seller == "us"
    assert result.cart.session_id == "sess.1"
    assert result.cart.created_at == result.cart.updated_at == clock.now
    assert result.cart.status == "open"
    assert result.cart.capture_count == 1


def test_context_is_read_as_a_page_gives_it(client: Cartback) -> None:
    # The snippet passes data attributes and cartback.set() values on unconverted.
    result = client.capture(
        submission(
            product_id=42,
            product_name=None,
            cart_value=19,
            currency="",
            steps_total="3",
            contact_step="1",
            consent_version="",
        )
    )
    assert result.cart is not None
    context = result.cart.context
    assert (context.product_id, context.product_name) == ("42", None)
    assert (str(context.cart_value), context.currency) == ("19", None)
    parsed = parse_submission({**submission(steps_total="3", contact_step="1"), "form_id": 7})
    assert (parsed.form_id, parsed.steps_total, parsed.contact_step) == ("7", 3, 1)
    assert parse_submission(submission(seller="")).seller is None


# -- configuration -------------------------------------------------------------------


def test_forms_mapping_must_match_declared_ids(store: SQLiteStore) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Cartback(store, forms={"a": OrderForm(form_id="b")})
    assert raised.value.setting == "forms"


def test_retention_days_must_be_positive(store: SQLiteStore) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Cartback(store, retention_days=0)
    assert raised.value.setting == "retention_days"


def test_order_form_rejects_contact_step_after_the_last_step() -> None:
    with pytest.raises(ValueError, match="contact_step"):
        OrderForm(form_id="f", steps_total=2, contact_step=3)


def test_plan_for_an_ineligible_prospect_holds_no_contact() -> None:
    plan = plan_capture(
        parse_submission(submission(country="IT", fields={"newsletter": "on"})),
        form=OrderForm(form_id="checkout"),
        policy=EligibilityPolicy(),
        now=NOW,
    )
    assert not plan.stored
    assert plan.contact is None
    assert plan.context is None
    assert plan.consents == ()
    assert plan.eligibility.reasons == ("country_excluded",)


def test_phone_only_prospect_when_email_is_optional(store: SQLiteStore, clock: FakeClock) -> None:
    client = Cartback(store, clock=clock, policy=EligibilityPolicy(require_email=False))
    result = client.capture(submission(email=None, fields={"phone": "(415) 555-2671"}))
    assert result.cart is not None
    assert result.cart.contact.prospect_key == "tel:+14155552671"
    unverifiable = client.capture(submission(email=None, fields={"phone": "call me"}))
    assert unverifiable.status == "not_stored"
    assert unverifiable.reasons == ("contact_missing",)


# -- property: exactly the filled, allowed fields ------------------------------------

Section = str | None
KNOWN_NAMES: dict[str, tuple[CanonicalField, Section]] = {
    "first_name": ("first_name", None),
    "First Name": ("first_name", None),
    "billing_first_name": ("first_name", "billing"),
    "given-name": ("first_name", None),
    "last_name": ("last_name", None),
    "surname": ("last_name", None),
    "billing_last_name": ("last_name", "billing"),
    "shipping-last_name": ("last_name", "shipping"),
    "street": ("street", None),
    "billing_address_1": ("street", "billing"),
    "address[line1]": ("street", None),
    "shipping_address.address_1": ("street", "shipping"),
    "house_number": ("house_number", None),
    "street_number": ("house_number", None),
    "city": ("city", None),
    "town": ("city", None),
    "billing_city": ("city", "billing"),
    "shipping_city": ("city", "shipping"),
    "state": ("state", None),
    "province": ("state", None),
    "billing_state": ("state", "billing"),
    "postcode": ("postal_code", None),
    "zip": ("postal_code", None),
    "billing_postcode": ("postal_code", "billing"),
    "shippingAddress.postalCode": ("postal_code", "shipping"),
}
EXTRA_ADDRESS_NAMES: dict[str, Section] = {
    "address_2": None,
    "billing_address_2": "billing",
    "shipping-company": "shipping",
}
UNKNOWN_NAMES = [
    "coupon",
    "comment",
    "order_comments",
    "shipping_method",
    "how_did_you_hear",
    "gift_message",
    "vat_id",
    "custom-1",
]
ADDRESS_PARTS = {"street", "house_number", "city", "state", "postal_code", "country"}

filled_text = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZéßøü'-.0123 \t\n"),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "" and not contains_card_number(text))
empty_values = st.sampled_from(["", " ", "   ", "\t", "\n \t", None])
any_value = st.one_of(filled_text, empty_values)
unknown_value: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def raw_fields(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(
        st.lists(
            st.sampled_from(sorted(KNOWN_NAMES) + sorted(EXTRA_ADDRESS_NAMES) + UNKNOWN_NAMES),
            unique=True,
            max_size=18,
        )
    )
    fields: dict[str, Any] = {"email": "alice@example.com", "country": "US"}
    for name in names:
        fields[name] = draw(unknown_value if name in UNKNOWN_NAMES else any_value)
    return fields


def expected_capture(fields: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], int, int]:
    """The reference: fields bucketed by address, then one address chosen.

    Billing when any part of a billing address is filled, else shipping when any part of
    a shipping address is, else neither; the chosen address's values first, the inputs
    of no address filling its gaps, the first filled input of an address winning.
    """
    by_section: dict[Section, dict[str, str]] = {}
    extra_by_section: dict[Section, dict[str, str]] = {}
    empty = unknown = 0
    for name, raw in fields.items():
        if name in ("email", "country"):
            continue
        if name in UNKNOWN_NAMES:
            unknown += 1
            continue
        text = " ".join(raw.split()) if isinstance(raw, str) else ""
        if not text:
            empty += 1
        elif name in KNOWN_NAMES:
            canonical, section = KNOWN_NAMES[name]
            by_section.setdefault(section, {}).setdefault(canonical, text)
        else:
            key = field_key(name)
            extra_by_section.setdefault(EXTRA_ADDRESS_NAMES[name], {}).setdefault(key, text)
    chosen = next(
        (
            section
            for section in ("billing", "shipping")
            if extra_by_section.get(section) or ADDRESS_PARTS & set(by_section.get(section, {}))
        ),
        None,
    )
    order: list[Section] = [chosen, None] if chosen else [None, "billing", "shipping"]
    values: dict[str, str] = {}
    extra: dict[str, str] = {}
    for section in order:
        for field_name, text in by_section.get(section, {}).items():
            values.setdefault(field_name, text)
    for section in [chosen, None] if chosen else [None]:
        for key, text in extra_by_section.get(section, {}).items():
            extra.setdefault(key, text)
    return values, extra, empty, unknown


CONTACT_TEXT_FIELDS = ["first_name", "last_name", "street", "house_number", "city", "state"]


@settings(max_examples=150, deadline=None)
@given(fields=raw_fields())
def test_property_plan_keeps_exactly_the_filled_mapped_fields(fields: dict[str, Any]) -> None:
    plan = plan_capture(
        Submission(form_id="checkout", seller="us", fields=fields),
        form=OrderForm(form_id="checkout"),
        policy=EligibilityPolicy(),
        now=NOW,
    )
    values, extra, empty, unknown = expected_capture(fields)
    assert plan.contact is not None
    stored = {
        name: getattr(plan.contact, name)
        for name in [*CONTACT_TEXT_FIELDS, "postal_code"]
        if getattr(plan.contact, name) is not None
    }
    assert stored == values
    assert plan.contact.address_extra == extra
    assert plan.contact.email == "alice@example.com"
    assert plan.contact.country == "US"
    assert plan.contact.phone is None
    assert plan.dropped.empty == empty
    assert plan.dropped.extra == unknown
    assert plan.dropped.total == empty + unknown


@settings(max_examples=150, deadline=None)
@given(fields=raw_fields())
def test_property_extract_fields_matches_the_reference(fields: dict[str, Any]) -> None:
    filled = extract_fields(OrderForm(form_id="checkout"), fields)
    values, extra, empty, unknown = expected_capture(fields)
    assert {
        key: value for key, value in filled.values.items() if key not in ("email", "country")
    } == values
    assert filled.values["email"] == "alice@example.com"
    assert filled.countries == ("US",)
    assert filled.address_extra == extra
    assert filled.dropped.empty == empty
    assert filled.dropped.extra == unknown
    assert filled.newsletter is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fields=raw_fields())
def test_property_stored_contact_is_exactly_the_filled_mapped_fields(
    client: Cartback, fields: dict[str, Any]
) -> None:
    # Letters only: a hex id can hold a Luhn-valid digit run, which form_id refuses.
    form_id = "form-" + uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))
    result = client.capture({"form_id": form_id, "seller": "us", "fields": fields})
    assert result.status == "stored"
    assert result.cart is not None
    values, extra, _, _ = expected_capture(fields)
    again = client.get_cart(result.cart.id)
    assert again == result.cart
    dumped = again.contact.model_dump(exclude_none=True)
    dumped.pop("email")
    dumped.pop("country")
    address_extra = dumped.pop("address_extra")
    assert dumped == values
    assert address_extra == extra


def test_field_key_spellings() -> None:
    assert field_key("Billing-Email") == "billing_email"
    assert field_key("billing[email]") == "billing_email"
    assert field_key("  First Name ") == "first_name"
    assert field_key("address.line1") == "address_line1"


# -- routing inputs (memoised per form) ------------------------------------------------


def test_route_says_where_each_input_goes_by_the_forms_declaration() -> None:
    form = OrderForm(
        form_id="f1",
        field_map={"Contact-Mail": "email"},
        extra_fields=frozenset({"phone"}),
        additional_address_fields=frozenset({"suite"}),
        placeholders={"city": "Your city"},
    )
    assert form.route("Contact-Mail") == ("field", "email", None, None)
    assert form.route("billing[email]") == ("field", "email", None, "billing")
    assert form.route("phone") == ("extra", "phone", None, None)  # declared extra wins
    assert form.route("Suite") == ("address", "suite", None, None)
    assert form.route("shipping-suite") == ("address", "shipping_suite", None, "shipping")
    assert form.route("payment_plan") == ("payment_plan", "payment_plan", None, None)
    assert form.route("newsletter") == ("newsletter", "newsletter", None, None)
    assert form.route("city") == ("field", "city", "your city", None)
    assert form.route("favourite_colour") == ("extra", "favourite_colour", None, None)
    assert form.route("full_name") == ("name", "name", None, None)
    # Asked again, the memoised answer is the same.
    assert form.route("Contact-Mail") == ("field", "email", None, None)


def test_routes_of_one_form_never_leak_into_another() -> None:
    plain = OrderForm(form_id="a")
    strict = OrderForm(form_id="b", extra_fields=frozenset({"first_name"}))
    assert plain.route("first_name").kind == "field"
    assert strict.route("first_name").kind == "extra"
    assert plain.route("first_name").kind == "field"


def test_a_flood_of_distinct_input_names_is_routed_right_with_bounded_memory() -> None:
    form = OrderForm(form_id="f1")
    for index in range(6000):
        assert form.route(f"junk_{index}", f"x{index}") == ("extra", f"junk_{index}", None, None)
    assert form.route("email") == ("field", "email", None, None)
    assert len(form._route_cache) <= 4096


def test_a_form_derived_with_model_copy_routes_by_its_own_declaration() -> None:
    form = OrderForm(form_id="f1", placeholders={"city": "Your city"})
    assert form.route("email").kind == "field"
    assert form.lookup["email"] == "email"

    derived = form.model_copy(update={"extra_fields": ["Email"], "placeholders": {}})
    assert derived.extra_fields == frozenset({"email"})  # validated: keyed like any form
    assert derived.route("email") == ("extra", "email", None, None)
    assert derived.route("city") == ("field", "city", None, None)
    assert form.route("email") == ("field", "email", None, None)
