"""Raw form fields -> the filled, allowed, normalised fields that may be stored.

Pure functions: values in, values out. The facade (``Cartback``) persists the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final, cast

from cartback._autocomplete import AddressSection
from cartback._contact_values import normalize_phone
from cartback._errors import InvalidInputError
from cartback._luhn import contains_card_number
from cartback._models import CartContext, ConsentEvent, ConsentSource, Contact, DroppedFields
from cartback._regions import normalize_country, read_country
from cartback._submission import CONTROL_CHARACTERS, MAX_FIELD_LENGTH, FieldValue, Submission
from cartback._types import CanonicalField, Channel, ConsentAction, ReasonCode
from cartback.eligibility import EligibilityPolicy, EligibilityResult
from cartback.order_form import OrderForm

__all__ = ["CapturePlan", "FilledFields", "extract_fields", "plan_capture"]

_TRUE: Final = frozenset({"1", "true", "on", "yes", "y", "checked", "subscribe"})
_FALSE: Final = frozenset({"0", "false", "off", "no", "n", "unchecked"})


@dataclass(frozen=True, slots=True)
class FilledFields:
    """The fields of one submission that were filled and are allowed, not yet normalised."""

    values: dict[CanonicalField, str] = field(default_factory=dict)
    """Canonical field -> stripped value (``newsletter`` excluded), from the stored
    address (see ``address_section``); ``country`` holds the country input's value."""
    address_extra: dict[str, str] = field(default_factory=dict)
    """Additional address fields of the stored address, by field key."""
    newsletter: bool | None = None
    """The newsletter checkbox, when the form sent one."""
    newsletter_field: str | None = None
    """The name of the newsletter input, for the consent source."""
    dropped: DroppedFields = field(default_factory=DroppedFields)
    """What was not kept, counted by reason."""
    countries: tuple[str | None, ...] = ()
    """Every country the form gave, read as alpha-2 (``None``: one that means nothing
    certain), the stored address's first; empty when the form gave none."""
    address_section: AddressSection | None = None
    """The address stored: ``billing`` when the prospect typed part of a billing
    address, else ``shipping`` when they typed part of a shipping one, else ``None``
    (the form's addresses are not marked)."""
    step: int | None = None
    """The furthest step whose inputs were filled, by the form's ``field_steps``."""


# The parts of an address that make it "typed": a name alone does not choose an address.
_ADDRESS_PARTS: Final[tuple[CanonicalField, ...]] = (
    "street",
    "house_number",
    "city",
    "state",
    "postal_code",
    "country",
)
# Reachable on every address the prospect typed; the other fields come from one address.
_CONTACT_CHANNELS: Final = frozenset({"email", "phone"})
_Section = AddressSection | None


def _invalid(name: str, message: str, reason: str) -> InvalidInputError:
    return InvalidInputError(f"fields.{name}: {message}", field=f"fields.{name}", reason=reason)


def _text(name: str, value: FieldValue) -> str | None:
    """A mapped field's value as text; ``None`` when empty or null. Raises on anything
    that is not a string (numbers included), too long, or not valid text."""
    if type(value) is str and len(value) <= MAX_FIELD_LENGTH and value.isascii():
        # The common case, in three C calls: printable ASCII has no control
        # character, and needs whitespace collapsed only where a run of spaces is.
        if value.isprintable():
            text = value.strip()
            return (" ".join(text.split()) if "  " in text else text) or None
    elif type(value) is not str:
        if value is None:
            return None
        # Numbers too: a ZIP code sent as 02134 arrives as 2134 and a phone number loses
        # its "+" or leading zero, so a number is refused rather than stored altered.
        raise _invalid(name, "a form value must be a string", "not_a_string")
    if len(value) > MAX_FIELD_LENGTH:
        raise _invalid(name, f"longer than {MAX_FIELD_LENGTH} characters", "too_long")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, e.g. from a JSON "\\ud800" escape
            raise _invalid(name, "not valid Unicode text", "invalid_unicode") from None
    # Only text with a tab, newline or other non-printable character needs the
    # precise control-character check.
    if not value.isprintable() and CONTROL_CHARACTERS.search(value) is not None:
        raise _invalid(name, "contains a control character", "control_character")
    return " ".join(value.split()) or None


