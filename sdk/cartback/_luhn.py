"""Finding payment-card numbers in free text, so they are never stored."""

from __future__ import annotations

import re
from typing import Final

_MIN_DIGITS: Final = 13
_MAX_DIGITS: Final = 19
# A run of digits in which up to four spaces, tabs, dashes or dots may separate digits,
# as people type card numbers ("4111 1111 1111 1111", "4111-1111-1111-1111",
# "4111.1111.1111.1111"). \d also matches other scripts' digits (full-width,
# Arabic-Indic): a card number typed that way is still a card number.
_DIGIT_RUN: Final = re.compile(r"\d(?:[\s.\-]{0,4}\d){12,}")
_NOT_DIGIT: Final = re.compile(r"\D")
_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_ASCII_DIGITS: Final = b"0123456789"


def luhn_valid(digits: str) -> bool:
    """Whether a string of decimal digits (any script) passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        total += _DOUBLED[digit] if position % 2 else digit
    return total % 10 == 0


def _any_luhn_window(digits: str) -> bool:
    """Whether any window of 13-19 consecutive digits is Luhn-valid.

    Prefix sums by index parity make each window O(1): in a window ending at index
    ``e``, digits at the same parity as ``e`` count plain and the others doubled.
    """
    values = [int(char) for char in digits]
    plain = [[0], [0]]  # plain[p][i]: sum of values[j] for j < i with j % 2 == p
    doubled = [[0], [0]]
    for index, value in enumerate(values):
        for parity in (0, 1):
            same = index % 2 == parity
            plain[parity].append(plain[parity][-1] + (value if same else 0))
            doubled[parity].append(doubled[parity][-1] + (_DOUBLED[value] if same else 0))
    length = len(values)
    for size in range(_MAX_DIGITS, _MIN_DIGITS - 1, -1):
        for start in range(length - size + 1):
            stop = start + size
            last = (stop - 1) % 2
            total = (plain[last][stop] - plain[last][start]) + (
                doubled[1 - last][stop] - doubled[1 - last][start]
            )
            if total % 10 == 0:
                return True
    return False


def contains_card_number(value: str) -> bool:
    """Whether ``value`` contains a Luhn-valid sequence of 13 to 19 digits.

    Every window of 13-19 consecutive digits inside a longer run is checked, so a card
    number glued to other digits (a CVV, an expiry date) is still found. This errs on
    the side of dropping a value: a long digit run is rarely contact data.
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
        digits = _NOT_DIGIT.sub("", match.group())
        if _MIN_DIGITS <= len(digits) <= _MAX_DIGITS and luhn_valid(digits):
            return True
        if _any_luhn_window(digits):
            return True
    return False
