"""Raw form fields -> the filled, allowed, normalised fields that may be stored.

Pure functions: values in, values out. The facade (``Cartback``) persists the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final, cast

from cartback._contact_values import normalize_phone
from cartback._errors import InvalidInputError
from cartback._luhn import contains_card_number
from cartback._models import CartContext, ConsentEvent, ConsentSource, Contact, DroppedFields
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
    """Canonical field -> stripped value (``newsletter`` excluded)."""
    address_extra: dict[str, str] = field(default_factory=dict)
    """Declared additional address fields, by field key."""
    newsletter: bool | None = None
    """The newsletter checkbox, when the form sent one."""
    newsletter_field: str | None = None
    """The name of the newsletter input, for the consent source."""
    dropped: DroppedFields = field(default_factory=DroppedFields)
    """What was not kept, counted by reason."""


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


def extract_fields(form: OrderForm, fields: Mapping[str, FieldValue]) -> FilledFields:
    """Keep only the filled, allowed fields of a submission.

    Dropped (and counted, never logged): empty and placeholder values, inputs the form
    does not map (extra fields), the payment plan, and any value holding a card number.
    Raises ``InvalidInputError`` when a mapped field is not text, too long, or not
    valid Unicode. When two inputs map to the same field, the first filled one wins.
    """
    values: dict[CanonicalField, str] = {}
    extra: dict[str, str] = {}
    newsletter: bool | None = None
    newsletter_field: str | None = None
    empty = placeholder = extra_count = payment_plan = card_number = 0

    for name, raw in fields.items():
        kind, target, placeholder_text = form.route(name)
        if kind == "field" or kind == "address":
            text = _text(name, raw)
            if text is None:
                empty += 1
            elif placeholder_text is not None and placeholder_text == text.casefold():
                placeholder += 1
            elif contains_card_number(text):
                card_number += 1
            elif kind == "field":
                values.setdefault(cast(CanonicalField, target), text)
            else:
                extra.setdefault(target, text)
        elif kind == "newsletter":
            if newsletter is None:
                newsletter = _checkbox(name, raw)
                newsletter_field = None if contains_card_number(name) else name
        elif kind == "payment_plan":
            payment_plan += 1
        else:
            extra_count += 1

    return FilledFields(
        values=values,
        address_extra=extra,
        newsletter=newsletter,
        newsletter_field=newsletter_field,
        dropped=DroppedFields(empty, placeholder, extra_count, payment_plan, card_number),
    )


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
    declaration's seller, steps and consent-text version win over what the page claims.
    A newsletter box sent unticked withdraws a newsletter grant given earlier.
    """
    if contains_card_number(submission.form_id):
        raise InvalidInputError(
            "form_id: contains a payment-card number", field="form_id", reason="card_number"
        )
    filled = extract_fields(form, submission.fields)
    steps_total = form.steps_total if form.steps_total is not None else submission.steps_total
    contact_step = form.contact_step if form.contact_step is not None else submission.contact_step
    verdict = policy.check(
        seller=form.seller or submission.seller,
        country=filled.values.get("country") or fallback_country,
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
    )
    kept = tuple(None if v is not None and contains_card_number(v) else v for v in claimed)
    context_cards = sum(v is not None for v in claimed) - sum(v is not None for v in kept)
    if context_cards:
        dropped = replace(dropped, card_number=dropped.card_number + context_cards)
    product_id, product_name, seller, session_id, version, event_id = kept
    context = CartContext(
        form_id=submission.form_id,
        product_id=product_id,
        product_name=product_name,
        cart_value=submission.cart_value,
        currency=submission.currency,
        seller=seller,
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
