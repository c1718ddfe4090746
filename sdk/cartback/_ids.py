"""Random identifiers that can never be mistaken for a payment-card number."""

from __future__ import annotations

import secrets

from cartback._luhn import contains_card_number


def new_id(prefix: str) -> str:
    """``prefix`` + 20 random hex digits, re-drawn in the rare case of a Luhn match."""
    while True:
        candidate = prefix + secrets.token_hex(10)
        if not contains_card_number(candidate):
            return candidate
