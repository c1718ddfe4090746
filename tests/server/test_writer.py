"""The receiver's group-commit writer: every capture answered once it is durable.

A real ``SQLiteStore`` on a file; the subclass below only records the batch sizes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cartback import CapturePlan, Cartback, InvalidInputError, SaveOutcome, SQLiteStore
from server_example.writer import CaptureWriter
from tests.conftest import FakeClock


class RecordingStore(SQLiteStore):
    """A SQLite store that remembers how many captures each transaction held."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[int] = []

    def save_captures(self, plans: Sequence[CapturePlan]) -> list[SaveOutcome]:
        self.batches.append(len(plans))
        return super().save_captures(plans)


def _plans(client: Cartback, count: int) -> list[CapturePlan]:
    plans = [
        client.plan(
            {
                "form_id": "f1",
                "seller": "us",
                "fields": {"email": f"buyer{index}@example.com", "country": "US"},
            }
        )
        for index in range(count)
    ]
    assert all(plan.stored for plan in plans)
    return plans


def _refused_plan(client: Cartback) -> CapturePlan:
    """A plan that is not eligible: the store refuses to save it."""
    plan = client.plan({"form_id": "f1", "seller": "us", "fields": {"country": "US"}})
    assert not plan.stored
    return plan


T = TypeVar("T")


def _run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` on a thread of its own: the main thread may already be running a
    loop (Playwright's sync API, in the browser suite)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result(timeout=60)


def _through_writer(store: SQLiteStore, plans: list[CapturePlan], **options: int) -> list[object]:
    """Submit every plan at once from an event loop; each one's outcome or error."""
    writer = CaptureWriter(store, **options)

    async def submit_all() -> list[object]:
        futures = [writer.submit(plan) for plan in plans]
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)

    writer.start()
    try:
        return _run(submit_all)
    finally:
        writer.stop()


@pytest.fixture
def recording_store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path / "writer.sqlite3")


def test_concurrent_captures_share_transactions_and_each_gets_its_outcome(
    recording_store: RecordingStore, clock: FakeClock
) -> None:
    client = Cartback(recording_store, clock=clock)
    results = _through_writer(recording_store, _plans(client, 200), max_batch=64)

    assert [r.status for r in results if isinstance(r, SaveOutcome)] == ["stored"] * 200
    emails = [r.cart.contact.email for r in results if isinstance(r, SaveOutcome)]
    assert emails == [f"buyer{index}@example.com" for index in range(200)]
    assert sum(recording_store.batches) == 200
    assert max(recording_store.batches) <= 64
    assert len(recording_store.batches) < 200  # captures queued together commit together
    assert client.list_carts().total == 200


def test_a_failing_capture_fails_alone_and_the_rest_of_its_batch_commits(
    recording_store: RecordingStore, clock: FakeClock
) -> None:
    client = Cartback(recording_store, clock=clock)
    plans = _plans(client, 10)
    plans.insert(5, _refused_plan(client))
    results = _through_writer(recording_store, plans)

    assert isinstance(results[5], InvalidInputError)
    others = results[:5] + results[6:]
    assert all(isinstance(r, SaveOutcome) and r.status == "stored" for r in others)
    assert client.list_carts().total == 10


def test_a_request_that_went_away_does_not_stop_the_others_being_answered(
    recording_store: RecordingStore, clock: FakeClock
) -> None:
    client = Cartback(recording_store, clock=clock)
    plans = _plans(client, 20)
    writer = CaptureWriter(recording_store)

    async def scenario() -> list[object]:
        futures = [writer.submit(plan) for plan in plans]
        futures[3].cancel()  # e.g. the client disconnected while waiting
        writer.start()  # started late, so every capture is already queued
        waiting = futures[:3] + futures[4:]
        return await asyncio.wait_for(asyncio.gather(*waiting), 30)

    try:
        results = _run(scenario)
    finally:
        writer.stop()

    assert len(results) == 19
    assert all(isinstance(r, SaveOutcome) and r.status == "stored" for r in results)
    # The capture was queued before its request went away: it is stored all the same.
    assert client.list_carts().total == 20
