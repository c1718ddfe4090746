"""The receiver's group-commit writer: every capture answered once it is durable.

A real ``SQLiteStore`` on a file; ``RecordingSave`` only records the batch sizes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cartback import (
    CapturePlan,
    Cartback,
    InvalidInputError,
    SaveOutcome,
    SQLiteStore,
    StoreUnavailableError,
)
from server_example.writer import CaptureWriter, Save
from tests.conftest import FakeClock


class RecordingSave:
    """``Cartback.save`` that remembers how many captures each transaction held."""

    def __init__(self, client: Cartback) -> None:
        self.client = client
        self.batches: list[int] = []

    def __call__(self, plans: Sequence[CapturePlan]) -> list[SaveOutcome]:
        self.batches.append(len(plans))
        return self.client.save(plans)


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


def _through_writer(save: Save, plans: list[CapturePlan], **options: Any) -> list[object]:
    """Submit every plan at once from an event loop; each one's outcome or error."""
    writer = CaptureWriter(save, **options)

    async def submit_all() -> list[object]:
        futures = [writer.submit(plan) for plan in plans]
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)

    writer.start()
    try:
        return _run(submit_all)
    finally:
        writer.stop()


@pytest.fixture
def client(tmp_path: Path, clock: FakeClock) -> Cartback:
    return Cartback(SQLiteStore(tmp_path / "writer.sqlite3"), clock=clock)


@pytest.fixture
def recording(client: Cartback) -> RecordingSave:
    return RecordingSave(client)


def test_concurrent_captures_share_transactions_and_each_gets_its_outcome(
    client: Cartback, recording: RecordingSave
) -> None:
    results = _through_writer(recording, _plans(client, 200), max_batch=64)

    assert [r.status for r in results if isinstance(r, SaveOutcome)] == ["stored"] * 200
    emails = [r.cart.contact.email for r in results if isinstance(r, SaveOutcome)]
    assert emails == [f"buyer{index}@example.com" for index in range(200)]
    assert sum(recording.batches) == 200
    assert max(recording.batches) <= 64
    assert len(recording.batches) < 200  # captures queued together commit together
    assert client.list_carts().total == 200


def test_a_failing_capture_fails_alone_and_the_rest_of_its_batch_commits(
    client: Cartback, recording: RecordingSave
) -> None:
    plans = _plans(client, 10)
    plans.insert(5, _refused_plan(client))
    results = _through_writer(recording, plans)

    assert isinstance(results[5], InvalidInputError)
    others = results[:5] + results[6:]
    assert all(isinstance(r, SaveOutcome) and r.status == "stored" for r in others)
    assert client.list_carts().total == 10


def test_a_request_that_went_away_does_not_stop_the_others_being_answered(
    client: Cartback, recording: RecordingSave
) -> None:
    plans = _plans(client, 20)
    writer = CaptureWriter(recording)

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


class Outage:
    """``save`` on a database that is down until ``up`` is set; counts its calls."""

    def __init__(self, client: Cartback) -> None:
        self.client = client
        self.up = False
        self.calls = 0

    def __call__(self, plans: Sequence[CapturePlan]) -> list[SaveOutcome]:
        self.calls += 1
        if not self.up:
            raise StoreUnavailableError("down")
        return self.client.save(plans)


def test_when_the_database_is_down_the_whole_batch_fails_at_once_then_recovers(
    client: Cartback,
) -> None:
    outage = Outage(client)
    now = [100.0]
    writer = CaptureWriter(outage, backoff=5.0, monotonic=lambda: now[0])

    async def submit(plans: list[CapturePlan]) -> list[object]:
        futures = [writer.submit(plan) for plan in plans]
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)

    def phase(count: int) -> list[object]:
        return _run(lambda: submit(_plans(client, count)))

    writer.start()
    try:
        down = phase(30)
        assert all(isinstance(result, StoreUnavailableError) for result in down)
        assert outage.calls <= 2  # the batch failed as a whole, not capture by capture

        outage.up = True
        calls = outage.calls
        still = phase(3)
        assert all(isinstance(result, StoreUnavailableError) for result in still)
        assert outage.calls == calls  # within the backoff the database is not even asked

        now[0] += 5.0
        back = phase(3)
    finally:
        writer.stop()
    assert [r.status for r in back if isinstance(r, SaveOutcome)] == ["stored"] * 3


def test_steady_captures_during_the_backoff_do_not_keep_the_database_untried(
    client: Cartback,
) -> None:
    """Under load a batch arrives every moment; the fast refusals within the backoff must
    not extend it, or the receiver would never try the database again."""
    outage = Outage(client)
    now = [100.0]
    writer = CaptureWriter(outage, backoff=5.0, monotonic=lambda: now[0])

    def phase(count: int) -> list[object]:
        async def submit() -> list[object]:
            futures = [writer.submit(plan) for plan in _plans(client, count)]
            return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)

        return _run(submit)

    writer.start()
    try:
        phase(1)  # the database fails: the backoff starts at 100
        for moment in (101.0, 102.0, 103.0, 104.0):
            now[0] = moment
            assert all(isinstance(r, StoreUnavailableError) for r in phase(1))
        outage.up = True
        now[0] = 105.0  # the backoff that began at 100 is over
        back = phase(2)
    finally:
        writer.stop()
    assert [r.status for r in back if isinstance(r, SaveOutcome)] == ["stored"] * 2
