"""Durability under a crash: a real receiver process is SIGKILLed mid-load and restarted
on the same database file; every capture that was answered 2xx must be there.

The receiver runs as in production (``python -m server_example`` configured by
``CARTBACK_*`` variables, ``CARTBACK_SYNCHRONOUS=FULL``), 16 threads post unique
prospects until enough captures were acknowledged, then the process is killed without
a chance to flush anything. Every wait is a bounded poll on a condition.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from cartback import CartQuery, SQLiteStore
from tests.server.processes import receiver

pytestmark = pytest.mark.slow

THREADS = 16
KILL_AFTER = 400
"""Acknowledged captures before the kill."""
LOAD_TIMEOUT = 90.0


def capture(email: str, session: str) -> bytes:
    body = {
        "v": 1,
        "form_id": "crash",
        "seller": "us",
        "session_id": session,
        "product_id": "p1",
        "cart_value": "49.00",
        "currency": "USD",
        "fields": {"email": email, "first_name": "Ava", "country": "US", "newsletter": "on"},
    }
    return json.dumps(body).encode()


class Load:
    """Threads posting unique prospects; records each capture answered 2xx."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.acknowledged: list[str] = []
        self.unexpected: Counter[str] = Counter()
        self.cut_off = 0
        """Requests that were in flight (or started) when the process died."""
        self.enough = threading.Event()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._post, args=(number,), name=f"load-{number}")
            for number in range(THREADS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def _post(self, number: int) -> None:
        headers = {"content-type": "text/plain;charset=UTF-8"}
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            sequence = 0
            while not self.stop.is_set():
                sequence += 1
                email = f"t{number}.{sequence}@crash-test.example.com"
                try:
                    response = client.post(
                        "/api/capture", content=capture(email, f"s-{number}-{sequence}"),
                        headers=headers,
                    )  # fmt: skip
                except httpx.TransportError:
                    with self._lock:
                        self.cut_off += 1
                    return  # the receiver is gone
                with self._lock:
                    if response.status_code == 200 and response.json()["status"] == "stored":
                        self.acknowledged.append(email)
                        if len(self.acknowledged) >= KILL_AFTER:
                            self.enough.set()
                    else:
                        self.unexpected[f"{response.status_code} {response.text[:80]}"] += 1


def test_every_acknowledged_capture_survives_a_sigkill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "crash.sqlite3"
    log = tmp_path / "receiver.log"

    with receiver(database, log) as (process, base_url):
        load = Load(base_url)
        load.start()
        try:
            assert load.enough.wait(LOAD_TIMEOUT), (
                f"only {len(load.acknowledged)} captures acknowledged in {LOAD_TIMEOUT} s"
            )
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            load.join()
        assert process.returncode == -signal.SIGKILL
    acknowledged = list(load.acknowledged)
    assert not load.unexpected, load.unexpected

    # Restart on the same file: the receiver recovers the WAL and serves again.
    with receiver(database, log) as (process, base_url):
        after = httpx.post(
            f"{base_url}/api/capture",
            content=capture("after.restart@crash-test.example.com", "s-after"),
            headers={"content-type": "text/plain"},
            timeout=30.0,
        )
        assert after.status_code == 200
        assert after.json()["status"] == "stored"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal it captured.
        assert process.returncode in (0, -signal.SIGTERM), log.read_text(errors="replace")[-2000:]

    with SQLiteStore(database) as store:
        integrity = store.check_integrity()
        missing = [
            email
            for email in acknowledged
            if store.list_carts(CartQuery(email=email), limit=1).total != 1
        ]
        total = store.list_carts(CartQuery(), limit=1).total

    with capsys.disabled():
        print(
            f"\ncrash: {len(acknowledged)} captures acknowledged before SIGKILL, "
            f"{load.cut_off} requests cut off by it; after restart {total} carts stored, "
            f"{len(missing)} acknowledged missing; integrity_check: {integrity}",
            flush=True,
        )
    assert integrity == "ok"
    assert not missing, f"{len(missing)} acknowledged captures lost, e.g. {missing[:5]}"
    # Everything acknowledged, plus perhaps some in flight at the kill, plus one after.
    assert len(acknowledged) + 1 <= total <= len(acknowledged) + load.cut_off + 1
