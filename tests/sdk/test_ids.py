"""Cart and event ids: unique, in creation order, never a card number."""

from __future__ import annotations

import re

from cartback._ids import new_id
from cartback._luhn import contains_card_number

ID = re.compile(r"cart_[a-p]{29}")


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_id("cart_") for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(ID.fullmatch(value) for value in ids)


def test_an_id_holds_no_digit_so_it_can_never_be_read_as_a_card_number() -> None:
    for _ in range(5_000):
        value = new_id("cart_")
        assert not any(char.isdigit() for char in value)
        assert not contains_card_number(value)


def test_ids_carry_64_random_bits() -> None:
    tails = {new_id("evt_")[-16:] for _ in range(20_000)}
    assert len(tails) == 20_000
    letters = "".join(tails)
    assert set(letters) == set("abcdefghijklmnop")  # every nibble value appears
