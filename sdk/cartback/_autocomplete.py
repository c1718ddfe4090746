"""The HTML ``autocomplete`` attribute: WHATWG autofill tokens, read as cartback fields.

A form that sets ``autocomplete`` says what each input holds, whatever its name:
``section-gift shipping postal-code`` is the postal code of the shipping address. The
grammar (HTML Living Standard, "Autofill"): an optional ``section-*`` token, an optional
``shipping`` or ``billing``, for a phone or email an optional ``home``/``work``/
``mobile``/``fax``/``pager``, the field name, and an optional trailing ``webauthn``.
A value outside that grammar means nothing (browsers ignore it too), and so does a
field name cartback does not store (``username``, ``bday``, every ``cc-*``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final, Literal

__all__ = ["AUTOFILL_FIELDS", "AddressSection", "AutofillTarget", "read_autocomplete"]

AddressSection = Literal["billing", "shipping"]
"""Which address of the form an input belongs to."""

AutofillTarget = tuple[Literal["field", "address", "name"], str]
"""What an autofill field name holds: a canonical field, an additional address field
(stored by the input's name), or a full name (split into given and family name)."""

AUTOFILL_FIELDS: Final[dict[str, AutofillTarget]] = {
    "email": ("field", "email"),
    "given-name": ("field", "first_name"),
    "family-name": ("field", "last_name"),
    "name": ("name", "name"),
    "tel": ("field", "phone"),
    "tel-national": ("field", "phone"),
    "street-address": ("field", "street"),
    "address-line1": ("field", "street"),
    "address-line2": ("address", "address-line2"),
    "address-line3": ("address", "address-line3"),
    "address-level1": ("field", "state"),
    "address-level2": ("field", "city"),
    "address-level3": ("address", "address-level3"),
    "address-level4": ("address", "address-level4"),
    "postal-code": ("field", "postal_code"),
    "country": ("field", "country"),
    "country-name": ("field", "country"),
    "organization": ("address", "organization"),
}
"""The autofill field names cartback stores, and where each goes."""

_CONTACT_FIELDS: Final = frozenset(
    {
        "tel", "tel-country-code", "tel-national", "tel-area-code", "tel-local",
        "tel-local-prefix", "tel-local-suffix", "tel-extension", "email", "impp",
    }
)  # fmt: skip
_CONTACT_TYPES: Final = frozenset({"home", "work", "mobile", "fax", "pager"})
_MAX_LENGTH: Final = 200


@lru_cache(maxsize=1024)
def read_autocomplete(value: str) -> tuple[AddressSection | None, AutofillTarget] | None:
    """The address section and target of an ``autocomplete`` value, or ``None`` when it
    is empty, outside the grammar, or names nothing cartback stores.

    >>> read_autocomplete("section-billing billing address-line1")
    ('billing', ('field', 'street'))
    >>> read_autocomplete("work email")
    (None, ('field', 'email'))
    """
    if len(value) > _MAX_LENGTH:
        return None
    tokens = value.casefold().split()
    if tokens and tokens[-1] == "webauthn":
        tokens.pop()
    if not tokens:
        return None
    field = tokens.pop()
    if tokens and tokens[-1] in _CONTACT_TYPES:
        if field not in _CONTACT_FIELDS:
            return None
        tokens.pop()
    section: AddressSection | None = None
    if tokens and tokens[-1] in ("shipping", "billing"):
        section = "shipping" if tokens.pop() == "shipping" else "billing"
    if tokens and tokens[0].startswith("section-") and len(tokens[0]) > len("section-"):
        tokens.pop(0)
    target = AUTOFILL_FIELDS.get(field)
    if tokens or target is None:
        return None
    return section, target
