"""The card guard before and after issue 10: false positives, cards found, time per call.

Prints, for random digit strings of 13 to 24 digits that are not themselves a card number
(their digits as a whole are not a Luhn-valid number of an issued range), the share that
each rule flags as holding a card number, bare ("1234567890123456") and typed in groups of
four with spaces ("1234 5678 9012 3456"):

  before   the rule until issue 10 (a private copy below): any Luhn-valid window of
           13-19 consecutive digits of a run
  after    ``cartback.contains_card_number``: whole typed groups, a 3- or 4-digit code
           glued at one end, issued ranges and lengths, Luhn (rule in cartback/_luhn.py)

(after, a string of 13 to 15 digits has no candidate but itself, no card by construction:
hence 0); then the share of issued-range, Luhn-valid numbers each rule finds (it must be
100 % after), typed bare, in groups of four, with random separators, inside text, beside
a separated CVV and expiry, and glued to a 3- or 4-digit code at either end; and the time
per call of both rules, with the after/before ratio, on typical order-form values (the
early exit: fewer than 13 digits), on the digit strings above and on the typed cards.

    python bench/card_false_positives.py [--samples N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Final

from cartback import contains_card_number
from cartback._luhn import _ISSUED, luhn_valid

# -- the rule before issue 10, kept here only to compare with ---------------------------

_OLD_MIN: Final = 13
_OLD_MAX: Final = 19
_OLD_RUN: Final = re.compile(r"\d(?:[\s.\-]{0,4}\d){12,}")
_OLD_NOT_DIGIT: Final = re.compile(r"\D")
_OLD_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_OLD_ASCII_DIGITS: Final = b"0123456789"


def _old_luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        total += _OLD_DOUBLED[digit] if position % 2 else digit
    return total % 10 == 0


def _old_any_window(digits: str) -> bool:
    values = [int(char) for char in digits]
    plain = [[0], [0]]
    doubled = [[0], [0]]
    for index, value in enumerate(values):
        for parity in (0, 1):
            same = index % 2 == parity
            plain[parity].append(plain[parity][-1] + (value if same else 0))
            doubled[parity].append(doubled[parity][-1] + (_OLD_DOUBLED[value] if same else 0))
    length = len(values)
    for size in range(_OLD_MAX, _OLD_MIN - 1, -1):
        for start in range(length - size + 1):
            stop = start + size
            last = (stop - 1) % 2
            total = (plain[last][stop] - plain[last][start]) + (
                doubled[1 - last][stop] - doubled[1 - last][start]
            )
            if total % 10 == 0:
                return True
    return False


def old_contains_card_number(value: str) -> bool:
    """The card guard until issue 10: any Luhn-valid 13-19 digit window of a run."""
    if len(value) < _OLD_MIN:
        return False
    if value.isascii() and (
        len(value) - len(value.encode("ascii").translate(None, _OLD_ASCII_DIGITS)) < _OLD_MIN
    ):
        return False
    for match in _OLD_RUN.finditer(value):
        digits = _OLD_NOT_DIGIT.sub("", match.group())
        if _OLD_MIN <= len(digits) <= _OLD_MAX and _old_luhn(digits):
            return True
        if _old_any_window(digits):
            return True
    return False


# -- inputs ---------------------------------------------------------------------------

Rule = Callable[[str], bool]
RULES: Final[tuple[tuple[str, Rule], ...]] = (
    ("before", old_contains_card_number),
    ("after", contains_card_number),
)
TYPICAL: Final = (
    "Ava",
    "Nguyen",
    "ava.nguyen@example.com",
    "1600 Amphitheatre Parkway",
    "Apt 4B",
    "Mountain View",
    "CA",
    "94043",
    "+1 (415) 555-2671",
    "Please leave the parcel at the back door, thanks!",
    "US",
    "on",
)
"""Order-form values as the receiver sees them: the hot path's early exit."""


def issued(number: str) -> bool:
    """Whether ``number`` is a Luhn-valid number of an issued range (the table the SDK uses)."""
    if not 13 <= len(number) <= 19 or not luhn_valid(number):
        return False
    return any(
        len(number) in lengths and first <= number[: len(first)] <= last
        for first, last, lengths in _ISSUED
    )


def grouped(digits: str) -> str:
    """``digits`` in groups of four, with spaces."""
    return " ".join(digits[start : start + 4] for start in range(0, len(digits), 4))


