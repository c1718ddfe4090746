"""Form presets: what a checkout platform's order form looks like to cartback.

A preset carries a platform's field names (beyond the common ones every form gets),
the inputs that are never stored, its multi-step structure (how many steps, where
contact data is entered, which step each input is on) and the meaning of its country
option values. The page names one with ``data-preset``; a shop names one with
``OrderForm(preset=...)``. Each preset says which version of the platform's stock
checkout it was modelled on (``platform``).

The country tables are the platforms' own install data: PrestaShop numbers its
countries in the order of ``install-dev/data/xml/country.xml`` (1 Germany, 8 France,
21 United States), OpenCart by ``country_id`` in ``install/opencart.sql`` (81 Germany,
223 United States). A value a table does not list means nothing certain and is read
only with its option text (see ``read_country``); an entry whose code is not an
ISO 3166-1 country (Netherlands Antilles, Kosovo) is left out for that reason.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from cartback._types import CanonicalField

__all__ = ["PRESETS", "FormPreset", "PresetName", "preset"]

PresetName = Literal[
    "bigcommerce", "magento", "medusa", "multistep", "opencart", "prestashop", "shopify",
    "woocommerce",
]  # fmt: skip
"""A named form preset: a checkout platform, or ``multistep`` for a multi-step order
form of your own whose steps are submitted one by one."""

Step = Annotated[int, Field(ge=1, le=100)]


class FormPreset(BaseModel):
    """A checkout platform's order form, as cartback reads it. Frozen: presets are
    shared by every form that names them."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: PresetName
    """The preset's name (``data-preset`` on the tag, ``OrderForm.preset``)."""
    platform: str
    """The platform and the version of its stock checkout the preset was modelled on."""
    field_map: dict[str, CanonicalField] = Field(default_factory=dict)
    """The platform's own input names (as ``field_key`` spells them, without a
    ``billing_`` or ``shipping_`` prefix) beyond the common ones."""
    additional_address_fields: frozenset[str] = frozenset()
    """Further address inputs of the platform, stored under ``address_extra``."""
    extra_fields: frozenset[str] = frozenset()
    """The platform's inputs that are never stored (account, notes, choices)."""
    country_values: dict[str, str] = Field(default_factory=dict)
    """The platform's country option values and the alpha-2 code each stands for."""
    steps_total: Step | None = None
    """How many steps the checkout has; ``None`` for a one-page checkout."""
    contact_step: Step | None = None
    """The step on which the email is entered."""
    field_steps: dict[str, Step] = Field(default_factory=dict)
    """The step each input is on, by field key (a key also covers the bracketed names
    it starts: ``delivery_option`` covers ``delivery_option[3]``), for the step a
    prospect reached. An input on several steps is listed at its first."""


def _codes(text: str) -> list[str]:
    return text.split()


# PrestaShop 8: id_country 1..244 in install order ("--" for an entry that is no
# ISO 3166-1 country: 157, the Netherlands Antilles).
_PRESTASHOP_ISO = _codes(
    """
    DE AT BE CA CN ES FI FR GR IT JP LU NL PL PT CZ GB SE CH DK US HK NO AU SG IE NZ KR IL ZA
    NG CI TG BO MU RO SK DZ AS AD AO AI AG AR AM AW AZ BS BH BD BB BY BZ BJ BM BT BW BR BN BF
    MM BI KH CM CV CF TD CL CO KM CD CG CR HR CU CY DJ DM DO TL EC EG SV GQ ER EE ET FK FO FJ
    GA GM GE GH GD GL GI GP GU GT GG GN GW GY HT HM VA HN IS IN ID IR IQ IM JM JE JO KZ KE KI
    KP KW KG LA LV LB LS LR LY LI LT MO MK MG MW MY MV ML MT MH MQ MR HU YT MX FM MD MC MN ME
    MS MA MZ NA NR NP -- NC NI NE NU NF MP OM PK PW PS PA PG PY PE PH PN PR QA RE RU RW BL KN
    LC MF PM VC WS SM ST SA SN RS SC SL SI SB SO GS LK SD SR SJ SZ SY TW TJ TZ TH TK TO TT TN
    TR TM TC TV UG UA AE UY UZ VU VE VN VG VI WF EH YE ZM ZW AL AF AQ BA BV IO BG KY CX CC CK
    GF PF TF AX
    """
)
PRESTASHOP_COUNTRIES: Final = {
    str(index): code for index, code in enumerate(_PRESTASHOP_ISO, start=1) if code != "--"
}

