"""Fixtures for the webhook tests: a recording receiver and a deliverer on fake time.

The clock is a ``FakeClock`` started at the real time: deliveries are verified with
the ``standardwebhooks`` package, which checks ``webhook-timestamp`` against the real
clock (five minutes either way), while retry times stay exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cartback.webhooks import WebhookDeliverer
from tests.conftest import FakeClock
from tests.webhooks.support import RecordingServer


@pytest.fixture
def real_now_clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


@pytest.fixture
def deliverer(real_now_clock: FakeClock) -> Iterator[WebhookDeliverer]:
    with WebhookDeliverer(clock=real_now_clock, random=lambda: 0.5) as made:
        yield made
