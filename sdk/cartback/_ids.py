"""Identifiers that sort by creation and can never be mistaken for a card number.

``prefix`` + 13 letters of time + 16 letters of randomness (64 bits), both written in
base 16 with the letters ``a`` to ``p``: an id holds no digit at all, so it can never be
read as a card number and needs no check. The time is the microseconds since the epoch;
ids sort in creation order, so a new row's id lands at the end of its indexes rather
than on a random page (with random ids a durable batch of captures took about a third
longer to commit). The randomness comes from the operating system (``os.urandom``), read
4 KiB at a time: one system call per 512 ids instead of one per id.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final

_LETTERS: Final = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
_BUFFER: Final = 4096
_lock = threading.Lock()
_last_micros = 0
_random = b""
_offset = 0
_pid = os.getpid()


def _next() -> tuple[int, bytes]:
    """Microseconds since the epoch (strictly increasing in the process) and 8 random
    bytes (a forked child draws its own)."""
    global _last_micros, _random, _offset, _pid
    with _lock:
        _last_micros = max(_last_micros + 1, time.time_ns() // 1000)
        if _offset + 8 > len(_random) or os.getpid() != _pid:
            _random, _offset, _pid = os.urandom(_BUFFER), 0, os.getpid()
        chunk = _random[_offset : _offset + 8]
        _offset += 8
        return _last_micros, chunk


def new_id(prefix: str) -> str:
    """A new id: ``prefix``, then 13 letters of time, then 16 letters of randomness."""
    micros, chunk = _next()
    return prefix + f"{micros:013x}{chunk.hex()}".translate(_LETTERS)
