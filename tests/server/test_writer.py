"""The receiver's group-commit writer: every capture answered once it is durable.

The stage is the real one (``capture_batch`` on a thread, over a real ``SQLiteStore``
file), wrapped only to record batch sizes or to play a database outage.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cartback import Cartback, SQLiteStore
from server_example.capture_stage import (
    Captured,
    CaptureReply,
    CaptureRequest,
    Rejected,
    Stage,
    Unavailable,
    in_thread,
)
from server_example.writer import CaptureWriter, WriterOverloadedError
from tests.conftest import FakeClock

T = TypeVar("T")


def _run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` on a thread of its own: the main thread may already be running a
    loop (Playwright's sync API, in the browser suite)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result(timeout=60)


def _capture(index: int, **fields: object) -> CaptureRequest:
    values = {"email": f"buyer{index}@example.com", "country": "US", **fields}
    body = {"form_id": "f1", "seller": "us", "fields": values}
    return CaptureRequest(json.dumps(body).encode())


class Recording:
    """The real stage, remembering how many captures each batch held."""

    def __init__(self, client: Cartback) -> None:
        self._stage = in_thread(client)
        self.batches: list[int] = []

    async def __call__(self, requests: Sequence[CaptureRequest]) -> list[CaptureReply]:
        self.batches.append(len(requests))
        return await self._stage(requests)


class Outage:
    """The real stage on a database that is down until ``up`` is set; counts its calls."""

    def __init__(self, client: Cartback) -> None:
        self._stage = in_thread(client)
        self.up = False
        self.calls = 0

    async def __call__(self, requests: Sequence[CaptureRequest]) -> list[CaptureReply]:
        self.calls += 1
        if not self.up:
            return [Unavailable() for _ in requests]
        return await self._stage(requests)


async def _submit_all(writer: CaptureWriter, requests: Sequence[CaptureRequest]) -> list[object]:
    futures = [writer.submit(request) for request in requests]
    return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)


def _through_writer(stage: Stage, requests: list[CaptureRequest], **options: Any) -> list[object]:
    """Submit every request at once on a running writer; each one's reply or error."""

    async def scenario() -> list[object]:
        writer = CaptureWriter(stage, **options)
        writer.start()
        try:
            return await _submit_all(writer, requests)
        finally:
            await writer.stop()

    return _run(scenario)


@pytest.fixture
def client(tmp_path: Path, clock: FakeClock) -> Cartback:
    return Cartback(SQLiteStore(tmp_path / "writer.sqlite3"), clock=clock)


@pytest.fixture
def recording(client: Cartback) -> Recording:
    return Recording(client)


def test_concurrent_captures_share_transactions_and_each_gets_its_reply(
    client: Cartback, recording: Recording
) -> None:
    results = _through_writer(recording, [_capture(i) for i in range(200)], max_batch=64)

    assert results == [Captured("stored")] * 200
    assert sum(recording.batches) == 200
    assert max(recording.batches) <= 64
    assert len(recording.batches) < 200  # captures queued together commit together
    emails = {cart.contact.email for cart in client.list_carts(limit=500).items}
    assert emails == {f"buyer{i}@example.com" for i in range(200)}


def test_a_bad_capture_is_answered_alone_and_the_rest_of_its_batch_commits(
    client: Cartback, recording: Recording
) -> None:
    requests = [_capture(i) for i in range(10)]
    requests.insert(3, CaptureRequest(b"{not json"))
    requests.insert(7, _capture(99, email=123))
    results = _through_writer(recording, requests)

    assert results[3] == Rejected(400, "$", "malformed_json", "body is not JSON")
    assert isinstance(results[7], Rejected)
    assert (results[7].status_code, results[7].field, results[7].reason) == (
        422,
        "fields.email",
        "not_a_string",
    )
    others = [r for i, r in enumerate(results) if i not in (3, 7)]
    assert others == [Captured("stored")] * 10
    assert client.list_carts().total == 10


def test_a_request_that_went_away_does_not_stop_the_others_being_answered(
    client: Cartback, recording: Recording
) -> None:
    async def scenario() -> list[object]:
        writer = CaptureWriter(recording)
        futures = [writer.submit(_capture(i)) for i in range(20)]
        futures[3].cancel()  # e.g. the client disconnected while waiting
        writer.start()  # started late, so every capture is already queued
        try:
            return await asyncio.wait_for(asyncio.gather(*futures[:3], *futures[4:]), 30)
        finally:
            await writer.stop()

    results = _run(scenario)

    assert results == [Captured("stored")] * 19
    # The capture was queued before its request went away: it is stored all the same.
    assert client.list_carts().total == 20


