"""Several receivers on one PostgreSQL, as behind a load balancer, under faults.

Real receiver processes (``python -m server_example --database postgresql://...``) and
a real PostgreSQL server:

- captures alternate between two receivers, some prospects on both at once; one receiver
  is SIGKILLed under load; afterwards every acknowledged capture is present once and no
  prospect has two open carts on one form; a dashboard logout on one receiver is
  honoured by the other;
- PostgreSQL is restarted under load: captures during the outage are answered 503 with
  ``Retry-After`` (never a 2xx for a capture that was not committed) and the receivers
  recover by themselves when it is back.

Every wait is a bounded poll on a condition.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cartback import CartQuery, PostgresStore
from tests.postgres import PostgresServer
from tests.server.processes import ADMIN_PASSWORD, receiver
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

THREADS = 8
KILL_AFTER = 300
"""Captures acknowledged by both receivers before one is killed."""
THEN = 150
"""Captures the survivor acknowledges afterwards."""
SHARED = 12
"""Prospects whose captures go to both receivers at once (they merge into one cart)."""
LOAD_TIMEOUT = 90.0


def body(email: str, session: str, event: str, city: str) -> bytes:
    return json.dumps(
        {
            "form_id": "scale",
            "seller": "us",
            "session_id": session,
            "event_id": event,
            "fields": {"email": email, "country": "US", "city": city},
        }
    ).encode()


class Load:
    """Threads posting captures round-robin over the live receivers."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = list(targets)
        self.acknowledged: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.refusals_without_retry_after = 0
        self.unexpected: Counter[str] = Counter()
        self.cut_off = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._events = itertools.count()
        self._threads = [
            threading.Thread(target=self._post, args=(n,), name=f"load-{n}") for n in range(THREADS)
        ]

    def drop(self, target: str) -> None:
        with self._lock:
            self.targets.remove(target)

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def _post(self, number: int) -> None:
        headers = {"content-type": "text/plain;charset=UTF-8"}
        clients: dict[str, httpx.Client] = {}
        try:
            for sequence in itertools.count():
                if self.stop.is_set():
                    return
                with self._lock:
                    targets = list(self.targets)
                target = targets[(number + sequence) % len(targets)]
                client = clients.setdefault(target, httpx.Client(base_url=target, timeout=30.0))
                event = next(self._events)
                if sequence % 4 == 0:  # a prospect several tabs and receivers share
                    email = f"shared{event % SHARED}@scale-test.example.com"
                else:
                    email = f"t{number}.{sequence}@scale-test.example.com"
                payload = body(email, f"s-{number}", f"e-{event}", f"c{sequence}")
                try:
                    response = client.post("/api/capture", content=payload, headers=headers)
                except httpx.TransportError:
                    with self._lock:
                        self.cut_off += 1
                    continue
                with self._lock:
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        if not email.startswith("shared"):
                            self.acknowledged.append(email)
                    elif response.status_code == 503:
                        if "retry-after" not in response.headers:
                            self.refusals_without_retry_after += 1
                    else:
                        self.unexpected[f"{response.status_code} {response.text[:80]}"] += 1
        finally:
            for client in clients.values():
                client.close()


def open_carts_per_key(store: PostgresStore) -> Counter[tuple[str | None, str]]:
    return Counter(
        (cart.contact.prospect_key, cart.context.form_id)
        for cart in store.iter_carts(CartQuery(status="open"))
    )


