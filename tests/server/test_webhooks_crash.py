"""The webhook worker SIGKILLed mid-batch: after a restart every event is delivered at
least once and none is lost.

The worker runs as in production, ``python -m server_example webhooks`` on the
receiver's database (SQLite, ``synchronous=FULL``), with a short lease so that what the
killed process held is due again within seconds. The loopback receiver answers the
first deliveries at once and holds the next ones, so the kill lands while deliveries are
in flight and queued.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from cartback import Cartback, SQLiteStore
from tests.sdk._support import outbox, submission
from tests.server.processes import webhooks_worker
from tests.waiting import wait_until
from tests.webhooks.support import SECRET, RecordingServer, Reply

pytestmark = pytest.mark.slow

CARTS = 150
ANSWERED_BEFORE_THE_KILL = 40
LEASE_SECONDS = "2"


@pytest.fixture
def hooks() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def test_every_event_is_delivered_after_the_worker_is_sigkilled(
    tmp_path: Path, hooks: RecordingServer, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "crash.sqlite3"
    log = tmp_path / "worker.log"
    with SQLiteStore(database) as store:
        cartback = Cartback(store)
        cartback.add_webhook_endpoint(
            {
                "id": "crm",
                "url": hooks.url("/crm"),
                "secrets": [SECRET],
                "event_types": ["cart.captured", "cart.updated"],
                "allowed_networks": ["127.0.0.0/8"],
                "max_in_flight": 8,
                "rate_per_second": 1000,
            }
        )
        for number in range(CARTS):
            cartback.capture(submission(email=f"k{number}@example.com"))
        wanted = {event.event_id for event in outbox(store) if event.type == "cart.captured"}
    assert len(wanted) == CARTS

    hold = hooks.hold()
    hooks.answer(
        "/crm",
        *[Reply() for _ in range(ANSWERED_BEFORE_THE_KILL)],
        *[Reply(hold=hold) for _ in range(8)],
    )
    env = {"CARTBACK_WEBHOOK_LEASE_SECONDS": LEASE_SECONDS}
    with webhooks_worker(database, log, env) as process:
        wait_until(
            lambda: len(hooks.to("/crm")) >= ANSWERED_BEFORE_THE_KILL + 8,
            what="deliveries to be in flight",
            timeout=30,
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
    seen_before = len(hooks.to("/crm"))
    hold.set()  # the held requests are answered to a process that is gone

    with SQLiteStore(database) as store:
        stats = store.consumer_stats("webhook:crm")
    pending_at_the_kill = stats.pending + max(0, stats.head - stats.cursor)

    with webhooks_worker(database, log, env) as process:

        def drained() -> bool:
            with SQLiteStore(database) as store:
                now = store.consumer_stats("webhook:crm")
            return now.pending == 0 and now.cursor == now.head

        wait_until(drained, what="every delivery to be settled", timeout=60)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode == 0, log.read_text(errors="replace")[-2000:]

    received = [request.headers["webhook-id"] for request in hooks.to("/crm")]
    for request in hooks.to("/crm"):
        Webhook(SECRET).verify(request.body, request.headers)
    missing = wanted - set(received)
    repeated = sum(count - 1 for count in Counter(received).values())
    with SQLiteStore(database) as store:
        dead = store.consumer_stats("webhook:crm").dead
    with capsys.disabled():
        print(
            f"\nwebhooks crash: {CARTS} events; {seen_before} requests before SIGKILL, "
            f"{pending_at_the_kill} deliveries unsettled at the kill; after restart "
            f"{len(received)} requests in all, {len(set(received))} distinct events, "
            f"{repeated} sent again, {len(missing)} missing, {dead} dead",
            flush=True,
        )
    assert not missing, f"{len(missing)} events never delivered"
    assert dead == 0
    assert pending_at_the_kill > 0  # the kill did land mid-batch
