"""Identifiers that sort by creation and can never be mistaken for a card number.

``prefix`` + 13 letters of time + 16 random hex digits (64 bits). The time is the
microseconds since the epoch in base 16 written with the letters ``a`` to ``p``. Ids sort
in creation order, so a new row's id lands at the end of its indexes rather than on a
random page (with random ids a durable batch of captures took about a third longer to
commit). The time adds no digit, so only the random part can form a digit run; that
part is re-drawn in the rare case that it holds a card number (``contains_card_number``:
an issued-range, Luhn-valid run of 13 to 19 digits).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Final

from cartback._luhn import contains_card_number

_TIME_LETTERS: Final = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
_lock = threading.Lock()
_last_micros = 0


def _next_micros() -> int:
    """Microseconds since the epoch, strictly increasing within the process."""
    global _last_micros
    with _lock:
        _last_micros = max(_last_micros + 1, time.time_ns() // 1000)
        return _last_micros


def new_id(prefix: str) -> str:
    """A new id: ``prefix``, then 13 letters of time, then 16 random hex digits."""
    stamp = f"{_next_micros():013x}".translate(_TIME_LETTERS)
    while True:
        candidate = prefix + stamp + secrets.token_hex(8)
        if not contains_card_number(candidate):
            return candidate
