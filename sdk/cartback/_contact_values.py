"""Normalising the two contact values that have a standard form: email and phone.

Email syntax is email-validator's verdict. Because validating a domain dominates its
cost and real traffic repeats a few domains, a plain ASCII address (dot-atom local
part, not a role mailbox, a domain that needs no IDNA conversion) is validated as a
cached domain verdict plus a strict check of the local part; anything else goes to
``validate_email`` whole. A property test holds both paths to the same answers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

__all__ = ["normalize_email", "normalize_phone"]

_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_LOCAL: Final = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_MAX_LOCAL: Final = 64
_MAX_ADDRESS: Final = 254
# email-validator lower-cases these role mailboxes (RFC 2142); leave them to it.
_ROLE_MAILBOXES: Final = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def _validate_whole(value: str) -> str | None:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@lru_cache(maxsize=8192)
def _normalized_domain(domain: str) -> str | None:
    """email-validator's verdict on ``domain`` (with a neutral local part)."""
    normalized = _validate_whole("a@" + domain)
    return None if normalized is None else normalized[2:]


def normalize_email(value: str) -> str | None:
    """The normalised address, or ``None`` when the syntax is invalid.

    Syntax only: no DNS, no network, so this is safe on the capture hot path.
    """
    local, at, domain = value.rpartition("@")
    if (
        at
        and value.isascii()
        and len(value) <= _MAX_ADDRESS
        and len(local) <= _MAX_LOCAL
        and _DOT_ATOM_LOCAL.fullmatch(local) is not None
        and local.lower() not in _ROLE_MAILBOXES
    ):
        normalized_domain = _normalized_domain(domain)
        if normalized_domain is None:
            return None
        if normalized_domain == domain.lower():
            # Plain ASCII address whose domain needs no IDNA conversion: every form
            # email-validator checks (original, normalised, ASCII) has this length.
            return local + "@" + normalized_domain
    return _validate_whole(value)


def normalize_phone(value: str, region: str | None) -> tuple[str, bool]:
    """``(E.164, True)`` when phonenumbers can parse ``value`` into a number of a
    possible length, else ``(value, False)``: the number is kept as entered.

    ``region`` (an alpha-2 country) is used for numbers typed without ``+``.
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return value, False
    if not phonenumbers.is_possible_number(number):
        return value, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True
