"""The raw submission a receiver gets from the snippet (or a shop's backend)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Final

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cartback._errors import InvalidInputError
from cartback._presets import PRESETS, PresetName
from cartback._types import CHANNELS, Channel

__all__ = [
    "MAX_FIELDS",
    "MAX_FIELD_LENGTH",
    "MAX_FIELD_NAME_LENGTH",
    "Money",
    "Submission",
    "parse_submission",
]

MAX_FIELD_LENGTH: Final = 512
"""Longest accepted form-field value, in characters; a longer value is an error."""
MAX_FIELD_NAME_LENGTH: Final = 128
"""Longest accepted form-field name."""
MAX_FIELDS: Final = 200
"""Most fields accepted in one submission."""

_CURRENCIES: Final = frozenset(c.alpha_3 for c in pycountry.currencies)


CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: str) -> str:
    """Refuse strings that cannot be stored as UTF-8 or carry control characters."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, e.g. from a JSON "\\ud800" escape
            raise PydanticCustomError("invalid_unicode", "not valid Unicode text") from None
    if CONTROL_CHARACTERS.search(value) is not None:
        raise PydanticCustomError("control_character", "contains a control character")
    return value


# Messenger and Instagram consent comes from the platforms' own opt-in, never a form box.
_FORM_CHANNELS: Final = frozenset(CHANNELS) - {"messenger", "instagram"}


def _check_channel(value: object) -> object:
    if value not in _FORM_CHANNELS:
        raise PydanticCustomError(
            "unknown_channel", "not a consent channel (newsletter, email, sms or push)"
        )
    return value


def _check_preset(value: object) -> object:
    if not isinstance(value, str) or value not in PRESETS:
        raise PydanticCustomError("unknown_preset", "not a form preset (see PRESETS)")
    return value


def _field_name_or_none(value: object) -> object:
    # A diagnostic never refuses a capture: a name that cannot be kept is not kept.
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    if not text or len(text) > MAX_FIELD_NAME_LENGTH or CONTROL_CHARACTERS.search(text):
        return None
    return text


def _check_currency(value: str) -> str:
    code = value.upper()
    if code not in _CURRENCIES:
        raise PydanticCustomError("unknown_currency", "not an ISO 4217 currency code")
    return code