def test_when_the_database_is_down_the_whole_batch_fails_at_once_then_recovers(
    client: Cartback,
) -> None:
    outage = Outage(client)
    now = [100.0]

    async def scenario() -> tuple[list[object], list[object], list[object], int, int]:
        writer = CaptureWriter(outage, backoff=5.0, monotonic=lambda: now[0])
        writer.start()
        try:
            down = await _submit_all(writer, [_capture(i) for i in range(30)])
            calls_when_down = outage.calls
            outage.up = True
            still = await _submit_all(writer, [_capture(i) for i in range(30, 33)])
            calls_in_backoff = outage.calls - calls_when_down
            now[0] += 5.0
            back = await _submit_all(writer, [_capture(i) for i in range(33, 36)])
        finally:
            await writer.stop()
        return down, still, back, calls_when_down, calls_in_backoff

    down, still, back, calls_when_down, calls_in_backoff = _run(scenario)

    assert down == [Unavailable()] * 30
    assert calls_when_down <= 2  # the batch failed as a whole, not capture by capture
    assert still == [Unavailable()] * 3
    assert calls_in_backoff == 0  # within the backoff the database is not even asked
    assert back == [Captured("stored")] * 3
    assert client.list_carts().total == 3


def test_steady_captures_during_the_backoff_do_not_keep_the_database_untried(
    client: Cartback,
) -> None:
    """Under load a batch arrives every moment; the fast refusals within the backoff must
    not extend it, or the receiver would never try the database again."""
    outage = Outage(client)
    now = [100.0]

    async def scenario() -> tuple[list[list[object]], list[object]]:
        writer = CaptureWriter(outage, backoff=5.0, monotonic=lambda: now[0])
        writer.start()
        try:
            await _submit_all(writer, [_capture(0)])  # the database fails: backoff from 100
            refused = []
            for index, moment in enumerate((101.0, 102.0, 103.0, 104.0), start=1):
                now[0] = moment
                refused.append(await _submit_all(writer, [_capture(index)]))
            outage.up = True
            now[0] = 105.0  # the backoff that began at 100 is over
            back = await _submit_all(writer, [_capture(5), _capture(6)])
        finally:
            await writer.stop()
        return refused, back

    refused, back = _run(scenario)

    assert refused == [[Unavailable()]] * 4
    assert back == [Captured("stored")] * 2


def test_stop_stores_what_was_queued_and_refuses_what_comes_after(
    client: Cartback, recording: Recording
) -> None:
    async def scenario() -> tuple[list[object], bool]:
        writer = CaptureWriter(recording)
        futures = [writer.submit(_capture(i)) for i in range(50)]
        writer.start()
        await writer.stop()
        try:
            writer.submit(_capture(99))
        except WriterOverloadedError:
            refused = True
        else:
            refused = False
        return [future.result() for future in futures], refused

    results, refused_after_stop = _run(scenario)

    assert results == [Captured("stored")] * 50
    assert refused_after_stop
    assert client.list_carts().total == 50


def test_a_full_queue_refuses_at_once_and_loses_nothing_already_queued(
    client: Cartback, recording: Recording
) -> None:
    async def scenario() -> tuple[list[object], int]:
        writer = CaptureWriter(recording, max_queue=5)
        futures = [writer.submit(_capture(i)) for i in range(5)]
        refused = 0
        for index in range(5, 8):
            try:
                writer.submit(_capture(index))
            except WriterOverloadedError:
                refused += 1
        writer.start()
        try:
            return list(await asyncio.wait_for(asyncio.gather(*futures), 30)), refused
        finally:
            await writer.stop()

    results, refused = _run(scenario)

    assert refused == 3
    assert results == [Captured("stored")] * 5
    assert client.list_carts().total == 5


def test_a_stage_that_raises_answers_each_request_with_the_error() -> None:
    async def broken(requests: Sequence[CaptureRequest]) -> list[CaptureReply]:
        raise RuntimeError("a bug")

    results = _through_writer(broken, [_capture(i) for i in range(3)])

    assert all(isinstance(r, RuntimeError) for r in results)
