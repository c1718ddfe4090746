"""One way for every test to wait: poll a condition with a time bound, never a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DEFAULT_TIMEOUT", "pause_between_polls", "wait_until", "wait_until_async"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
"""Seconds a test waits for something that should happen, before failing."""

POLL_INTERVAL = 0.02
"""Seconds between two looks at the condition."""


def pause_between_polls(seconds: float) -> None:
    """The plain wait between two looks at a condition: the only sleep in the tests."""
    time.sleep(seconds)


def wait_until(
    condition: Callable[[], T | None],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    pause: Callable[[float], object] = pause_between_polls,
) -> T:
    """Poll ``condition`` until it returns a truthy value, and return that value.

    Fails with ``what`` in the message after ``timeout`` seconds. ``condition`` may
    raise to stop waiting early (e.g. when the process being waited on has died).
    ``pause`` waits between polls; a browser test passes one that keeps the page's
    events flowing.
    """
    deadline = time.monotonic() + timeout
    while not (value := _look(condition, deadline, what, timeout)):
        pause(POLL_INTERVAL)
    return value


async def wait_until_async(
    condition: Callable[[], T | None], *, what: str, timeout: float = DEFAULT_TIMEOUT
) -> T:
    """``wait_until`` for a test running on an event loop: the loop keeps running
    between two looks at ``condition``."""
    deadline = time.monotonic() + timeout
    while not (value := _look(condition, deadline, what, timeout)):
        await asyncio.sleep(POLL_INTERVAL)
    return value


def _look(
    condition: Callable[[], T | None], deadline: float, what: str, timeout: float
) -> T | None:
    """``condition``'s value; fails once ``deadline`` has passed with it still falsy."""
    value = condition()
    if not value and time.monotonic() >= deadline:
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
    return value
