"""The capture worker process: captures checked and stored beside the web process.

Real processes throughout: ``python -m server_example`` (which runs the worker by
default) on a SQLite file, and ``CaptureProcess`` spawning real workers. Waits are
bounded conditions, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from cartback import Cartback, ConfigurationError, SQLiteStore
from server_example.app import create_app
from server_example.capture_process import CaptureProcess, CaptureProcessError
from server_example.capture_stage import Captured, CaptureRequest, Unavailable
from server_example.settings import Settings
from tests.conftest import FakeClock
from tests.server.processes import receiver
from tests.waiting import wait_until, wait_until_async

T = TypeVar("T")


def _run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result(timeout=120)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status  # a zombie has exited


def _capture(index: int) -> dict[str, object]:
    return {
        "form_id": "f1",
        "seller": "us",
        "event_id": f"e-{index}",
        "fields": {"email": f"worker{index}@example.com", "country": "US"},
    }


def _stored_emails(database: Path) -> set[str | None]:
    store = SQLiteStore(database)
    try:
        return {cart.contact.email for cart in Cartback(store).iter_carts()}
    finally:
        store.close()


def _settings(database: Path | str) -> Settings:
    return Settings(database=database, admin_password="a" * 12, secret_key=b"k" * 32)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "worker.sqlite3"


def test_the_receiver_stores_captures_through_its_worker_process(
    database: Path, tmp_path: Path
) -> None:
    with receiver(database, tmp_path / "receiver.log") as (process, base_url):
        [worker] = _children(process.pid)
        with httpx.Client(base_url=base_url, timeout=10) as client:
            statuses = [client.post("/api/capture", json=_capture(i)) for i in range(5)]

        assert [r.json()["status"] for r in statuses] == ["stored"] * 5
        assert _alive(worker)
    assert {f"worker{i}@example.com" for i in range(5)} <= _stored_emails(database)


def test_a_worker_killed_holding_a_batch_answers_it_unavailable_and_is_replaced(
    database: Path,
) -> None:
    async def scenario() -> tuple[list[object], list[object], int | None, int | None]:
        worker = CaptureProcess(_settings(database))
        await worker.start()
        first = worker.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # frozen: the batch waits, unread, inside its socket
        held = asyncio.ensure_future(worker([CaptureRequest(json.dumps(_capture(1)).encode())]))

        await wait_until_async(lambda: worker.unanswered == 1, what="the batch sent", timeout=10)
        os.kill(first, signal.SIGKILL)
        refused = await asyncio.wait_for(held, 30)
        after = await worker([CaptureRequest(json.dumps(_capture(2)).encode())])
        second = worker.pid
        await worker.stop()
        return list(refused), list(after), first, second

    refused, after, first, second = _run(scenario)

    assert refused == [Unavailable()]
    assert after == [Captured("stored")]
    assert second is not None
    assert second != first
    assert _stored_emails(database) == {"worker2@example.com"}


def test_a_worker_that_dies_idle_is_replaced_before_any_capture_notices(
    database: Path, tmp_path: Path
) -> None:
    with receiver(database, tmp_path / "receiver.log") as (process, base_url):
        [first] = _children(process.pid)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not _alive(first), what="the worker to die", timeout=10)
        with httpx.Client(base_url=base_url, timeout=30) as client:
            statuses = [client.post("/api/capture", json=_capture(i)).status_code for i in range(3)]

    assert statuses == [200] * 3
    assert {f"worker{i}@example.com" for i in range(3)} <= _stored_emails(database)


def test_the_worker_exits_when_the_web_process_is_killed(database: Path, tmp_path: Path) -> None:
    with receiver(database, tmp_path / "receiver.log") as (process, base_url):
        [worker] = _children(process.pid)
        httpx.post(f"{base_url}/api/capture", json=_capture(1), timeout=10)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        # Orphaned, the worker reads the end of its socket and exits by itself.
        wait_until(lambda: not _alive(worker), what="the orphaned worker to exit", timeout=15)


def test_stop_lets_the_worker_finish_and_exit(database: Path) -> None:
    async def scenario() -> tuple[list[object], int | None, bool]:
        worker = CaptureProcess(_settings(database))
        await worker.start()
        pid = worker.pid
        body = json.dumps(_capture(7)).encode()
        replies = await worker([CaptureRequest(body), CaptureRequest(b"[]")])
        await worker.stop()
        return list(replies), pid, pid is not None and _alive(pid)

    replies, pid, alive_after_stop = _run(scenario)

    assert replies[0] == Captured("stored")
    assert getattr(replies[1], "reason", None) == "not_an_object"
    assert pid is not None
    assert pid != os.getpid()
    assert not alive_after_stop
    assert "worker7@example.com" in _stored_emails(database)


def test_a_worker_that_cannot_open_the_database_does_not_start(tmp_path: Path) -> None:
    unreachable = tmp_path / "no such folder" / "db.sqlite3"

    async def scenario() -> tuple[bool, list[object]]:
        worker = CaptureProcess(_settings(unreachable), start_timeout=30)
        try:
            await worker.start()
        except CaptureProcessError:
            refused = True
        else:
            refused = False
        # Asked for a batch all the same, it answers 503s rather than raising.
        replies = await worker([CaptureRequest(json.dumps(_capture(1)).encode())])
        await worker.stop()
        return refused, list(replies)

    refused, replies = _run(scenario)

    assert refused
    assert replies == [Unavailable()]


def test_an_injected_clock_needs_the_thread_worker(database: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        create_app(_settings(database), clock=FakeClock())
    assert raised.value.setting == "capture_worker"


def test_the_worker_is_chosen_by_an_environment_variable() -> None:
    base = {"CARTBACK_ADMIN_PASSWORD": "a" * 12, "CARTBACK_SECRET_KEY": "k" * 32}

    assert Settings.from_env(base).capture_worker == "process"
    assert Settings.from_env({**base, "CARTBACK_CAPTURE_WORKER": "Thread"}).capture_worker == (
        "thread"
    )
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**base, "CARTBACK_CAPTURE_WORKER": "fork"})
    assert raised.value.setting == "capture_worker"