def _hint(value: object) -> str | None:
    """An autocomplete token or option text as the page sent it: a string of printable
    text, or nothing (a hint never refuses a capture; an unusable one is ignored)."""
    if type(value) is not str or len(value) > MAX_FIELD_LENGTH or not value.strip():
        return None
    if CONTROL_CHARACTERS.search(value) is not None or contains_card_number(value):
        return None
    return " ".join(value.split())


_RICH_KEYS: Final = frozenset({"value", "autocomplete", "text"})


def _unpack(raw: FieldValue) -> tuple[FieldValue, str, str | None]:
    """``(value, autocomplete, option text)`` of one submitted field: a plain value, or
    the snippet's ``{"value", "autocomplete", "text"}`` (any other object is a value,
    which a mapped field refuses as not text)."""
    if type(raw) is dict and "value" in raw and raw.keys() <= _RICH_KEYS:
        return raw["value"], _hint(raw.get("autocomplete")) or "", _hint(raw.get("text"))
    return raw, "", None


def _checkbox(name: str, value: FieldValue) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):  # a box posted as a JSON 0 or 1
        return bool(value)
    text = _text(name, value)
    if text is None:
        return False
    folded = text.casefold()
    if folded in _FALSE:
        return False
    # A checked box posts its value attribute, which may be anything ("on" by default).
    return True if folded in _TRUE else bool(folded)


def _chosen_section(
    values: dict[_Section, dict[CanonicalField, str]], extra: dict[_Section, dict[str, str]]
) -> _Section:
    for section in ("billing", "shipping"):
        typed = values.get(section, {})
        if extra.get(section) or any(part in typed for part in _ADDRESS_PARTS):
            return section
    return None


def extract_fields(form: OrderForm, fields: Mapping[str, FieldValue]) -> FilledFields:
    """Keep only the filled, allowed fields of a submission.

    Dropped (and counted, never logged): empty and placeholder values, inputs the form
    does not map (extra fields), the payment plan, and any value holding a card number.
    Raises ``InvalidInputError`` when a mapped field is not text, too long, or not
    valid Unicode. When two inputs map to the same field of one address, the first
    filled one wins.

    One address is stored, never a mix of two: the billing address when the prospect
    typed any part of it (street, house number, city, state, postal code, country or an
    additional line), else the shipping address, with the inputs that belong to no
    address filling its gaps; so a shipping-only prospect is stored with the shipping
    address. The email and phone are taken from whichever address has them. Every
    country typed, in either address, is read (``countries``): the policy checks them
    all. A full name is split at its first space where the address has no separate
    given and family name; a select holding a platform's number for a state (Magento's
    ``region_id``) is stored as its option's text.
    """
    values: dict[_Section, dict[CanonicalField, str]] = {}
    extra: dict[_Section, dict[str, str]] = {}
    full_names: dict[_Section, str] = {}
    country_inputs: dict[_Section, tuple[str, str | None]] = {}
    newsletter: bool | None = None
    newsletter_field: str | None = None
    step: int | None = None
    empty = placeholder = extra_count = payment_plan = card_number = 0

    for name, raw in fields.items():
        value, autocomplete, option_text = _unpack(raw)
        kind, target, placeholder_text, section = form.route(name, autocomplete)
        if value is not None and value != "" and (reached := form.step_of(name)) is not None:
            step = reached if step is None else max(step, reached)
        if kind in ("field", "address", "name"):
            text = _text(name, value)
            if text is None:
                empty += 1
                continue
            if placeholder_text is not None and placeholder_text == text.casefold():
                placeholder += 1
                continue
            if contains_card_number(text):
                card_number += 1
                continue
            if kind == "address":
                extra.setdefault(section, {}).setdefault(target, text)
            elif kind == "name":
                full_names.setdefault(section, text)
            else:
                canonical = cast(CanonicalField, target)
                if canonical == "country":
                    country_inputs.setdefault(section, (text, option_text))
                elif canonical == "state" and option_text is not None and text.isdigit():
                    text = option_text  # a platform's region id: its name says more
                values.setdefault(section, {}).setdefault(canonical, text)
        elif kind == "newsletter":
            if newsletter is None:
                newsletter = _checkbox(name, value)
                newsletter_field = None if contains_card_number(name) else name
        elif kind == "payment_plan":
            payment_plan += 1
        else:
            extra_count += 1

    for section, full_name in full_names.items():
        given, _, family = full_name.partition(" ")
        own = values.setdefault(section, {})
        if "first_name" not in own and "last_name" not in own:
            own["first_name"] = given
            if family:
                own["last_name"] = family

    chosen = _chosen_section(values, extra)
    # The stored address's fields come from it and from inputs of no address; with no
    # address typed, names may come from either address (nothing to mix).
    block: tuple[_Section, ...] = (chosen, None) if chosen else (None, "billing", "shipping")
    everywhere: tuple[_Section, ...] = tuple(dict.fromkeys((chosen, None, "billing", "shipping")))
    kept: dict[CanonicalField, str] = {}
    for section in everywhere:
        for canonical, text in values.get(section, {}).items():
            if section in block or canonical in _CONTACT_CHANNELS:
                kept.setdefault(canonical, text)
    address_extra: dict[str, str] = {}
    for section in block:
        for key, text in extra.get(section, {}).items():
            address_extra.setdefault(key, text)

    # The stored address's country first: the one stored, when every one passes.
    ordered = [s for s in block if s in country_inputs]
    ordered += [s for s in country_inputs if s not in ordered]
    readings = tuple(
        read_country(
            country_inputs[section][0],
            text=country_inputs[section][1],
            values=form.country_lookup,
            iso_numeric=form.iso_numeric_countries,
        )
        for section in ordered
    )

    return FilledFields(
        values=kept,
        address_extra=address_extra,
        newsletter=newsletter,
        newsletter_field=newsletter_field,
        dropped=DroppedFields(empty, placeholder, extra_count, payment_plan, card_number),
        countries=readings,
        address_section=chosen,
        step=step,
    )


