"""How an order form's inputs map onto the fields cartback stores.

An input is recognised, first match wins, by: the form's declared field map; the
form's additional address fields; the preset's names (``OrderForm.preset``, or the
page's ``data-preset``); the input's ``autocomplete`` token; the common names of
``DEFAULT_FIELD_MAP``. Names are compared as ``field_key`` spells them, with or without
a ``checkout_``/``order_``/``customer_``/``contact_`` wrapper and a ``billing_`` or
``shipping_`` (``billing_address_``...) prefix, which also says which address the
input belongs to. Anything else is an extra field and is never stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property, lru_cache
from typing import Annotated, Any, Final, Literal, NamedTuple, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cartback._autocomplete import AddressSection, read_autocomplete
from cartback._presets import PRESETS, FormPreset, PresetName
from cartback._regions import normalize_country
from cartback._types import CanonicalField

__all__ = [
    "DEFAULT_ADDITIONAL_ADDRESS_FIELDS",
    "DEFAULT_FIELD_MAP",
    "DEFAULT_FULL_NAME_FIELDS",
    "DEFAULT_PAYMENT_PLAN_FIELDS",
    "FieldRoute",
    "OrderForm",
    "field_key",
    "split_field_key",
]

RouteKind = Literal["field", "address", "name", "newsletter", "extra", "payment_plan"]


class FieldRoute(NamedTuple):
    """Where one submitted input goes."""

    kind: RouteKind
    """A canonical field, a declared address field, a full name (split into given and
    family name), the newsletter box, or dropped as an extra field or the payment plan."""
    target: str
    """The canonical field's name, or the input's field key."""
    placeholder: str | None = None
    """The input's declared placeholder, case-folded, if any."""
    section: AddressSection | None = None
    """The address the input belongs to (``billing``/``shipping``), when it says."""


_MAX_CACHED_ROUTES: Final = 4096

_KEY_SEPARATORS: Final = re.compile(r"[\s\-\[\].]+")
_CAMEL_HUMP: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PREFIXES: Final = re.compile(
    r"^(?P<wrapper>(?:checkout|order|customer|contact)_)?"
    r"(?:(?P<section>billing|shipping)_(?:address_(?!\d+$))?)?(?=.)"
)


@lru_cache(maxsize=4096)
def field_key(name: str) -> str:
    """The lookup key of a form field name: ``"Billing-Email"``, ``"billing[email]"`` and
    ``"billingEmail"`` all become ``"billing_email"``."""
    spaced = _CAMEL_HUMP.sub("_", name.strip())
    return _KEY_SEPARATORS.sub("_", spaced.casefold()).strip("_")


@lru_cache(maxsize=4096)
def split_field_key(key: str) -> tuple[AddressSection | None, str, str]:
    """``(section, stripped, base)`` of a field key: the address it names, the key
    without its wrapper, and without its address prefix too.

    ``"checkout_shipping_address_zip"`` is ``("shipping", "shipping_address_zip",
    "zip")``; ``"billing_address_1"`` is ``("billing", "billing_address_1",
    "address_1")``; ``"shipping_address"`` (a whole address: a checkbox, a choice) has
    no base of its own.
    """
    match = _PREFIXES.match(key)
    if match is None:
        return None, key, key
    stripped = key[len(match.group("wrapper") or "") :]
    base = key[match.end() :]
    section: AddressSection | None = None
    if match.group("section") == "billing":
        section = "billing"
    elif match.group("section") == "shipping":
        section = "shipping"
    if section is not None and base == "address":
        return None, stripped, stripped
    return section, stripped, base


def _mapping(canonical: CanonicalField, *names: str) -> dict[str, CanonicalField]:
    return dict.fromkeys(names, canonical)


