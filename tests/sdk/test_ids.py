"""Cart and event ids: unique, in creation order, never a card number."""

from __future__ import annotations

import re

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