# OpenCart 3.0: country_id -> alpha-2 ("--": no ISO 3166-1 country; 73 and 236 are
# unused). The Canary Islands (251, "IC") are Spain, Ascension (252) and Tristan da
# Cunha (255) Saint Helena; 240 and 241 are Jersey and Guernsey of installs before 3.0.
_OPENCART_ISO = _codes(
    """
    AF AL DZ AS AD AO AI AQ AG AR AM AW AU AT AZ BS BH BD BB BY BE BZ BJ BM BT BO BA BW BV BR
    IO BN BG BF BI KH CM CA CV KY CF TD CL CN CX CC CO KM CG CK CR CI HR CU CY CZ DK DJ DM DO
    TL EC EG SV GQ ER EE ET FK FO FJ FI -- FR GF PF TF GA GM GE DE GH GI GR GL GD GP GU GT GN
    GW GY HT HM HN HK HU IS IN ID IR IQ IE IL IT JM JP JO KZ KE KI KP KR KW KG LA LV LB LS LR
    LY LI LT LU MO MK MG MW MY MV ML MT MH MQ MR MU YT MX FM MD MC MN MS MA MZ MM NA NR NP NL
    -- NC NZ NI NE NG NU NF MP NO OM PK PW PA PG PY PE PH PN PL PT PR QA RE RO RU RW KN LC VC
    WS SM ST SA SN SC SL SG SK SI SB SO ZA GS ES LK SH PM SD SR SJ SZ SE CH SY TW TJ TZ TH TG
    TK TO TT TN TR TM TC TV UG UA AE GB US UM UY UZ VU VA VE VN VG VI WF EH YE -- CD ZM ZW JE
    GG ME RS AX BQ CW PS SS BL MF ES SH -- IM SH GG JE
    """
)
OPENCART_COUNTRIES: Final = {
    str(index): code for index, code in enumerate(_OPENCART_ISO, start=1) if code != "--"
}

