"""How an order form's inputs map onto the fields cartback stores."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property, lru_cache
from typing import Annotated, Any, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cartback._types import CanonicalField

__all__ = [
    "DEFAULT_ADDITIONAL_ADDRESS_FIELDS",
    "DEFAULT_FIELD_MAP",
    "DEFAULT_PAYMENT_PLAN_FIELDS",
    "FieldRoute",
    "OrderForm",
    "field_key",
]

FieldRoute = tuple[
    Literal["field", "address", "newsletter", "extra", "payment_plan"], str, str | None
]
"""Where one submitted input goes: ``(kind, target, placeholder)``. The kind is a
canonical field (target: its name), a declared address field (target: its key), the
newsletter box, or dropped as an extra field or the payment plan; the placeholder is
the input's declared placeholder, case-folded, if any."""

_MAX_CACHED_ROUTES: Final = 4096

_KEY_SEPARATORS: Final = re.compile(r"[\s\-\[\].]+")


@lru_cache(maxsize=4096)
def field_key(name: str) -> str:
    """The lookup key of a form field name: ``"Billing-Email"`` and ``"billing[email]"``
    both become ``"billing_email"``."""
    return _KEY_SEPARATORS.sub("_", name.strip().casefold()).strip("_")


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
        "billing_phone",
    ),
    **_mapping(
        "street", "street", "address", "address1", "address_1", "street_address",
        "address_line1", "address_line_1", "billing_address_1", "billing_street",
    ),
    **_mapping("house_number", "house_number", "house_no", "street_number", "housenumber"),
    **_mapping("city", "city", "town", "locality", "billing_city"),
    **_mapping("state", "state", "province", "region", "county", "billing_state"),
    **_mapping(
        "postal_code", "postal_code", "postcode", "post_code", "zip", "zipcode", "zip_code",
        "billing_postcode", "billing_zip",
    ),
    **_mapping("country", "country", "country_code", "billing_country"),
    **_mapping(
        "newsletter", "newsletter", "newsletter_opt_in", "newsletter_optin", "opt_in",
        "marketing_opt_in", "subscribe",
    ),
}  # fmt: skip
"""Common form field names (as ``field_key`` spells them) and what they hold."""

DEFAULT_ADDITIONAL_ADDRESS_FIELDS: Final = frozenset(
    {"address2", "address_2", "address_line2", "address_line_2", "billing_address_2"}
)
"""Second address lines, kept under ``Contact.address_extra``."""

DEFAULT_PAYMENT_PLAN_FIELDS: Final = frozenset(
    {
        "payment_plan", "plan", "pay_plan", "billing_plan", "installments", "instalments",
        "payment_option", "payment_type",
    }
)  # fmt: skip
"""Names of the payment plan control, which is never stored."""


def _keys(values: frozenset[str]) -> frozenset[str]:
    return frozenset(field_key(value) for value in values)


class OrderForm(BaseModel):
    """The declaration of one order form: which inputs hold which contact fields.

    Only mapped fields and declared additional address fields are ever stored;
    every other input is an extra field and is dropped. Frozen, so one declaration
    can be shared by every request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    form_id: Annotated[str, Field(min_length=1, max_length=128)]
    """The form's id, as the snippet sends it."""
    field_map: dict[str, CanonicalField] = Field(default_factory=dict)
    """Form field names mapped onto canonical fields, on top of the defaults."""
    use_default_field_map: bool = True
    """Also recognise the common names in ``DEFAULT_FIELD_MAP``."""
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
    steps_total: Annotated[int, Field(ge=1, le=100)] | None = None
    """Steps of a multi-step form; when set it overrides what the page sends."""
    contact_step: Annotated[int, Field(ge=1, le=100)] | None = None
    """The 1-based step where contact data is entered; overrides the page."""
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
    def lookup(self) -> dict[str, CanonicalField]:
        """The effective field map, keyed by ``field_key``."""
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
    def _route_cache(self) -> dict[str, FieldRoute]:
        return {}

    def route(self, name: str) -> FieldRoute:
        """Where the input called ``name`` goes, as a ``FieldRoute``.

        Memoised per form (up to 4,096 names): real forms post the same few names on
        every capture.
        """
        cache = self._route_cache
        found = cache.get(name)
        if found is None:
            found = self._route_uncached(name)
            if len(cache) < _MAX_CACHED_ROUTES:
                cache[name] = found
        return found

    def _route_uncached(self, name: str) -> FieldRoute:
        key = field_key(name)
        placeholder = self.placeholder_lookup.get(key)
        if key in self.payment_plan_fields:
            return ("payment_plan", key, None)
        if key in self.extra_fields:
            return ("extra", key, None)
        canonical = self.lookup.get(key)
        if canonical == "newsletter":
            return ("newsletter", key, None)
        if canonical is not None:
            return ("field", canonical, placeholder)
        if key in self.additional_address_fields:
            return ("address", key, placeholder)
        return ("extra", key, None)
