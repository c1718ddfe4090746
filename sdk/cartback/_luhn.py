"""Finding payment-card numbers in free text, so they are never stored.

The rule, the way PAN-discovery tools read text: digits as typed, the issuer ranges of
the card networks, and the Luhn checksum.

1. A *run* is a stretch of digits in which up to four separators (white space: spaces,
   tabs, ...; dashes; dots) may stand between two digits, as people type card numbers
   ("4111 1111 1111 1111", "4111-1111-1111-1111", "4111 - 1111 - 1111 - 1111").
   Anything else ends it: a letter, a slash, a comma, five separators in a row. Its
   *groups* are its digits as typed between separators ("4111", "1111", ...).
2. A *candidate* is a span of consecutive whole groups of a run; or such a span with
   exactly 3 or 4 digits taken off the start of its first group or off the end of its
   last group, that group keeping at least one digit: a security code or an MMYY
   expiry glued to the number ("4111111111111111123", "12294111111111111111").
   One end at most.
3. A candidate is a card number when it has 13 to 19 digits, its first digits and its
   length fall in an issued range of a card network (``_ISSUED``), and it passes the
   Luhn checksum.

So a card number is found whatever its separators, wherever it sits in the text
("my card is 4111 1111 1111 1111 thanks", "amex378282246310005"), beside other digits
("exp 12/29 4111-1111-1111-1111 cvv 737", "4111 1111 1111 1111 123") and glued to its
code. A longer digit string is not searched window by window, so a 16-digit house or
parcel number ("1234 5678 9012 3456") or a 19-digit reference is dropped only when it
is itself a Luhn-valid number of an issued range. Every candidate is a 13-19 digit
window of a run, so this finds a subset of what the earlier any-window rule found.

Other scripts' digits (full-width, Arabic-Indic, ...) are digits too, counted by their
value: a card number typed that way is still a card number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

_MIN_DIGITS: Final = 13
_MAX_DIGITS: Final = 19
_GLUED: Final = (3, 4)
"""Digits of a security code (3 or 4) or an MMYY expiry (4) glued to a number."""

# Issued ranges: (first prefix, last prefix, lengths), both prefixes of equal size; a
# number is in the range when its first digits, read as a number of that size, lie
# between them. The union of two sources, wider where they differ, only networks
# that issue cards today and use the Luhn check digit:
# - Wikipedia, "Payment card number", section "Issuer identification number (IIN)"
#   (https://en.wikipedia.org/wiki/Payment_card_number, revisions through 2026, as
#   tracked by the d-edge/Cardizer issues "Update on Payment card number");
# - braintree/credit-card-type, src/lib/card-types.ts (patterns and lengths).
# Indonesia's national IIN 9360 is from the Indonesian IIN registry (iin.bsn.go.id).
# Left out: closed networks whose ranges are not covered otherwise (Diners Club enRoute
# 2014, 2149: 15 digits, no Luhn check digit), and 12-digit Maestro numbers (below the
# 13 digits this module looks for).
_ALL: Final = tuple(range(_MIN_DIGITS, _MAX_DIGITS + 1))
_ISSUED: Final[tuple[tuple[str, str, tuple[int, ...]], ...]] = (
    ("1", "1", (15,)),  # UATP
    ("1800", "1800", (15, 16, 17, 18, 19)),  # JCB
    ("1946", "1946", (16, 18, 19)),  # GPN (Indonesia)
    ("2131", "2131", (15, 16, 17, 18, 19)),  # JCB
    ("2200", "2204", (16, 17, 18, 19)),  # Mir
    ("2205", "2205", (16,)),  # BORICA
    ("2221", "2720", (16,)),  # Mastercard
    ("300", "305", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("309", "309", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("31", "31", (19,)),  # China T-Union
    ("34", "34", (15,)),  # American Express
    ("3528", "3589", (16, 17, 18, 19)),  # JCB; RuPay-JCB 353, 356; LankaPay 357111
    ("36", "36", (14, 15, 16, 17, 18, 19)),  # Diners Club International
    ("37", "37", (15,)),  # American Express
    ("38", "39", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("4", "4", (13, 16, 18, 19)),  # Visa, Visa Electron; Dankort and Elo co-brands
    ("50", "50", _ALL),  # Maestro; Verve, RuPay 508, Dankort 5019, GPN, Elo
    ("51", "55", (16,)),  # Mastercard; Diners Club US & Canada
    ("56", "59", _ALL),  # Maestro; UzCard 5614, GPN
    # Maestro (braintree: all of 6); Discover, UnionPay, RuPay 60 and 65, Troy 65,
    # InterPayment, InstaPayment, UkrCard, Verve 650, NPS Pridnestrovie, GPN, Elo.
    ("6", "6", _ALL),
    ("810", "810", (14, 15, 16, 17, 18, 19)),  # UnionPay
    ("8110", "8171", (14, 15, 16, 17, 18, 19)),  # UnionPay
    ("81", "82", (16,)),  # RuPay
    ("8600", "8600", (16,)),  # UzCard
    ("9360", "9360", (16, 17, 18, 19)),  # GPN national IIN (Indonesia)
    ("9704", "9704", (16, 19)),  # Napas (Vietnam)
    ("9792", "9792", (16,)),  # Troy (Turkey)
    ("9860", "9860", (16,)),  # Humo (Uzbekistan)
)
_PREFIX: Final = 4
"""Digits that decide the issued lengths: no range above is finer than four digits."""


def _length_masks(ranges: Iterable[tuple[str, str, tuple[int, ...]]]) -> tuple[int, ...]:
    """For each four-digit prefix, a bit mask of the issued lengths (bit n: n digits)."""
    masks = [0] * 10**_PREFIX
    for first, last, lengths in ranges:
        scale = 10 ** (_PREFIX - len(first))
        bits = sum(1 << length for length in lengths)
        for prefix in range(int(first) * scale, (int(last) + 1) * scale):
            masks[prefix] |= bits
    return tuple(masks)


_LENGTHS_BY_PREFIX: Final = _length_masks(_ISSUED)
# A run: digits with up to four spaces, tabs, dashes or dots between two of them, at
# least 13 digits long (no shorter run can hold a candidate).
_DIGIT_RUN: Final = re.compile(r"\d(?:[\s.\-]{0,4}\d){12,}")
_GROUP: Final = re.compile(r"\d+")
_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_ASCII_DIGITS: Final = b"0123456789"


def luhn_valid(digits: str) -> bool:
    """Whether a string of decimal digits (any script) passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        total += _DOUBLED[digit] if position % 2 else digit
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    """Whether ASCII ``digits`` (13-19 of them) are an issued-range, Luhn-valid number."""
    return bool(_LENGTHS_BY_PREFIX[int(digits[:_PREFIX])] >> len(digits) & 1) and luhn_valid(digits)