# pydantic-core refuses lone surrogates itself ("string_unicode"); the pattern refuses
# control characters natively, without a Python call per field.
Text = Annotated[str, Field(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
Token = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
WireVersion = Annotated[StrictInt, Field(ge=1, le=1)]
"""The wire format's version: the integer 1 (``true`` or ``"1"`` are refused)."""
Currency = Annotated[str, Field(max_length=3), AfterValidator(_check_currency)]
ConsentChannel = Annotated[Channel, BeforeValidator(_check_channel)]
Preset = Annotated[PresetName, BeforeValidator(_check_preset)]
FieldName = Annotated[
    str | None,
    BeforeValidator(_field_name_or_none),
    # Any JSON value is accepted (a diagnostic never refuses a capture): the schema says so.
    WithJsonSchema({"description": "Any value; kept only as a string (or an integer's text)."}),
]
Money = Annotated[
    Decimal, Field(ge=0, lt=Decimal("1e8"), max_digits=12, decimal_places=4, allow_inf_nan=False)
]
"""An amount below 100 million with at most 4 decimals: at most 12 digits, so its text
can never hold a 13-digit run that looks like a card number."""
FieldValue = str | int | float | bool | None | list[Any] | dict[str, Any]
_OPTIONAL_CONTEXT: Final = (
    "product_id",
    "product_name",
    "cart_value",
    "currency",
    "seller",
    "steps_total",
    "contact_step",
    "step",
    "preset",
    "consent_version",
)


_CONTEXT_KEYS: Final = ("form_id", *_OPTIONAL_CONTEXT)


class Submission(BaseModel):
    """One capture from an order form: context plus the raw fields as submitted.

    Context is read leniently, as a page gives it: a number where text is expected is
    taken as its text (``product_id: 42``), a digit string as a step number
    (``steps_total: "3"``), and an empty string as unset, like ``null``. Unknown keys
    are refused, except inside ``context``, where they are ignored.

    Field values are checked by the capture step against the order form's field map,
    so unknown fields may hold anything: they are dropped, never stored.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, coerce_numbers_to_str=True
    )

    v: WireVersion = 1
    """Version of the wire format."""
    form_id: Annotated[Text, Field(min_length=1, max_length=128)]
    """The order form's id."""
    fields: dict[str, Any] = Field(default_factory=dict)
    """Raw form fields by input name: the value, or (as the snippet sends them) an
    object ``{"value": ..., "autocomplete": ..., "text": ...}`` with the input's
    autocomplete token and a select's chosen option text. Values are checked by the
    capture step (a mapped field's value must be text), so an unknown field may hold
    anything: it is dropped."""
    product_id: Annotated[Text, Field(max_length=128)] | None = None
    """The product's id."""
    product_name: Annotated[Text, Field(max_length=256)] | None = None
    """The product's name."""
    cart_value: Money | None = None
    """The cart's value (a number or a decimal string, at most 4 decimals)."""
    currency: Currency | None = None
    """ISO 4217 code of ``cart_value``."""
    seller: Annotated[Text, Field(max_length=64)] | None = None
    """The seller of record, when the form does not declare it."""
    steps_total: Annotated[int, Field(ge=1, le=100)] | None = None
    """Number of steps of a multi-step order form."""
    contact_step: Annotated[int, Field(ge=1, le=100)] | None = None
    """The 1-based step on which contact data is entered."""
    step: Annotated[int, Field(ge=1, le=100)] | None = None
    """The step of a multi-step form the prospect is on, when the page knows it."""
    preset: Preset | None = None
    """The checkout platform's form preset (``data-preset``): ``PresetName``."""
    last_field: FieldName = None
    """The name (never the value) of the input the prospect had focused; one that
    cannot be kept (too long, control characters) is left out, never refused."""
    consent: dict[ConsentChannel, bool] = Field(default_factory=dict)
    """Consent checkboxes by channel, as ticked by the prospect."""
    consent_version: Annotated[Text, Field(max_length=64)] | None = None
    """Version of the consent text shown next to the checkboxes."""
    context: dict[str, Any] | None = None
    """The page's context as one object, as the snippet sends it: its ``form_id``,
    ``product_id`` ... ``consent_version`` are read as the keys of the same name above
    (which win when both are given), any other key is ignored."""
    session_id: Token | None = None
    """The snippet's random browser-session id."""
    event_id: Token | None = None
    """The snippet's id for this capture, for idempotency."""

    @model_validator(mode="before")
    @classmethod
    def _lift_context(cls, data: object) -> object:
        # The snippet sends the page's context as one object: its known keys count as
        # the top-level ones (which win), the rest (the script's own attributes) is
        # ignored, so a page can pass anything through cartback.set().
        if not isinstance(data, dict) or "context" not in data:
            return data
        bag = data["context"]
        if not isinstance(bag, dict):
            return data  # null is no context; anything else is refused as the field's type
        lifted = {key: value for key, value in data.items() if key != "context"}
        for key in _CONTEXT_KEYS:
            if key in bag and key not in lifted:
                lifted[key] = bag[key]
        return lifted

    @field_validator(*_OPTIONAL_CONTEXT, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # The snippet passes a page's values on as given: data-seller="" or
        # cartback.set({currency: ""}) means "not set", as null does.
        return None if value == "" else value

    @field_validator("fields")
    @classmethod
    def _bounded_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_FIELDS:
            raise PydanticCustomError("too_many_fields", f"more than {MAX_FIELDS} fields")
        for name in value:
            if not name or len(name) > MAX_FIELD_NAME_LENGTH:
                raise PydanticCustomError("invalid_field_name", "field name empty or too long")
            if not (name.isascii() and name.isprintable()):
                check_text(name)
        return value

    @model_validator(mode="after")
    def _contact_step_within_steps(self) -> Submission:
        if (
            self.steps_total is not None
            and self.contact_step is not None
            and self.contact_step > self.steps_total
        ):
            raise PydanticCustomError("step_out_of_range", "contact_step is after the last step")
        return self


def parse_submission(data: Mapping[str, Any] | Submission) -> Submission:
    """Validate a decoded JSON object as a ``Submission``.

    Raises ``InvalidInputError`` naming the first offending field and a reason code.
    """
    if isinstance(data, Submission):
        return data
    if not isinstance(data, Mapping):
        raise InvalidInputError("the body must be a JSON object", field="$", reason="not_an_object")
    try:
        return Submission.model_validate(data)
    except ValidationError as exc:
        raise invalid_input_from(exc) from None


_REASONS: Final = {
    "extra_forbidden": "unknown_field",
    "string_unicode": "invalid_unicode",
    "string_pattern_mismatch": "control_character",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
}


_MESSAGES: Final = {
    "control_character": "contains a control character",
    "invalid_token": "must be 1-128 letters, digits or _ . : -",
    "unknown_field": "is not a known key",
}


def invalid_input_from(exc: ValidationError) -> InvalidInputError:
    """Turn pydantic's first error into an ``InvalidInputError`` without echoing input."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = [str(part) for part in error["loc"] if part != "[key]"]  # a bad dict key: its path
    field = (".".join(loc) or "$")[:128]
    reason = _REASONS.get(str(error["type"]), str(error["type"]))
    if reason == "control_character" and field in ("session_id", "event_id"):
        reason = "invalid_token"
    message = _MESSAGES.get(reason, str(error["msg"]))
    return InvalidInputError(f"{field}: {message}", field=field, reason=reason)