def _first(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)


@dataclass(frozen=True, slots=True)
class CapturePlan:
    """What to store for one submission, or why nothing may be stored."""

    eligibility: EligibilityResult
    """The verdict; when not eligible, ``contact`` is ``None`` and nothing is stored."""
    dropped: DroppedFields
    """Fields not kept, by reason."""
    captured_at: datetime
    """The injected clock's time of the capture."""
    contact: Contact | None = None
    """The contact to store."""
    context: CartContext | None = None
    """The cart context to store."""
    newsletter_opt_in: bool | None = None
    """The newsletter checkbox, when the form has one."""
    consents: tuple[ConsentEvent, ...] = ()
    """Consent boxes as left on the form (grants and explicit withdrawals); the store
    appends those that change the ledger."""
    session_id: str | None = None
    """The snippet's session id."""
    event_id: str | None = None
    """The snippet's id for this capture: a retried request with the same id is saved once."""

    @property
    def stored(self) -> bool:
        """Whether this plan stores anything."""
        return self.contact is not None


def plan_capture(
    submission: Submission,
    *,
    form: OrderForm,
    policy: EligibilityPolicy,
    now: datetime,
    fallback_country: str | None = None,
) -> CapturePlan:
    """Decide what one submission stores: eligibility, then the filled fields.

    ``fallback_country`` is used only when the form gives no country (no country field,
    or one left empty), e.g. from a trusted CDN header; nothing is ever guessed. The form
    declaration's seller, steps and consent-text version win over what the page claims,
    and the page's over its preset's. The page's ``preset`` applies unless the form
    declares one. Every country the form gave must pass the policy (see
    ``extract_fields``). A newsletter box sent unticked withdraws a newsletter grant
    given earlier.
    """
    if contains_card_number(submission.form_id):
        raise InvalidInputError(
            "form_id: contains a payment-card number", field="form_id", reason="card_number"
        )
    form = form.with_preset(submission.preset)
    preset = form.preset_definition
    filled = extract_fields(form, submission.fields)
    steps_total = _first(
        form.steps_total, submission.steps_total, preset.steps_total if preset else None
    )
    contact_step = _first(
        form.contact_step, submission.contact_step, preset.contact_step if preset else None
    )
    countries = filled.countries
    if not countries and fallback_country:
        countries = (normalize_country(fallback_country),)
    verdict = policy.check(
        seller=form.seller or submission.seller,
        country=None,
        countries=countries,
        email=filled.values.get("email"),
        steps_total=steps_total,
        contact_step=contact_step,
    )
    dropped = filled.dropped
    if "email" in filled.values and verdict.email is None:
        dropped = replace(dropped, invalid=dropped.invalid + 1)
    if not verdict.eligible:
        return CapturePlan(eligibility=verdict, dropped=dropped, captured_at=now)

    phone, phone_e164 = None, None
    if "phone" in filled.values:
        typed = filled.values["phone"]
        phone, phone_e164 = normalize_phone(typed, verdict.country)
        if contains_card_number(phone):
            # E.164 joins the digits; when the joined run happens to pass Luhn, keep the
            # number as typed (its separators break the run) rather than store a run
            # the card detector would flag.
            phone, phone_e164 = typed, False
    values = filled.values
    contact = Contact(
        email=verdict.email,
        phone=phone,
        phone_e164=phone_e164,
        first_name=values.get("first_name"),
        last_name=values.get("last_name"),
        street=values.get("street"),
        house_number=values.get("house_number"),
        city=values.get("city"),
        state=values.get("state"),
        postal_code=values.get("postal_code"),
        country=verdict.country,
        address_extra=filled.address_extra,
    )
    if contact.prospect_key is None:
        reasons: tuple[ReasonCode, ...] = ("contact_missing",)
        refused = replace(verdict, eligible=False, reasons=reasons)
        return CapturePlan(eligibility=refused, dropped=dropped, captured_at=now)

    # Context values come from the page too: one holding a card number is dropped.
    claimed = (
        submission.product_id,
        submission.product_name,
        form.seller or submission.seller,
        submission.session_id,
        form.consent_text_version or submission.consent_version,
        submission.event_id,
        submission.last_field,
    )
    kept = tuple(None if v is not None and contains_card_number(v) else v for v in claimed)
    context_cards = sum(v is not None for v in claimed) - sum(v is not None for v in kept)
    if context_cards:
        dropped = replace(dropped, card_number=dropped.card_number + context_cards)
    product_id, product_name, seller, session_id, version, event_id, last_field = kept
    # The furthest step: the page's, or the one its filled inputs and focused input are on.
    reached = [submission.step, filled.step, last_field and form.step_of(last_field)]
    step = max((value for value in reached if value), default=None)
    context = CartContext(
        form_id=submission.form_id,
        product_id=product_id,
        product_name=product_name,
        cart_value=submission.cart_value,
        currency=submission.currency,
        seller=seller,
        step=step,
        last_field=last_field,
    )

    # The boxes as the prospect left them: ticked grants, explicitly unticked withdraws
    # (the store drops both when they change nothing).
    newsletter = filled.newsletter
    boxes: dict[Channel, tuple[ConsentAction, str]] = {}
    if newsletter is not None:
        action: ConsentAction = "granted" if newsletter else "withdrawn"
        boxes["newsletter"] = (action, filled.newsletter_field or "newsletter")
    for channel, ticked in submission.consent.items():
        if ticked or channel not in boxes:
            boxes[channel] = ("granted" if ticked else "withdrawn", f"consent.{channel}")
    if "newsletter" in boxes:
        newsletter = boxes["newsletter"][0] == "granted"
    consents = tuple(
        ConsentEvent(
            prospect=contact.prospect_key,
            channel=channel,
            action=action,
            at=now,
            source=ConsentSource(kind="form", ref=f"{submission.form_id}:{field_name}"),
            text_version=version,
            session_id=session_id,
        )
        for channel, (action, field_name) in boxes.items()
    )
    return CapturePlan(
        eligibility=verdict,
        dropped=dropped,
        captured_at=now,
        contact=contact,
        context=context,
        newsletter_opt_in=newsletter,
        consents=consents,
        session_id=session_id,
        event_id=event_id,
    )