def _run_holds_card(groups: list[str]) -> bool:
    """Whether any candidate of a run, given as its ASCII digit groups, is a card number."""
    digits = "".join(groups)
    starts: list[int] = []
    position = 0
    for group in groups:
        starts.append(position)
        position += len(group)
    for first, start in enumerate(starts):
        head = len(groups[first])
        for last in range(first, len(groups)):
            end = starts[last] + len(groups[last])
            size = end - start
            if size > _MAX_DIGITS + _GLUED[-1]:
                break
            tail = len(groups[last])
            if _MIN_DIGITS <= size <= _MAX_DIGITS and _is_card(digits[start:end]):
                return True
            for glued in _GLUED:
                if not _MIN_DIGITS <= size - glued <= _MAX_DIGITS:
                    continue
                if head > glued and _is_card(digits[start + glued : end]):
                    return True
                if tail > glued and _is_card(digits[start : end - glued]):
                    return True
    return False


def contains_card_number(value: str) -> bool:
    """Whether ``value`` contains a payment-card number.

    A card number has 13 to 19 digits, starts with an issuer range of a card network at
    one of that network's lengths, and passes the Luhn check. It is read as typed: up to
    four spaces, tabs, dashes or dots may stand between two digits, and it is made of
    whole typed groups, or has a 3- or 4-digit security code or MMYY expiry glued at one
    end. So it is found inside other text, beside other digits and glued to its code,
    while a longer digit string is not searched window by window: a 16-digit parcel
    number is no card number unless it is one itself. Other scripts' digits count by
    their value.
    """
    if len(value) < _MIN_DIGITS:  # most names and cities: no room for a card number
        return False
    # Counting ASCII digits is one C pass, several times cheaper than the run search,
    # and most values (emails, streets) have far fewer than 13 digits.
    if value.isascii() and (
        len(value) - len(value.encode("ascii").translate(None, _ASCII_DIGITS)) < _MIN_DIGITS
    ):
        return False
    for match in _DIGIT_RUN.finditer(value):
        run = match.group()
        if not run.isascii():  # other scripts' digits, by value
            run = "".join(str(int(char)) if char.isdecimal() else char for char in run)
        if _run_holds_card(_GROUP.findall(run)):
            return True
    return False