def non_cards(rng: random.Random, length: int, count: int) -> list[str]:
    """``count`` random digit strings of ``length`` digits that are not a card number."""
    values: list[str] = []
    while len(values) < count:
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        if not issued(digits):
            values.append(digits)
    return values


def card(rng: random.Random) -> str:
    """A random Luhn-valid number of an issued range: a range, then one of its lengths."""
    first, last, lengths = rng.choice(_ISSUED)
    length = rng.choice(lengths)
    prefix = str(rng.randint(int(first), int(last))).zfill(len(first))
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("some check digit always completes a Luhn-valid number")


def typed_cards(rng: random.Random, count: int) -> dict[str, list[str]]:
    """Issued cards as people type or paste them, by way of typing."""

    def separated(digits: str) -> str:
        out = digits[0]
        for digit in digits[1:]:
            out += rng.choice(["", "", "", " ", "-", ".", "\t", " - ", "  "]) + digit
        return out

    def code() -> str:
        return str(rng.randint(0, 9999)).zfill(rng.choice((3, 4)))

    cards = [card(rng) for _ in range(count)]
    return {
        "bare": cards,
        "groups of 4": [grouped(number) for number in cards],
        "random separators": [separated(number) for number in cards],
        "inside text": [f"my card: {separated(number)}, thanks" for number in cards],
        "separated CVV, expiry": [f"exp 12/29 {grouped(number)} cvv {code()}" for number in cards],
        "code glued after": [separated(number) + code() for number in cards],
        "code glued before": [code() + separated(number) for number in cards],
    }


# -- measuring --------------------------------------------------------------------------


def share(rule: Rule, values: Sequence[str]) -> float:
    """The share of ``values`` the rule flags, in percent."""
    return 100 * sum(map(rule, values)) / len(values)


def per_call(rule: Rule, values: Sequence[str], rounds: int = 5) -> float:
    """Microseconds per call over ``values``, the best of ``rounds`` passes."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for value in values:
            rule(value)
        best = min(best, time.perf_counter() - started)
    return best / len(values) * 1e6


def row(label: object, *figures: float | str) -> str:
    """One line of the false-positive table."""
    cells = [f"{figure:.1f}" if isinstance(figure, float) else figure for figure in figures]
    widths = (14, 7, 24, 7)
    return f"{label!s:>6}" + "".join(
        f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4_000, help="strings per length")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    print("False positives: random non-card digit strings flagged as holding a card (%)")
    print(row("digits", "bare: before", "after", "in groups of 4: before", "after"))
    everything: list[str] = []
    totals = {name: (0.0, 0.0) for name, _ in RULES}
    lengths = range(13, 25)
    for length in lengths:
        bare = non_cards(rng, length, args.samples)
        spaced = [grouped(digits) for digits in bare]
        everything += bare + spaced
        figures = [(share(rule, bare), share(rule, spaced)) for _, rule in RULES]
        for (name, _), (on_bare, on_spaced) in zip(RULES, figures, strict=True):
            so_far_bare, so_far_spaced = totals[name]
            totals[name] = (
                so_far_bare + on_bare / len(lengths),
                so_far_spaced + on_spaced / len(lengths),
            )
        (old_bare, old_spaced), (new_bare, new_spaced) = figures
        print(row(length, old_bare, new_bare, old_spaced, new_spaced))
    (old_bare, old_spaced), (new_bare, new_spaced) = totals["before"], totals["after"]
    print(row("mean", old_bare, new_bare, old_spaced, new_spaced))

    print()
    print("Issued-range, Luhn-valid numbers found (%; after must be 100)")
    print(f"{'typed as':>24}  {'before':>7} {'after':>7}")
    typed = typed_cards(rng, args.samples)
    for way, values in typed.items():
        print(
            f"{way:>24}  {share(old_contains_card_number, values):>7.1f}"
            f" {share(contains_card_number, values):>7.1f}"
        )

    print()
    print("Time per call (µs; best of 5 passes)")
    print(f"{'values':>32}  {'before':>7} {'after':>7} {'after/before':>13}")
    cards = [value for values in typed.values() for value in values]
    for label, values in (
        ("typical order-form values", list(TYPICAL) * 500),
        ("13-24 digit non-cards", everything),
        ("issued cards, typed", cards),
    ):
        old = per_call(old_contains_card_number, values)
        new = per_call(contains_card_number, values)
        print(f"{label:>32}  {old:>7.2f} {new:>7.2f} {new / old:>13.2f}")


if __name__ == "__main__":
    main()