DEFAULT_FIELD_MAP: Final[dict[str, CanonicalField]] = {
    **_mapping("email", "email", "e_mail", "email_address", "billing_email", "customer_email"),
    **_mapping(
        "first_name", "first_name", "firstname", "fname", "given_name", "billing_first_name"
    ),
    **_mapping(
        "last_name", "last_name", "lastname", "lname", "surname", "family_name",
        "billing_last_name",
    ),
    **_mapping(
        "phone", "phone", "tel", "telephone", "phone_number", "mobile", "mobile_phone",
        "phone_mobile", "billing_phone",
    ),
    **_mapping(
        "street", "street", "address", "address1", "address_1", "street_address",
        "address_line1", "address_line_1", "billing_address_1", "billing_street", "street_0",
    ),
    **_mapping("house_number", "house_number", "house_no", "street_number", "housenumber"),
    **_mapping("city", "city", "town", "locality", "billing_city"),
    **_mapping(
        "state", "state", "province", "region", "county", "billing_state", "region_id",
        "zone_id", "id_state", "state_or_province", "state_or_province_code", "state_code",
        "province_code",
    ),
    **_mapping(
        "postal_code", "postal_code", "postcode", "post_code", "zip", "zipcode", "zip_code",
        "postalcode", "billing_postcode", "billing_zip",
    ),
    **_mapping(
        "country", "country", "country_code", "billing_country", "country_id", "id_country"
    ),
    **_mapping(
        "newsletter", "newsletter", "newsletter_opt_in", "newsletter_optin", "opt_in",
        "marketing_opt_in", "subscribe",
    ),
}  # fmt: skip
"""Common form field names (as ``field_key`` spells them, also under a ``billing_`` or
``shipping_`` prefix) and what they hold. A bare number in a country field is a
platform's id, read only with its option text or the form's country values."""

DEFAULT_FULL_NAME_FIELDS: Final = frozenset({"name", "full_name", "fullname", "your_name"})
"""Names of a single full-name input: split at its first space into given and family
name, unless the form has separate ones."""

DEFAULT_ADDITIONAL_ADDRESS_FIELDS: Final = frozenset(
    {
        "address2", "address_2", "address_line2", "address_line_2", "billing_address_2",
        "address3", "address_3", "address_line3", "street_1", "street_2", "company",
        "company_name", "organization", "organisation",
    }
)  # fmt: skip
"""Further address lines and the company, kept under ``Contact.address_extra``."""

DEFAULT_PAYMENT_PLAN_FIELDS: Final = frozenset(
    {
        "payment_plan", "plan", "pay_plan", "billing_plan", "installments", "instalments",
        "payment_option", "payment_type",
    }
)  # fmt: skip
"""Names of the payment plan control, which is never stored."""


def _keys(values: frozenset[str]) -> frozenset[str]:
    return frozenset(field_key(value) for value in values)


def _country_values(values: dict[str, str]) -> dict[str, str]:
    codes = {}
    for value, country in values.items():
        code = normalize_country(country)
        if code is None:
            raise ValueError(f"country_values: {country!r} is not a country")
        codes[value.strip().casefold()] = code
    return codes


