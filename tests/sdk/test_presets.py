"""Presets: a platform's names, steps and country numbering, and no EU prospect stored
because of how a platform numbers its countries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pycountry
import pytest

from cartback import (
    EU_MEMBER_STATES,
    EU_SPECIAL_TERRITORIES,
    EligibilityPolicy,
    InvalidInputError,
    OrderForm,
    parse_submission,
    plan_capture,
)
from cartback._presets import OPENCART_COUNTRIES, PRESETS, PRESTASHOP_COUNTRIES, PresetName
from cartback.capture import CapturePlan
from tests.sdk._support import submission

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EU = EU_MEMBER_STATES | EU_SPECIAL_TERRITORIES
POLICY = EligibilityPolicy()


def plan(body: dict[str, Any], form: OrderForm | None = None) -> CapturePlan:
    return plan_capture(
        parse_submission(body),
        form=form or OrderForm(form_id=body["form_id"]),
        policy=POLICY,
        now=NOW,
    )


def english_name(code: str) -> str:
    country: Any = pycountry.countries.get(alpha_2=code)
    return str(country.name)


# -- the platforms' numbering ---------------------------------------------------------

TABLES = {"prestashop": PRESTASHOP_COUNTRIES, "opencart": OPENCART_COUNTRIES}
COUNTRY_FIELDS = {"prestashop": "id_country", "opencart": "country_id"}


def test_the_tables_hold_the_platforms_own_numbers() -> None:
    # Install data of PrestaShop 8 (country.xml order) and OpenCart 3 (opencart.sql).
    assert (PRESTASHOP_COUNTRIES["1"], PRESTASHOP_COUNTRIES["8"]) == ("DE", "FR")
    assert (PRESTASHOP_COUNTRIES["21"], PRESTASHOP_COUNTRIES["244"]) == ("US", "AX")
    assert "157" not in PRESTASHOP_COUNTRIES  # the Netherlands Antilles: no ISO country
    assert (OPENCART_COUNTRIES["81"], OPENCART_COUNTRIES["223"]) == ("DE", "US")
    assert (OPENCART_COUNTRIES["222"], OPENCART_COUNTRIES["74"]) == ("GB", "FR")
    assert OPENCART_COUNTRIES["251"] == "ES"  # the Canary Islands are Spain: the EU
    assert "253" not in OPENCART_COUNTRIES  # Kosovo has no ISO 3166-1 code
    for table in TABLES.values():
        assert all(pycountry.countries.get(alpha_2=code) for code in table.values())


@pytest.mark.parametrize("platform", sorted(TABLES))
def test_every_eu_country_under_the_platforms_numbers_is_refused(platform: PresetName) -> None:
    field = COUNTRY_FIELDS[platform]
    refused = 0
    for number, code in TABLES[platform].items():
        if code not in EU:
            continue
        for text in (None, english_name(code), "Frankreich"):  # any language, or none
            value: Any = {"value": number, "autocomplete": "", **({"text": text} if text else {})}
            body = submission(
                email=f"eu.{number}@example.com",
                country=None,
                preset=platform,
                fields={field: value},
            )
            result = plan(body)
            assert not result.stored, (number, code, text)
            assert result.eligibility.reasons in (("country_excluded",), ("country_unknown",))
            refused += 1
    assert refused >= 28 * 3


@pytest.mark.parametrize("platform", sorted(TABLES))
def test_without_the_preset_a_platform_number_alone_means_nothing(platform: str) -> None:
    field = COUNTRY_FIELDS[platform]
    for number, code in TABLES[platform].items():
        result = plan(submission(email="x@example.com", country=None, fields={field: number}))
        assert result.eligibility.reasons == ("country_unknown",), (number, code)


def test_prestashop_8_is_france_not_albania() -> None:
    # ISO 3166-1 numeric 008 is Albania: read as ISO, a French prospect would be stored.
    assert pycountry.countries.get(numeric="008").alpha_2 == "AL"  # type: ignore[union-attr]
    for body in (
        submission(country=None, preset="prestashop", fields={"id_country": "8"}),
        submission(country=None, fields={"id_country": {"value": "8", "text": "France"}}),
        submission(country=None, fields={"id_country": "8"}),
    ):
        result = plan(body)
        assert not result.stored
        assert result.eligibility.reasons[0] in ("country_excluded", "country_unknown")
        assert result.eligibility.country != "AL"


def test_a_us_prospect_is_stored_under_every_platforms_numbering() -> None:
    cases = [
        ("prestashop", "id_country", "21", "United States"),
        ("opencart", "country_id", "223", "United States"),
        ("magento", "country_id", "US", "United States"),
        ("woocommerce", "billing_country", "US", "United States (US)"),
        ("bigcommerce", "shippingAddress.countryCode", "US", "United States"),
        ("medusa", "shipping_address.country_code", "us", "United States"),
        ("shopify", "checkout[shipping_address][country]", "United States", "United States"),
    ]
    for preset, field, value, text in cases:
        body = submission(
            country=None, preset=preset, fields={field: {"value": value, "text": text}}
        )
        result = plan(body)
        assert result.contact is not None, preset
        assert result.contact.country == "US", preset


def test_an_option_text_that_contradicts_the_number_fails_closed() -> None:
    body = submission(
        country=None, preset="prestashop", fields={"id_country": {"value": "21", "text": "France"}}
    )
    assert plan(body).eligibility.reasons == ("country_unknown",)


def test_the_option_text_reads_a_number_the_preset_does_not_know() -> None:
    # A country the shop added itself (ids after the stock 244).
    for text, reasons in [("Canada", ()), ("Belgique", ("country_unknown",))]:
        body = submission(
            country=None,
            preset="prestashop",
            fields={"id_country": {"value": "245", "text": text}},
        )
        assert plan(body).eligibility.reasons == reasons


def test_a_form_declares_its_own_country_values() -> None:
    form = OrderForm(form_id="f", country_values={"1": "United States", "2": "Germany"})
    assert plan(submission(form_id="f", country="1"), form).contact is not None
    refused = plan(submission(form_id="f", country="2"), form)
    assert refused.eligibility.reasons == ("country_excluded",)
    with pytest.raises(ValueError, match="country_values"):
        OrderForm(form_id="f", country_values={"9": "Atlantis"})


# -- names, steps, and who decides ----------------------------------------------------


def test_an_unknown_preset_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_submission(submission(preset="wordpress"))
    assert (raised.value.field, raised.value.reason) == ("preset", "unknown_preset")
    assert parse_submission(submission(preset="")).preset is None


def test_every_preset_says_what_it_models() -> None:
    assert set(PRESETS) == {
        "bigcommerce", "magento", "medusa", "multistep", "opencart", "prestashop",
        "shopify", "woocommerce",
    }  # fmt: skip
    for item in PRESETS.values():
        assert item.platform
        if item.steps_total is not None:
            assert item.contact_step is not None
            assert item.contact_step < item.steps_total  # rule 4 holds on the platform


def test_the_forms_declared_preset_wins_over_the_pages() -> None:
    form = OrderForm(form_id="f", preset="magento")
    assert form.with_preset("prestashop") is form
    derived = OrderForm(form_id="f").with_preset("prestashop")
    assert derived.preset == "prestashop"
    assert OrderForm(form_id="f").with_preset(None).preset is None


def test_magento_names_map_with_the_preset() -> None:
    fields = {
        "username": "mo@example.com",
        "firstname": "Mo",
        "lastname": "Farah",
        "street[0]": "10 Downing St",
        "street[1]": "Flat 2",
        "city": "Boston",
        "region_id": {"value": "32", "text": "Massachusetts"},
        "postcode": "02108",
        "country_id": {"value": "US", "text": "United States"},
        "telephone": "617-555-0100",
    }
    result = plan(submission(email=None, country=None, preset="magento", fields=fields))
    assert result.contact is not None
    assert result.contact.email == "mo@example.com"
    assert (result.contact.street, result.contact.state) == ("10 Downing St", "Massachusetts")
    assert result.contact.address_extra == {"street_1": "Flat 2"}
    # Without the preset "username" is no email: nothing certain, nothing stored.
    plain = plan(submission(email=None, country=None, fields=fields))
    assert plain.eligibility.reasons == ("email_missing",)


def test_preset_steps_apply_unless_the_page_or_form_says_otherwise() -> None:
    body = submission(preset="prestashop")
    assert plan(body).stored  # 4 steps, contact data on step 1
    one_step = plan(submission(preset="prestashop", steps_total=2, contact_step=2))
    assert one_step.eligibility.reasons == ("no_step_after_contact",)


@pytest.mark.parametrize(
    ("preset", "fields", "last_field", "step"),
    [
        ("prestashop", {"email": "a@example.com"}, "firstname", 1),
        ("prestashop", {"email": "a@example.com", "address1": "1 Main St"}, "city", 2),
        ("prestashop", {"email": "a@example.com"}, "delivery_option[3]", 3),
        ("prestashop", {"email": "a@example.com"}, "conditions_to_approve[terms]", 4),
        ("bigcommerce", {"shippingAddress.city": "Austin"}, "paymentProviderRadio", 4),
        ("opencart", {"telephone": "555"}, "payment_method", 5),
        ("shopify", {}, "checkout[shipping_rate][id]", 2),
        ("woocommerce", {}, "billing_city", None),  # one page: no steps
    ],
)
def test_the_step_reached_comes_from_the_inputs_filled_and_focused(
    preset: str, fields: dict[str, Any], last_field: str, step: int | None
) -> None:
    result = plan(submission(preset=preset, last_field=last_field, fields=fields))
    assert result.context is not None
    assert (result.context.step, result.context.last_field) == (step, last_field)


def test_the_pages_step_counts_and_the_furthest_wins() -> None:
    result = plan(submission(preset="prestashop", step="3", last_field="email"))
    assert result.context is not None
    assert result.context.step == 3
    declared = OrderForm(form_id="checkout", field_steps={"coupon": 2})
    mine = plan(submission(last_field="coupon"), declared)
    assert mine.context is not None
    assert mine.context.step == 2


def test_a_last_field_that_cannot_be_kept_is_left_out_never_refused() -> None:
    for value in ["x" * 200, "bad\x00name", ["list"], True]:
        result = plan(submission(last_field=value))
        assert result.context is not None
        assert result.context.last_field is None
    carded = plan(submission(last_field="card 4111 1111 1111 1111"))
    assert carded.context is not None
    assert carded.context.last_field is None
    assert carded.dropped.card_number == 1
