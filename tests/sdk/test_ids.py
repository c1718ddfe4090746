"""Cart and event ids: unique, in creation order, never a card number."""

from __future__ import annotations

import re
import secrets

import pytest

from cartback._ids import new_id
from cartback._luhn import contains_card_number

ID = re.compile(r"cart_[a-p]{13}[0-9a-f]{16}")


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_id("cart_") for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(ID.fullmatch(value) for value in ids)


def test_the_time_part_holds_no_digit_so_only_the_random_part_could_form_a_card_number() -> None:
    for _ in range(2_000):
        value = new_id("cart_")
        assert not any(char.isdigit() for char in value[5:18])
        assert not contains_card_number(value)


def test_a_random_part_that_forms_a_card_number_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = iter(["4111111111111111", "5555555555554444", "9400000000000007", "0123abcd4567ef89"])
    monkeypatch.setattr(secrets, "token_hex", lambda size: next(drawn))
    # Two card numbers are drawn again; 16 Luhn-valid digits outside every card range stay.
    assert new_id("cart_").endswith("9400000000000007")
    assert new_id("cart_").endswith("0123abcd4567ef89")