class OrderForm(BaseModel):
    """The declaration of one order form: which inputs hold which contact fields.

    Only mapped fields and additional address fields are ever stored; every other
    input is an extra field and is dropped. Frozen, so one declaration can be shared
    by every request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    form_id: Annotated[str, Field(min_length=1, max_length=128)]
    """The form's id, as the snippet sends it."""
    preset: PresetName | None = None
    """The checkout platform the form is (``PRESETS``); when set, the page's
    ``data-preset`` cannot name another. Its names come after the declared ones."""
    field_map: dict[str, CanonicalField] = Field(default_factory=dict)
    """Form field names mapped onto canonical fields, on top of the defaults."""
    use_default_field_map: bool = True
    """Also recognise the common names in ``DEFAULT_FIELD_MAP``."""
    use_autocomplete: bool = True
    """Also recognise inputs by their ``autocomplete`` token (after the declared and the
    preset's names, before the common ones)."""
    additional_address_fields: Annotated[frozenset[str], AfterValidator(_keys)] = (
        DEFAULT_ADDITIONAL_ADDRESS_FIELDS
    )
    """Further address inputs of this form, stored by name in ``address_extra``."""
    extra_fields: Annotated[frozenset[str], AfterValidator(_keys)] = Field(
        default_factory=frozenset
    )
    """Custom inputs that must never be stored, even if their name looks familiar."""
    payment_plan_fields: Annotated[frozenset[str], AfterValidator(_keys)] = (
        DEFAULT_PAYMENT_PLAN_FIELDS
    )
    """The payment plan control's names: never stored."""
    placeholders: dict[str, str] = Field(default_factory=dict)
    """Placeholder text by field name; a value equal to it counts as not filled."""
    country_values: Annotated[dict[str, str], AfterValidator(_country_values)] = Field(
        default_factory=dict
    )
    """The form's own country option values (a platform's ids) and the country each
    means, in any spelling ``normalize_country`` reads; on top of the preset's."""
    iso_numeric_countries: bool = False
    """Whether a bare number in the country field is an ISO 3166-1 numeric code
    (``"840"``: the United States). Otherwise a number means nothing by itself: only
    ``country_values`` or the option's text say which country it is."""
    steps_total: Annotated[int, Field(ge=1, le=100)] | None = None
    """Steps of a multi-step form; when set it overrides what the page sends."""
    contact_step: Annotated[int, Field(ge=1, le=100)] | None = None
    """The 1-based step where contact data is entered; overrides the page."""
    field_steps: dict[str, Annotated[int, Field(ge=1, le=100)]] = Field(default_factory=dict)
    """The step each input is on, by name (``delivery_option`` also covers
    ``delivery_option[3]``), for the furthest step a prospect reached; on top of the
    preset's."""
    seller: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """The seller of record; when set, the page cannot claim another one."""
    consent_text_version: Annotated[str, Field(max_length=64)] | None = None
    """Version of the consent wording next to this form's checkboxes."""

    @model_validator(mode="after")
    def _steps_consistent(self) -> OrderForm:
        if (
            self.steps_total is not None
            and self.contact_step is not None
            and self.contact_step > self.steps_total
        ):
            raise ValueError("contact_step must not be after the last step")
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied, validated like a new declaration; it never
        shares state with this form, so ``deep`` changes nothing.

        The field map, placeholders and routes derived from a form are memoised on it;
        a plain copy would carry them over to a form that declares something else.
        """
        return self.model_validate({**self.model_dump(), **(update or {})})

    @cached_property
    def _with_presets(self) -> dict[PresetName, OrderForm]:
        return {}

    def with_preset(self, name: PresetName | None) -> OrderForm:
        """This form read with the preset ``name`` (the page's ``data-preset``), unless
        it declares its own preset or ``name`` is ``None``. Memoised per form."""
        if name is None or self.preset is not None:
            return self
        derived = self._with_presets.get(name)
        if derived is None:
            derived = self._with_presets[name] = self.model_copy(update={"preset": name})
        return derived

    @property
    def preset_definition(self) -> FormPreset | None:
        """The preset's definition, when the form has one."""
        return None if self.preset is None else PRESETS[self.preset]

    @cached_property
    def lookup(self) -> dict[str, CanonicalField]:
        """The effective field map without the preset's names, keyed by ``field_key``."""
        merged: dict[str, CanonicalField] = (
            dict(DEFAULT_FIELD_MAP) if self.use_default_field_map else {}
        )
        merged.update({field_key(name): canonical for name, canonical in self.field_map.items()})
        for name in self.extra_fields | self.payment_plan_fields:
            merged.pop(name, None)
        return merged

    @cached_property
    def placeholder_lookup(self) -> dict[str, str]:
        """Placeholders keyed by ``field_key``, compared case-insensitively."""
        return {
            field_key(name): text.strip().casefold() for name, text in self.placeholders.items()
        }

    @cached_property
    def country_lookup(self) -> dict[str, str]:
        """The country option values this form reads (the preset's, then the declared
        ones), case-folded, each with its alpha-2 code."""
        preset = self.preset_definition
        return {**(preset.country_values if preset else {}), **self.country_values}

    @cached_property
    def _declared_map(self) -> dict[str, CanonicalField]:
        return {field_key(name): canonical for name, canonical in self.field_map.items()}

    @cached_property
    def _steps(self) -> dict[str, int]:
        preset = self.preset_definition
        declared = {field_key(name): step for name, step in self.field_steps.items()}
        return {**(preset.field_steps if preset else {}), **declared}

    @cached_property
    def _route_cache(self) -> dict[tuple[str, str], FieldRoute]:
        return {}

    @cached_property
    def _step_cache(self) -> dict[str, int | None]:
        return {}

    def route(self, name: str, autocomplete: str = "") -> FieldRoute:
        """Where the input called ``name`` goes, given its ``autocomplete`` attribute as
        the browser reads it (``""`` for none), as a ``FieldRoute``.

        Memoised per form (up to 4,096 inputs): real forms post the same few names on
        every capture.
        """
        cache = self._route_cache
        found = cache.get((name, autocomplete))
        if found is None:
            found = self._route_uncached(name, autocomplete)
            if len(cache) < _MAX_CACHED_ROUTES:
                cache[(name, autocomplete)] = found
        return found

    def step_of(self, name: str) -> int | None:
        """The step the input called ``name`` is on, by ``field_steps`` and the
        preset's, or ``None``."""
        cache = self._step_cache
        if name in cache:
            return cache[name]
        key = field_key(name)
        _, stripped, _ = split_field_key(key)
        found = None
        for candidate in dict.fromkeys((key, stripped)):
            for listed, step in self._steps.items():
                if candidate == listed or candidate.startswith(listed + "_"):
                    found = step if found is None else min(found, step)
        if len(cache) < _MAX_CACHED_ROUTES:
            cache[name] = found
        return found

    def _route_uncached(self, name: str, autocomplete: str) -> FieldRoute:
        key = field_key(name)
        section, stripped, base = split_field_key(key)
        names = tuple(dict.fromkeys((key, stripped, base)))
        placeholder = self.placeholder_lookup.get(key)
        preset = self.preset_definition
        if key in self.payment_plan_fields:
            return FieldRoute("payment_plan", key)
        if key in self.extra_fields or (
            preset and not preset.extra_fields.isdisjoint((key, stripped))
        ):
            return FieldRoute("extra", key)
        declared = self._declared_map.get(key)
        if declared is not None:
            return self._mapped(declared, key, placeholder, section)
        if not self.additional_address_fields.isdisjoint(names) or (
            preset and not preset.additional_address_fields.isdisjoint(names)
        ):
            return FieldRoute("address", key, placeholder, section)
        if preset is not None:
            found = next((preset.field_map[n] for n in names if n in preset.field_map), None)
            if found is not None:
                return self._mapped(found, key, placeholder, section)
        autofill = read_autocomplete(autocomplete) if self.use_autocomplete else None
        if autofill is not None:
            autofill_section, (kind, target) = autofill
            section = autofill_section or section
            if kind == "field":
                return FieldRoute("field", target, placeholder, section)
            return FieldRoute(kind, key if kind == "address" else target, placeholder, section)
        if self.use_default_field_map:
            lookup = self.lookup
            found = next((lookup[n] for n in names if n in lookup), None)
            if found is not None:
                return self._mapped(found, key, placeholder, section)
            if not DEFAULT_FULL_NAME_FIELDS.isdisjoint(names):
                return FieldRoute("name", "name", placeholder, section)
        return FieldRoute("extra", key)

    @staticmethod
    def _mapped(
        canonical: CanonicalField, key: str, placeholder: str | None, section: AddressSection | None
    ) -> FieldRoute:
        if canonical == "newsletter":
            return FieldRoute("newsletter", key)
        return FieldRoute("field", canonical, placeholder, section)