_PRESETS: Final = (
    FormPreset(
        name="woocommerce",
        platform=(
            "WooCommerce 9.x: the classic checkout ([woocommerce_checkout], billing_* and "
            "shipping_* names) and the block checkout (default since 8.3: shipping-* and "
            "billing-* ids with section autocomplete tokens)"
        ),
        extra_fields=frozenset(
            {
                "order_comments",
                "account_username",
                "createaccount",
                "terms",
                "ship_to_different_address",
                "payment_method",
            }
        ),
    ),
    FormPreset(
        name="medusa",
        platform="Medusa 1.x Next.js storefront (nextjs-starter-medusa, App Router checkout)",
        extra_fields=frozenset({"same_as_billing"}),
        steps_total=4,
        contact_step=1,
        field_steps={"email": 1, "shipping_address": 1, "billing_address": 1},
    ),
    FormPreset(
        name="shopify",
        platform=(
            "Shopify's checkout before checkout extensibility (checkout[...] names, one page "
            "per step: information, shipping, payment); the current checkout takes the "
            "custom pixel (snippet/shopify/)"
        ),
        field_map={
            "email_or_phone": "email",
            "buyer_accepts_marketing": "newsletter",
            "accepts_marketing": "newsletter",
        },
        extra_fields=frozenset({"remember_me", "different_billing_address", "payment_gateway"}),
        steps_total=3,
        contact_step=1,
        field_steps={
            "email": 1,
            "email_or_phone": 1,
            "buyer_accepts_marketing": 1,
            "shipping_address": 1,
            "shipping_rate": 2,
            "payment_gateway": 3,
            "different_billing_address": 3,
            "billing_address": 3,
        },
    ),
    FormPreset(
        name="magento",
        platform=(
            "Magento 2.4 / Adobe Commerce Luma one-page checkout (steps Shipping and Review & "
            "Payments; the shipping method form counted as its own step)"
        ),
        field_map={"username": "email", "street_0": "street"},
        additional_address_fields=frozenset({"street_1", "street_2"}),
        extra_fields=frozenset({"billing_address_same_as_shipping", "payment_method"}),
        steps_total=3,
        contact_step=1,
        field_steps={
            "username": 1,
            "firstname": 1,
            "lastname": 1,
            "company": 1,
            "street": 1,
            "city": 1,
            "region_id": 1,
            "region": 1,
            "postcode": 1,
            "country_id": 1,
            "telephone": 1,
            "ko_unique": 2,
            "payment": 3,
            "billing_address_same_as_shipping": 3,
        },
    ),
    FormPreset(
        name="prestashop",
        platform=(
            "PrestaShop 8.1 classic theme checkout (personal information, addresses, shipping "
            "method, payment: one form and one page load per step)"
        ),
        extra_fields=frozenset(
            {
                "id_gender",
                "optin",
                "psgdpr",
                "customer_privacy",
                "birthday",
                "alias",
                "vat_number",
                "dni",
                "use_same_address",
                "delivery_message",
            }
        ),
        country_values=PRESTASHOP_COUNTRIES,
        steps_total=4,
        contact_step=1,
        field_steps={
            "id_gender": 1,
            "firstname": 1,
            "lastname": 1,
            "email": 1,
            "birthday": 1,
            "optin": 1,
            "newsletter": 1,
            "psgdpr": 1,
            "customer_privacy": 1,
            "alias": 2,
            "company": 2,
            "vat_number": 2,
            "address1": 2,
            "address2": 2,
            "postcode": 2,
            "city": 2,
            "id_state": 2,
            "id_country": 2,
            "phone": 2,
            "phone_mobile": 2,
            "use_same_address": 2,
            "delivery_option": 3,
            "delivery_message": 3,
            "gift": 3,
            "payment_option": 4,
            "conditions_to_approve": 4,
        },
    ),
    FormPreset(
        name="bigcommerce",
        platform=(
            "BigCommerce Optimized One-Page Checkout (checkout-js: steps customer, shipping, "
            "billing, payment, each its own form)"
        ),
        field_map={"should_subscribe": "newsletter"},
        extra_fields=frozenset({"order_comment", "should_save_address", "privacy_policy"}),
        steps_total=4,
        contact_step=1,
        field_steps={
            "email": 1,
            "should_subscribe": 1,
            "shipping_address": 2,
            "order_comment": 2,
            "first_name": 3,
            "last_name": 3,
            "company": 3,
            "address1": 3,
            "address2": 3,
            "city": 3,
            "country_code": 3,
            "state_or_province": 3,
            "postal_code": 3,
            "phone": 3,
            "payment_provider_radio": 4,
        },
    ),
    FormPreset(
        name="opencart",
        platform=(
            "OpenCart 3.0 guest checkout (six collapsible panels loaded in one page; country_id "
            "and zone_id selects with OpenCart's ids)"
        ),
        extra_fields=frozenset(
            {
                "account",
                "customer_group_id",
                "shipping_address",
                "shipping_method",
                "payment_method",
                "comment",
                "agree",
            }
        ),
        country_values=OPENCART_COUNTRIES,
        steps_total=6,
        contact_step=2,
        field_steps={
            "account": 1,
            "customer_group_id": 2,
            "firstname": 2,
            "lastname": 2,
            "email": 2,
            "telephone": 2,
            "company": 2,
            "address_1": 2,
            "address_2": 2,
            "city": 2,
            "postcode": 2,
            "country_id": 2,
            "zone_id": 2,
            "shipping_address": 2,
            "shipping_method": 4,
            "payment_method": 5,
            "agree": 5,
            "comment": 4,
        },
    ),
    FormPreset(
        name="multistep",
        platform="a multi-step order form of your own whose steps are submitted one by one",
    ),
)

PRESETS: Final[dict[PresetName, FormPreset]] = {item.name: item for item in _PRESETS}
"""Every preset by name."""


def preset(name: PresetName) -> FormPreset:
    """The preset called ``name``."""
    return PRESETS[name]