@pytest.fixture
def dsn(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.fresh_schema() as schema:
        yield postgres_server.dsn(schema=schema)


def log_in(client: httpx.Client) -> str:
    response = client.post(
        "/admin/login",
        data={"password": ADMIN_PASSWORD},
        headers={"sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 303
    return response.cookies["cartback_admin"]


def test_two_receivers_one_killed_under_load_lose_nothing_and_share_sessions(
    dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "receivers.log"
    with receiver(dsn, log) as (first, one), receiver(dsn, log) as (_, two):
        # A session issued by one receiver works on the other, and a logout on either
        # ends it on both.
        with httpx.Client(base_url=one) as on_one, httpx.Client(base_url=two) as on_two:
            cookie = log_in(on_one)
            on_two.cookies.set("cartback_admin", cookie, path="/admin")
            assert on_two.get("/admin").status_code == 200
            logout = on_two.post("/admin/logout", headers={"sec-fetch-site": "same-origin"})
            assert logout.status_code == 303
            on_one.cookies.set("cartback_admin", cookie, path="/admin")
            assert on_one.get("/admin").status_code == 303

        load = Load([one, two])
        load.start()
        try:
            wait_until(lambda: load.count() >= KILL_AFTER, what="captures on both receivers",
                       timeout=LOAD_TIMEOUT)  # fmt: skip
            load.drop(one)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
            before_kill = load.count()
            wait_until(lambda: load.count() >= before_kill + THEN, what="the survivor's captures",
                       timeout=LOAD_TIMEOUT)  # fmt: skip
        finally:
            load.join()
        assert first.returncode == -signal.SIGKILL

    with PostgresStore(dsn) as store:
        acknowledged = list(load.acknowledged)
        counts = Counter(
            cart.contact.email for cart in store.iter_carts(CartQuery(form_id="scale"))
        )
        missing = [email for email in acknowledged if counts[email] == 0]
        doubled = [email for email, n in counts.items() if n > 1]
        per_key = open_carts_per_key(store)
        shared = [key for key in per_key if (key[0] or "").startswith("shared")]

    with capsys.disabled():
        print(
            f"\nscale-out: {len(acknowledged)} unique captures acknowledged by two receivers "
            f"(one SIGKILLed after {before_kill}), {load.cut_off} cut off, statuses "
            f"{dict(load.statuses)}; {len(missing)} missing, {len(doubled)} doubled, "
            f"{len(shared)} shared prospects with {max(per_key.values())} open cart(s) at most",
            flush=True,
        )
    assert not load.unexpected, load.unexpected
    assert not missing, f"{len(missing)} acknowledged captures lost, e.g. {missing[:3]}"
    assert not doubled, f"prospects with two carts: {doubled[:3]}"
    assert max(per_key.values()) == 1, "a prospect has two open carts on one form"
    assert len(shared) == SHARED


def test_a_postgresql_restart_under_load_gets_503s_then_recovers_by_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = PostgresServer()  # its own server: this test stops it
    server.start()
    try:
        with server.fresh_schema() as schema:
            dsn = server.dsn(schema=schema)
            log = tmp_path / "receivers.log"
            with receiver(dsn, log) as (_, one), receiver(dsn, log) as (_, two):
                load = Load([one, two])
                load.start()
                try:
                    wait_until(lambda: load.count() >= 100, what="captures before the restart",
                               timeout=LOAD_TIMEOUT)  # fmt: skip
                    server.stop()
                    wait_until(lambda: load.statuses[503] >= THREADS, what="503s in the outage",
                               timeout=LOAD_TIMEOUT)  # fmt: skip
                    server.start()
                    back = load.count()
                    wait_until(lambda: load.count() >= back + 100, what="captures after it",
                               timeout=LOAD_TIMEOUT)  # fmt: skip
                finally:
                    load.join()
            with PostgresStore(dsn) as store:
                stored = {
                    cart.contact.email for cart in store.iter_carts(CartQuery(form_id="scale"))
                }
        acknowledged = list(load.acknowledged)
        missing = [email for email in acknowledged if email not in stored]
        with capsys.disabled():
            print(
                f"\npostgres restart: {len(acknowledged)} captures acknowledged, statuses "
                f"{dict(load.statuses)}, {load.cut_off} cut off; {len(missing)} missing",
                flush=True,
            )
        assert not load.unexpected, load.unexpected
        assert load.refusals_without_retry_after == 0
        assert not missing, f"{len(missing)} acknowledged captures lost, e.g. {missing[:3]}"
    finally:
        server.destroy()
